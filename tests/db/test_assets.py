"""The asset store keeps each image once, re-encoded as PNG with every metadata chunk gone."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from sqlalchemy import func, select

from stylestudy.db import get_engine, session_scope
from stylestudy.db.assets import asset_path, load_pixels, store_file, store_pixels
from stylestudy.db.models import Asset
from stylestudy.errors import UserError


def _png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, kinds = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0] == \
            zlib.crc32(kind + body)
        kinds.append(kind)
        pos += 12 + length
    return kinds


def test_metadata_is_stripped(home, tmp_path):
    src = tmp_path / "leaky.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "method-name-leak")
    info.add_text("Comment", "made by strotss")
    pixels = np.random.default_rng(1).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(src, pnginfo=info, icc_profile=b"\0" * 128, dpi=(300, 300))
    raw = src.read_bytes()
    assert b"method-name-leak" in raw
    with session_scope(write=True) as s:
        asset = store_file(s, src, "output")
        path = asset_path(asset)
    data = path.read_bytes()
    assert set(_png_chunks(data)) == {b"IHDR", b"IDAT", b"IEND"}
    assert b"leak" not in data and b"strotss" not in data
    assert path.name == f"{asset.sha256}.png" and "leaky" not in str(path)
    np.testing.assert_array_equal(load_pixels(asset), pixels)


def test_jpeg_exif_stripped_and_stored_once(home, tmp_path):
    src = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0131] = "camera-software-leak"  # Software tag
    Image.new("RGB", (20, 10), (200, 30, 40)).save(src, exif=exif)
    assert b"camera-software-leak" in src.read_bytes()
    with session_scope(write=True) as s:
        a = store_file(s, src, "content")
        b = store_file(s, src, "content")
        assert a.id == b.id
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Asset)) == 1
    assert b"leak" not in asset_path(a).read_bytes()
    assert (a.width, a.height, a.media_type) == (20, 10, "image/png")


def test_tokens_are_random_and_unguessable(db_url):
    engine = get_engine(db_url)
    rng = np.random.default_rng(2)
    with session_scope(engine, write=True) as s:
        assets = [store_pixels(s, rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), "output")
                  for _ in range(20)]
    tokens = {a.token for a in assets}
    assert len(tokens) == 20
    assert all(len(t) >= 22 for t in tokens)  # ≥ 128 bits, URL-safe base64
    assert not any(a.sha256[:8] in a.token for a in assets)


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\nbroken"])
def test_unreadable_image_is_a_user_error(home, tmp_path, content):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    with pytest.raises(UserError, match="cannot read image"), session_scope(write=True) as s:
        store_file(s, bad, "content")


def test_grey_and_alpha_become_rgb(home, tmp_path):
    grey, rgba = tmp_path / "g.png", tmp_path / "a.png"
    Image.new("L", (5, 5), 77).save(grey)
    Image.new("RGBA", (5, 5), (1, 2, 3, 4)).save(rgba)
    with session_scope(write=True) as s:
        g, a = store_file(s, grey, "content"), store_file(s, rgba, "style")
    assert load_pixels(g).shape == (5, 5, 3) and (load_pixels(g) == 77).all()
    assert load_pixels(a)[0, 0].tolist() == [1, 2, 3]
