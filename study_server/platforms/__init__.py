"""Recruitment platforms: entry and completion per platform (Prolific, MTurk, link), the
MTurk and Prolific clients, bonuses and payment lists."""
