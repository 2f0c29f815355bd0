"""The guide editor: paint STROTSS region guides, place point pairs, preview, save.

One blueprint served two ways: ``stylestudy guide MANIFEST`` runs :func:`create_local_app`
on 127.0.0.1 (a one-time token in the URL opens a cookie session), and the study server
mounts it at ``/admin/guide/`` for signed-in admins, over the manifests under
``STYLESTUDY_GUIDE_ROOT``. Every POST is Origin- and CSRF-checked.

The browser keeps each region guide as a label map (one byte per pixel, 0 = unpainted) and
sends it gzip-compressed; the server turns labels into the exact colours STROTSS reads, so
no browser resampling or colour management can touch a guide.
"""

from __future__ import annotations

import gzip
import hmac
import json
import os
import secrets
import threading
import zlib
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from werkzeug.exceptions import BadRequest, HTTPException

from stylestudy.db.assets import asset_path, encode_png, read_image
from stylestudy.errors import UserError
from stylestudy.generator import manifest as manifest_mod
from stylestudy.generator.guide_manifest import (
    MAX_COLOURS,
    PALETTE,
    UNPAINTED,
    find_pair,
    guide_image,
    labels_from_guide,
    pair_guidance,
    save_guidance,
)
from stylestudy.generator.manifest import GUIDE_KINDS, Manifest
from stylestudy.study_server.guide import preview as guide_preview
from stylestudy.study_server.web.security import (
    admin_headers,
    check_origin,
    csrf_token,
    verify_csrf,
)

__all__ = ["bp", "create_local_app", "manifest_root"]

bp = Blueprint("guide", __name__, url_prefix="/admin/guide")

#: largest upload (two gzip'd label maps; raw maps where the browser cannot compress)
MAX_UPLOAD = 64 * 1024 * 1024
#: most point pairs one save takes
MAX_POINTS = 500
#: manifests listed in the admin area (files ending .yaml/.yml under the root)
MAX_LISTED = 200


def manifest_root() -> Path | None:
    """The folder whose manifests the admin area edits (``STYLESTUDY_GUIDE_ROOT``)."""
    root = current_app.config.get("GUIDE_ROOT") or os.environ.get("STYLESTUDY_GUIDE_ROOT")
    return Path(root).resolve() if root else None


def _local() -> bool:
    return bool(current_app.config.get("GUIDE_LOCAL"))


class _Token:
    """The local server's one-time token: the first valid use opens a session."""

    def __init__(self, token: str) -> None:
        self.token, self.used, self.lock = token, False, threading.Lock()

    def redeem(self, given: str) -> bool:
        with self.lock:
            if self.used or not hmac.compare_digest(given.encode(), self.token.encode()):
                return False
            self.used = True
            return True


def _admin_signed_in() -> bool:
    """The admin area's own check: ``admin.current_admin`` (a login the server still holds)
    where the admin module has it, else the signed-in cookie."""
    from stylestudy.study_server.web import admin

    check = getattr(admin, "current_admin", None)
    return bool(check()) if check is not None else bool(session.get("admin"))


@bp.before_request
def _guard():
    if _local():
        if request.host not in current_app.config["GUIDE_HOSTS"]:
            abort(400, description="unexpected Host header")
        given = request.args.get("token")
        if given is not None and request.method == "GET":
            if not current_app.extensions["guide_token"].redeem(given):
                abort(403, description="this link was used already or is wrong: start "
                                       "`stylestudy guide` again for a new one")
            session.clear()
            session["guide"] = True
            csrf_token()
            return redirect(url_for("guide.page"))
        if not session.get("guide"):
            abort(403, description="open the link that `stylestudy guide` printed")
    elif not _admin_signed_in():
        if request.method == "GET" and request.endpoint == "guide.page":
            return redirect(url_for("admin.login", next=request.full_path))
        abort(403, description="sign in as an admin first")
    if request.method == "POST":
        request.max_content_length = MAX_UPLOAD
        if not check_origin(request):
            abort(403, description="cross-origin request refused")
        verify_csrf()
    return None


@bp.after_request
def _headers(resp: Response) -> Response:
    return admin_headers(resp)


