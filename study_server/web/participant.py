"""Participant pages (server-rendered HTML plus ``static/study.js``) and image delivery.

``/study/<slug>`` is the one entry point for every platform. An MTurk preview
(``assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE``) renders a read-only page and writes nothing.
Images are served only by their random token at ``/s/<token>``.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, render_template, request
from sqlalchemy import bindparam, select

from stylestudy.db.assets import asset_path
from stylestudy.db.models import Asset, DesignCell, Study
from stylestudy.study_server.study.entry import EntryError, parse_entry
from stylestudy.study_server.study.lookup import find_study
from stylestudy.study_server.study.participation import A_IMG, B_IMG, CELL_IMAGES, REF_IMG
from stylestudy.study_server.study.spec import question_rules, stored_spec
from stylestudy.study_server.study.studies import session_length
from stylestudy.study_server.web.dbsession import get_db
from stylestudy.study_server.web.security import participant_headers, script_nonce

__all__ = ["bp"]

bp = Blueprint("participant", __name__)

#: the headers of every image (docs/study-protocol.md, Security), beside Content-Type and -Length
IMAGE_HEADERS = {"Cache-Control": "private, max-age=3600", "Referrer-Policy": "no-referrer",
                 "X-Content-Type-Options": "nosniff",
                 "Content-Security-Policy": "default-src 'none'"}
MOBILE_UA = r"Mobi|Android|iPhone|iPad|iPod|Tablet|Kindle|Silk|Opera Mini"
_paths: dict[str, Path] = {}


@bp.after_request
def _headers(resp: Response) -> Response:
    if request.path.startswith("/s/"):
        if resp.status_code != 200:  # an unknown token: neither stored nor sniffed
            resp.headers.update(IMAGE_HEADERS)
            resp.headers["Cache-Control"] = "no-store"
        return resp
    return participant_headers(resp, script_nonce())


_CELLS = DesignCell.__table__
#: the first catch cell of a question (``:sid``, ``:q``): its worked example
_EXAMPLE = (select(REF_IMG.c.token, A_IMG.c.token, B_IMG.c.token).select_from(CELL_IMAGES)
            .where(_CELLS.c.study_id == bindparam("sid"), _CELLS.c.question == bindparam("q"),
                   _CELLS.c.kind == "catch").order_by(_CELLS.c.id).limit(1))
#: the widest option image of a study (``:sid``)
_WIDEST = (select(A_IMG.c.width, A_IMG.c.height).select_from(CELL_IMAGES)
           .where(_CELLS.c.study_id == bindparam("sid")).order_by(A_IMG.c.width.desc())
           .limit(1))


def _examples(study: Study) -> list[dict]:
    """One worked example per question, from catch cells (known answer)."""
    out = []
    conn = get_db().connection()
    rules = question_rules(study.spec)
    for q in study.spec["questions"]:
        row = conn.execute(_EXAMPLE, {"sid": study.id, "q": q}).first()
        if row is not None:
            shown = rules[q]["reference"] != "none"
            out.append({"question": q, "prompt": study.spec["prompts"][q],
                        "reference": f"/s/{row[0]}" if shown else None,
                        "left": f"/s/{row[1]}", "right": f"/s/{row[2]}"})
    return out


def _min_viewport(study: Study) -> tuple[int, int]:
    """Both options at native size side by side (docs/study-protocol.md, Participant flow), or
    the spec's ``min_viewport``."""
    if study.spec["min_viewport"]:
        w, h = study.spec["min_viewport"]
        return int(w), int(h)
    row = get_db().connection().execute(_WIDEST, {"sid": study.id}).first()
    return (2 * row[0] + 64, row[1] + 160) if row else (0, 0)


@bp.get("/study/<slug>")
def study_page(slug: str) -> tuple[str, int] | str:
    study = find_study(get_db(), slug)
    if study is None:
        return render_template("message.html", title="Study not found",
                               message="There is no study at this address."), 404
    spec = study.spec
    try:
        entry = parse_entry(spec, request.args.to_dict())
        entry_error = None
    except EntryError as exc:
        entry, entry_error = None, str(exc)
    resume = bool(request.args.get("token"))
    if entry_error and not resume:
        return render_template("message.html", title=study.title, message=entry_error), 400
    preview = bool(entry and entry.preview) and not resume
    min_w, min_h = _min_viewport(study)
    comparisons, practice = session_length(get_db(), study)
    return render_template(
        "study.html", study=study, spec=spec, preview=preview, comparisons=comparisons,
        practice_trials=practice,
        open=study.state == "open", examples=_examples(study), min_w=min_w, min_h=min_h,
        mobile_re=MOBILE_UA if spec["exclude_mobile"] else "", nonce=script_nonce(),
        params=request.args.to_dict(), practice=spec["practice_trials"] > 0,
        warn_leave=stored_spec(spec)["warn_before_leave"],
        unreferenced=[q for q, r in question_rules(spec).items() if r["reference"] == "none"])


@bp.get("/s/<token>")
def image(token: str) -> Response:
    """An asset by its random token, with the same headers for every image: nothing that
    names the file or dates it (no Last-Modified, ETag or Expires), so no header tells
    one method's outputs from another's."""
    if len(token) > 64:
        abort(404)
    path = _paths.get(token)
    if path is None:
        asset = get_db().scalar(select(Asset).where(Asset.token == token))
        if asset is None:
            abort(404)
        path = asset_path(asset)
        if len(_paths) > 100_000:
            _paths.clear()
        _paths[token] = path
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        current_app.logger.error("asset file missing for token %s", token)
        abort(404)
    return Response(data, mimetype="image/png", headers=IMAGE_HEADERS)
