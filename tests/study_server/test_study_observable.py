"""What a participant can observe carries nothing that depends on the method or on when an
image was generated: image headers and PNG bytes alike, and every participant-facing
response is uncacheable (``no-store``) and not sniffed (``nosniff``)."""

from __future__ import annotations

import os
import struct
import zlib

import pytest
from sqlalchemy import select
from study_helpers import spec

from stylestudy.db.assets import asset_path
from stylestudy.db.engine import session_scope
from stylestudy.db.models import Asset, DesignCell, Method
from stylestudy.study_server.study.studies import create_study

#: headers that may differ between two images: the body's length
VARIABLE = {"Content-Length"}


@pytest.fixture
def client(client, engine):
    """The conftest's client, with a study."""
    create_study(spec(), engine)
    return client


def study_images(engine) -> dict[str, str]:
    """Every image of the study (references and both options of every cell): token →
    the method that made it (or the image's role)."""
    out = {}
    with session_scope(engine) as s:
        for cell in s.scalars(select(DesignCell)):
            for asset_id, method_id in ((cell.reference_asset_id, None),
                                        (cell.a_asset_id, cell.method_a_id),
                                        (cell.b_asset_id, cell.method_b_id)):
                asset = s.get(Asset, asset_id)
                label = s.get(Method, method_id).label if method_id else asset.role
                out[asset.token] = label
    return out


def age_files_by_method(engine) -> None:
    """Give each method's output files its own modification time, as generation does (one
    method after another)."""
    with session_scope(engine) as s:
        cells = s.scalars(select(DesignCell)).all()
        for cell in cells:
            for asset_id, method_id in ((cell.a_asset_id, cell.method_a_id),
                                        (cell.b_asset_id, cell.method_b_id)):
                t = 1_700_000_000 + 1000 * (method_id or 0)
                os.utime(asset_path(s.get(Asset, asset_id)), (t, t))


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        out.append((kind, body))
        pos += 12 + length
    return out


def test_every_image_has_the_same_headers(client, engine):
    """All headers bar Content-Length are equal across every image of a study, whatever
    method made it and whenever its file was written; nothing names or dates the file."""
    age_files_by_method(engine)
    images = study_images(engine)
    assert len(set(images.values())) >= 4  # references and three methods
    seen: dict[tuple, list[str]] = {}
    for token, label in images.items():
        r = client.get(f"/s/{token}")
        assert r.status_code == 200
        headers = tuple(sorted((k, v) for k, v in r.headers.items() if k not in VARIABLE))
        seen.setdefault(headers, []).append(label)
    assert len(seen) == 1, list(seen)
    headers = dict(next(iter(seen)))
    for name in ("Last-Modified", "ETag", "Expires", "Content-Disposition", "Accept-Ranges"):
        assert name not in headers
    assert headers["Cache-Control"] == "private, max-age=3600"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    # a conditional request is answered in full, the same way (nothing to compare against)
    token = next(iter(images))
    r = client.get(f"/s/{token}", headers={"If-Modified-Since": "Thu, 01 Jan 2026 00:00:00 GMT",
                                           "If-None-Match": "*", "Range": "bytes=0-10"})
    assert r.status_code == 200 and "Content-Range" not in r.headers
    # an unknown or over-long token: a 404 that is neither stored nor sniffed
    for bad in ("x" * 40, "x" * 65):
        r = client.get(f"/s/{bad}")
        assert r.status_code == 404
        assert r.headers.get("X-Content-Type-Options") == "nosniff"
        assert r.headers.get("Cache-Control") == "no-store"
        assert r.headers.get("Referrer-Policy") == "no-referrer"
        assert "Last-Modified" not in r.headers and "ETag" not in r.headers


def test_png_bytes_have_one_structure(client, engine):
    """Every image is the same kind of PNG: chunks IHDR, IDAT…, IEND only (no text, time or
    colour chunks), 8-bit RGB, one zlib level, IDAT split at one block size. Only the
    dimensions and the compressed pixels differ."""
    images = study_images(engine)
    layouts, zheads, blocks = set(), set(), set()
    for token in images:
        chunks = png_chunks(client.get(f"/s/{token}").data)
        kinds = [k for k, _ in chunks]
        assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
        assert set(kinds[1:-1]) == {b"IDAT"}
        ihdr = chunks[0][1]
        layouts.add(ihdr[8:])  # bit depth, colour type, compression, filter, interlace
        zheads.add(chunks[1][1][:2])  # zlib CMF/FLG: method, window and level
        blocks.update(len(body) for _, body in chunks[1:-2])  # every IDAT but the last
    assert layouts == {bytes([8, 2, 0, 0, 0])}
    assert len(zheads) == 1
    assert len(blocks) <= 1


def test_participant_responses_are_not_stored_or_sniffed(client):
    """The study page, every API answer (tokens and completion codes travel in them),
    errors included, and the OpenAPI document carry ``no-store`` and ``nosniff``."""
    r = client.post("/api/studies/s1/sessions", json={"consent": True})
    token = r.json["token"]
    auth = {"Authorization": f"Bearer {token}"}
    answers = [r, client.get("/study/s1"), client.get("/study/nope"),
               client.get("/api/session", headers=auth),
               client.get("/api/session", headers={"Authorization": "Bearer nope"}),
               client.post("/api/session/complete", json={}, headers=auth),
               client.post("/api/responses", data="{", headers=auth),
               client.post("/api/studies/nope/sessions", json={"consent": True}),
               client.get("/api/openapi.json"), client.get("/api/nowhere")]
    for resp in answers:
        assert resp.headers.get("Cache-Control") == "no-store", (resp.request.path,
                                                                  resp.status_code)
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", resp.request.path
