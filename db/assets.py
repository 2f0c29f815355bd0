"""Content-addressed image store: PNG, metadata stripped, one row per SHA-256."""

from __future__ import annotations

import hashlib
import io
import os
import secrets
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stylestudy import config
from stylestudy.db.models import ASSET_ROLES, Asset
from stylestudy.errors import UserError
from stylestudy.fileio import write_atomic

MEDIA_TYPE = "image/png"


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as uint8 H×W×3 RGB (grey is stacked, alpha dropped)."""
    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise UserError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"cannot read image {path}: {exc}") from None


def encode_png(pixels: np.ndarray) -> bytes:
    """Re-encode uint8 RGB pixels as a PNG with no metadata chunks (no EXIF, ICC or text)."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected uint8 H×W×3, got {pixels.dtype} {pixels.shape}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels), "RGB").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def asset_path(asset: Asset, root: Path | None = None) -> Path:
    return (root or config.assets_dir()) / asset.path


def store_pixels(session: Session, pixels: np.ndarray, role: str,
                 source_name: str | None = None, root: Path | None = None) -> Asset:
    """Store pixels once (by the SHA-256 of their PNG) and return the asset row.

    The file is written (atomically) before the row is flushed, so a row never points to a
    missing file. A second writer of the same image gets the existing row.
    """
    if role not in ASSET_ROLES:
        raise ValueError(f"unknown asset role {role!r}")
    data = encode_png(pixels)
    sha = hashlib.sha256(data).hexdigest()
    existing = session.scalar(select(Asset).where(Asset.sha256 == sha))
    if existing is not None:
        return existing
    rel = f"{sha[:2]}/{sha[2:4]}/{sha}.png"
    target = (root or config.assets_dir()) / rel
    if not target.exists():
        write_atomic(target, data)
    asset = Asset(sha256=sha, token=secrets.token_urlsafe(16), media_type=MEDIA_TYPE,
                  width=int(pixels.shape[1]), height=int(pixels.shape[0]), path=rel, role=role,
                  source_name=source_name)
    try:
        with session.begin_nested():
            session.add(asset)
    except IntegrityError:  # stored concurrently by another process
        return session.scalars(select(Asset).where(Asset.sha256 == sha)).one()
    return asset


def store_file(session: Session, path: str | os.PathLike, role: str,
               root: Path | None = None) -> Asset:
    """Read an image file and store it as an asset; bad files raise ``UserError``."""
    return store_pixels(session, read_image(path), role, source_name=Path(path).name, root=root)


def load_pixels(asset: Asset, root: Path | None = None) -> np.ndarray:
    return read_image(asset_path(asset, root))
