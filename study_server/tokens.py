"""Tokens and keyed hashes: session tokens, hashed platform IDs, signed completion values."""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["new_token", "pid_hash", "sign", "token_hash"]


def new_token() -> str:
    """An unguessable 256-bit URL-safe token."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def pid_hash(secret: bytes, platform: str, raw_id: str) -> str:
    """Keyed hash (HMAC-SHA256) of a platform ID: the only form stored beside the data."""
    return hmac.new(secret, f"{platform}:{raw_id}".encode(), hashlib.sha256).hexdigest()


def sign(secret: bytes, value: str) -> str:
    """``value.signature``: a server-signed string (the MTurk completion token)."""
    mac = hmac.new(secret, f"sign:{value}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{value}.{mac}"
