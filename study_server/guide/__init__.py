"""The guidance editor: its views (in the admin app or alone on loopback) and its previews."""