@bp.errorhandler(UserError)
def _user_error(exc: UserError):
    return jsonify({"error": "bad_request", "message": exc.message}), 400


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    if request.endpoint != "guide.page":
        return jsonify({"error": (exc.name or "error").lower().replace(" ", "_"),
                        "message": exc.description}), exc.code or 500
    return exc


# ----------------------------------------------------------------------------- requests


def _manifest_path() -> Path:
    """The manifest this request edits: the local server's own, or ``m`` under the root."""
    if _local():
        return Path(current_app.config["GUIDE_MANIFEST"])
    root = manifest_root()
    rel = request.args.get("m", "")
    if root is None:
        raise UserError("set STYLESTUDY_GUIDE_ROOT to the folder of your manifests")
    path = (root / rel).resolve()
    if not rel or path.suffix not in (".yaml", ".yml") or not path.is_relative_to(root) \
            or not path.is_file():
        raise UserError(f"no manifest {rel!r} under the guide root")
    return path


def _pair(m: Manifest) -> tuple[Path, Path]:
    c = request.args.get("c") or current_app.config.get("GUIDE_CONTENT")
    s = request.args.get("s") or current_app.config.get("GUIDE_STYLE")
    return m.pairs[0] if c is None and s is None else find_pair(m, c, s)


def _context() -> tuple[Manifest, tuple[Path, Path]]:
    m = manifest_mod.load(_manifest_path())
    return m, _pair(m)


def _query(m: Manifest, pair: tuple[Path, Path]) -> dict[str, str]:
    q = {"c": pair[0].name, "s": pair[1].name}
    if not _local():
        q["m"] = str(m.source.relative_to(manifest_root()))
    return q


def _labels_and_colours(m: Manifest, pair: tuple[Path, Path]
                        ) -> tuple[dict[str, np.ndarray], list[tuple[int, int, int]], list[str]]:
    """Existing guides as label maps over one colour table (the palette first)."""
    colours = [c for _, c in PALETTE]
    files = m.guides.get(pair, {})
    labels, notes = {}, []
    for kind, image in zip(GUIDE_KINDS, pair, strict=True):
        shape = _shape(image)
        if kind in files:
            labels[kind], resized = labels_from_guide(files[kind], shape, colours)
            if resized:
                notes.append(f"{files[kind].name} was resampled to {image.name}'s "
                             f"{shape[1]}×{shape[0]} pixels")
        else:
            labels[kind] = np.zeros(shape, np.uint8)
    return labels, colours, notes


def _shape(path: Path) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.height, im.width
    except OSError as exc:
        raise UserError(f"cannot read image {path.name}: {exc}") from None


def _form_guidance(pair: tuple[Path, Path]
                   ) -> tuple[dict[str, np.ndarray], list[tuple[int, int, int]],
                              list[list[float]], str | None]:
    """(labels, colours, points, digest) from a save or preview request."""
    try:
        meta = json.loads(request.form.get("meta", ""))
    except ValueError:
        raise BadRequest("'meta' must be JSON") from None
    if not isinstance(meta, dict):
        raise BadRequest("'meta' must be a JSON object")
    colours = meta.get("colours")
    if not isinstance(colours, list) or len(colours) > MAX_COLOURS or not all(
            isinstance(c, list) and len(c) == 3 and all(
                isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in c)
            for c in colours):
        raise BadRequest(f"'colours' must be at most {MAX_COLOURS} [r, g, b] byte triples")
    table = [tuple(c) for c in colours]
    if len(set(table)) != len(table) or UNPAINTED in table:
        raise BadRequest("'colours' must be distinct and not the unpainted black")
    points = meta.get("points", [])
    if not isinstance(points, list) or len(points) > MAX_POINTS or not all(
            isinstance(p, list) and len(p) == 4 and all(
                isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)
                for v in p) for p in points):
        raise BadRequest(f"'points' must be at most {MAX_POINTS} [r, c, r, c] rows")
    digest = meta.get("digest")
    if digest is not None and not isinstance(digest, str):
        raise BadRequest("'digest' must be a string")
    labels = {}
    for kind, image in zip(GUIDE_KINDS, pair, strict=True):
        h, w = _shape(image)
        part = request.files.get(kind)
        if part is None:
            raise BadRequest(f"the {kind} label map is missing")
        labels[kind] = _decode_labels(part.read(MAX_UPLOAD + 1), h, w,
                                      meta.get("encoding") == "gzip", kind)
        if int(labels[kind].max(initial=0)) > len(table):
            raise BadRequest(f"the {kind} label map uses a colour it does not define")
    return labels, table, points, digest


def _decode_labels(data: bytes, h: int, w: int, gzipped: bool, kind: str) -> np.ndarray:
    if gzipped:
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            data = inflate.decompress(data, h * w + 1)
        except zlib.error:
            raise BadRequest(f"the {kind} label map is not gzip data") from None
    if len(data) != h * w:
        raise BadRequest(f"the {kind} label map must hold {w}×{h} labels")
    return np.frombuffer(data, np.uint8).reshape(h, w)


# ----------------------------------------------------------------------------- views


@bp.get("/")
def page():
    if not _local() and "m" not in request.args:
        return render_template("guide_index.html", root=manifest_root(),
                               manifests=_listed_manifests(), csrf_token=csrf_token)
    try:
        m, pair = _context()
    except UserError as exc:
        return render_template("guide_index.html", root=manifest_root(), error=exc.message,
                               manifests=[] if _local() else _listed_manifests(),
                               csrf_token=csrf_token), 400
    return render_template("guide.html", manifest=m, pair=pair, query=_query(m, pair),
                           csrf=csrf_token(), local=_local())


def _listed_manifests() -> list[tuple[str, str]]:
    root = manifest_root()
    if root is None:
        return []
    found = []
    for path in sorted(root.rglob("*.y*ml")):
        rel = path.relative_to(root)
        if path.suffix in (".yaml", ".yml") and not any(p.startswith(".") for p in rel.parts):
            found.append((str(rel), url_for("guide.page", m=str(rel))))
            if len(found) >= MAX_LISTED:
                break
    return found


@bp.get("/state")
def state():
    from stylestudy.generator.strotss.guidance import REGION_MIN_PIXELS  # imports torch: only here

    m, pair = _context()
    g = pair_guidance(m, pair[0].name, pair[1].name)
    labels, colours, notes = _labels_and_colours(m, pair)
    names = dict((c, n) for n, c in PALETTE)
    q = _query(m, pair)
    return jsonify({
        "manifest": m.name, "file": m.source.name,
        "pairs": [{"content": c.name, "style": s.name, "url": url_for(
            "guide.page", **{**q, "c": c.name, "s": s.name})} for c, s in m.pairs],
        "pair": {"content": pair[0].name, "style": pair[1].name},
        "images": {side: {"name": path.name, "width": labels[kind].shape[1],
                          "height": labels[kind].shape[0],
                          "url": url_for("guide.image", side=side, **q),
                          "labels": url_for("guide.labels", kind=kind, **q)}
                   for side, kind, path in zip(("content", "style"), GUIDE_KINDS, pair,
                                               strict=True)},
        "colours": [{"name": names.get(c, "#{:02x}{:02x}{:02x}".format(*c)), "rgb": list(c)}
                    for c in colours],
        "unpainted": list(UNPAINTED), "region_min_pixels": REGION_MIN_PIXELS,
        "points": g.points, "digest": g.digest, "notes": notes,
        "files": _files(m, g.files),
        "save_url": url_for("guide.save", **q), "preview_url": url_for("guide.preview", **q),
        "preview": {"size": current_app.config.get("GUIDE_PREVIEW_SIZE",
                                                   guide_preview.PREVIEW_SIZE),
                    "iterations": current_app.config.get("GUIDE_PREVIEW_ITERATIONS")},
    })


def _files(m: Manifest, files: dict[str, Path]) -> dict[str, str]:
    """Guide files as the manifest's folder sees them."""
    folder = m.source.parent
    return {k: str(p.relative_to(folder)) if p.is_relative_to(folder) else str(p)
            for k, p in files.items()}


@bp.get("/image/<side>")
def image(side: str):
    if side not in ("content", "style"):
        abort(404)
    _, pair = _context()
    data = encode_png(read_image(pair[0] if side == "content" else pair[1]))
    return Response(data, mimetype="image/png")


@bp.get("/labels/<kind>")
def labels(kind: str):
    if kind not in GUIDE_KINDS:
        abort(404)
    m, pair = _context()
    maps, _, _ = _labels_and_colours(m, pair)
    resp = Response(gzip.compress(maps[kind].tobytes(), 6),
                    mimetype="application/octet-stream")
    resp.headers["Content-Encoding"] = "gzip"
    return resp


@bp.post("/save")
def save():
    m, pair = _context()
    labels_, colours, points, digest = _form_guidance(pair)
    saved = save_guidance(m.source, pair[0].name, pair[1].name, labels_, colours, points,
                          digest)
    g = pair_guidance(saved, pair[0].name, pair[1].name)
    return jsonify({"ok": True, "digest": g.digest, "points": g.points,
                    "files": _files(m, g.files),
                    "message": f"saved to {m.source.name}" + (
                        f" and {', '.join(p.name for p in g.files.values())}"
                        if g.files else "")})


@bp.post("/preview")
def preview():
    m, pair = _context()
    labels_, colours, points, _ = _form_guidance(pair)
    guides = None
    if any(int(v.max(initial=0)) for v in labels_.values()):
        guides = {kind: guide_image(labels_[kind], colours) for kind in GUIDE_KINDS}
        from stylestudy.generator.strotss.guidance import extract_regions

        extract_regions(guides["content_regions"], guides["style_regions"])
    gen_id = guide_preview.start(
        m, pair, guides, points,
        size=current_app.config.get("GUIDE_PREVIEW_SIZE", guide_preview.PREVIEW_SIZE),
        iterations=current_app.config.get("GUIDE_PREVIEW_ITERATIONS"))
    return jsonify({"id": gen_id, "status_url": url_for("guide.preview_status", gen_id=gen_id,
                                                        **_query(m, pair))})


@bp.get("/preview/<int:gen_id>")
def preview_status(gen_id: int):
    out = guide_preview.status(gen_id)
    if out["state"] == "done":
        out["image"] = url_for("guide.preview_image", gen_id=gen_id)
    return jsonify(out)


@bp.get("/preview/<int:gen_id>.png")
def preview_image(gen_id: int):
    return send_file(asset_path(guide_preview.output_asset(gen_id)), mimetype="image/png")


# ----------------------------------------------------------------------------- local app


def create_local_app(manifest: Path, content: str | None = None, style: str | None = None,
                     token: str | None = None, preview_size: int | None = None,
                     preview_iterations: int | None = None) -> Flask:
    """The editor alone for one manifest, as ``stylestudy guide`` serves it on loopback."""
    m = manifest_mod.load(manifest)
    if content is not None or style is not None:
        find_pair(m, content, style)  # names a pair of the manifest, or a UserError
    app = Flask(__name__, root_path=str(Path(__file__).parents[1]))  # templates/, static/
    app.config.update(
        GUIDE_LOCAL=True, GUIDE_MANIFEST=str(m.source), GUIDE_CONTENT=content,
        GUIDE_STYLE=style, SECRET_KEY=secrets.token_bytes(32),
        SESSION_COOKIE_NAME=f"stylestudy_guide_{secrets.token_hex(4)}",
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=False,  # plain http on loopback
        GUIDE_HOSTS=set(), GUIDE_PREVIEW_SIZE=preview_size or guide_preview.PREVIEW_SIZE,
        GUIDE_PREVIEW_ITERATIONS=preview_iterations)
    app.extensions["guide_token"] = _Token(token or secrets.token_urlsafe(32))
    app.register_blueprint(bp, url_prefix="")
    return app


def local_url(app: Flask, port: int) -> str:
    """Allow the loopback host names on ``port``; the URL with the one-time token."""
    app.config["GUIDE_HOSTS"] = {f"127.0.0.1:{port}", f"localhost:{port}"}
    return f"http://127.0.0.1:{port}/?" + urlencode(
        {"token": app.extensions["guide_token"].token})
