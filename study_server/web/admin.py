"""Admin pages under ``/admin/``: login, dashboard, study state, exports, submissions and
the restricted payments CSV.

Cookie session (Secure, HttpOnly, SameSite=Lax), a CSRF token on every state-changing
request, a rate-limited login, salted password hashes (werkzeug scrypt), and
``frame-ancestors 'none'`` plus ``X-Frame-Options: DENY`` (docs/study-protocol.md, Security).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import statistics
from collections import Counter

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import delete, func, select
from sqlalchemy.orm import aliased
from werkzeug.security import check_password_hash, generate_password_hash

from stylestudy.analysis.settings import Settings
from stylestudy.db.engine import get_engine, session_scope
from stylestudy.db.models import (
    REVIEW_DECISIONS,
    AdminLogin,
    AdminUser,
    Asset,
    Bonus,
    DesignCell,
    Method,
    Review,
    SessionEvent,
    Study,
    StudySession,
    utcnow,
)
from stylestudy.db.queries import design_rounds
from stylestudy.db.states import SESSIONS_FINISHED
from stylestudy.errors import UserError
from stylestudy.study_server.platforms import payments
from stylestudy.study_server.platforms.bonuses import money
from stylestudy.study_server.study import exports
from stylestudy.study_server.study.entry import completion_code
from stylestudy.study_server.study.lookup import study_or_404
from stylestudy.study_server.study.participation import counted_participants
from stylestudy.study_server.study.qc import session_qc
from stylestudy.study_server.study.scheduling import release_study
from stylestudy.study_server.study.spec import stored_spec
from stylestudy.study_server.study.studies import (
    STUDY_TRANSITIONS,
    set_max_participants,
    set_study_state,
)
from stylestudy.study_server.tokens import new_token, token_hash
from stylestudy.study_server.web.dbsession import commit, engine, get_db
from stylestudy.study_server.web.limits import limiter
from stylestudy.study_server.web.security import admin_headers, csrf_token, verify_csrf

__all__ = ["bp", "current_admin", "set_admin_password"]

bp = Blueprint("admin", __name__, url_prefix="/admin")


#: how long an admin login lasts without logging out
LOGIN_HOURS = 12
#: the hash a login checks when no such user exists, so that it does the same work as for
#: a real user (werkzeug's default scrypt parameters; a test keeps them in step)
DECOY_HASH = ("scrypt:32768:8:1$HnhZ0IWP6HBvSrKu$c08eda79d812f06d661a7458faf70bc51ddace6d7"
              "60e74525d28fa17db2ecbcc627ea1eb3055af8817e3f327ec0a267b25e84060df315e5e850dec"
              "9b9184607e")


def set_admin_password(username: str, password: str) -> None:
    """Create or reset an admin user; only a salted hash is stored. A new password ends
    the user's logins."""
    if len(password) < 10:
        raise UserError("admin passwords need at least 10 characters")
    with session_scope(get_engine(), write=True) as s:
        user = s.scalar(select(AdminUser).where(AdminUser.username == username))
        if user is None:
            user = AdminUser(username=username)
            s.add(user)
        user.password_hash = generate_password_hash(password)
        s.flush()
        s.execute(delete(AdminLogin).where(AdminLogin.admin_user_id == user.id))


@bp.after_request
def _headers(resp: Response) -> Response:
    return admin_headers(resp)


@bp.before_request
def _csrf() -> None:
    if request.method == "POST":
        verify_csrf()


@bp.app_context_processor
def _inject() -> dict:
    return {"csrf_token": csrf_token} if request.blueprint == "admin" else {}


def current_admin() -> str | None:
    """The admin user name of this cookie's login, while the server still holds it (the
    check for every admin view: a cookie alone proves nothing after logout)."""
    token = session.get("login")
    if not isinstance(token, str):
        return None
    since = utcnow() - dt.timedelta(hours=LOGIN_HOURS)
    return get_db().scalar(select(AdminUser.username).join(
        AdminLogin, AdminLogin.admin_user_id == AdminUser.id).where(
        AdminLogin.token_hash == token_hash(token), AdminLogin.created_at > since))


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        g.admin = current_admin()
        if g.admin is None:
            session.clear()
            return redirect(url_for("admin.login", next=request.path))
        return view(*args, **kwargs)
    return wrapped


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT"], methods=["POST"])
def login():
    error = None
    if request.method == "POST":
        name = request.form.get("username", "")
        user = get_db().scalar(select(AdminUser).where(AdminUser.username == name))
        # the same hashing work whether or not the user exists (no timing oracle)
        ok = check_password_hash(user.password_hash if user else DECOY_HASH,
                                 request.form.get("password", ""))
        if user is not None and ok:
            token, user_id, username = new_token(), user.id, user.username
            get_db(write=True).add(AdminLogin(token_hash=token_hash(token),
                                              admin_user_id=user_id))
            commit()
            session.clear()
            session["login"] = token
            session["admin"] = username  # a hint only: current_admin() decides
            csrf_token()
            nxt = request.args.get("next", "")
            return redirect(nxt if nxt.startswith("/admin/") else url_for("admin.dashboard"))
        error = "wrong username or password"
    return render_template("admin/login.html", error=error), 401 if error else 200


@bp.post("/logout")
def logout():
    """End this login on the server: no copy of its cookie opens the admin again."""
    token = session.get("login")
    if isinstance(token, str):
        get_db(write=True).execute(delete(AdminLogin).where(
            AdminLogin.token_hash == token_hash(token)))
        commit()
    session.clear()
    return redirect(url_for("admin.login"))


@bp.get("/")
@login_required
def dashboard():
    s = get_db()
    rows = s.execute(select(Study, func.sum(DesignCell.served), func.sum(DesignCell.target))
                     .join(DesignCell, DesignCell.study_id == Study.id)
                     .where(DesignCell.kind == "real").group_by(Study.id)
                     .order_by(Study.created_at.desc())).all()
    return render_template("admin/dashboard.html", rows=rows)


@bp.get("/study/<slug>")
@login_required
def study_view(slug: str):
    s = get_db()
    study = study_or_404(get_db(), slug)
    ma, mb, ref = aliased(Method), aliased(Method), aliased(Asset)
    cells = s.execute(select(DesignCell, ma.label, mb.label, ref.source_name)
                      .join(ref, ref.id == DesignCell.reference_asset_id)
                      .outerjoin(ma, ma.id == DesignCell.method_a_id)
                      .outerjoin(mb, mb.id == DesignCell.method_b_id)
                      .where(DesignCell.study_id == study.id)
                      .order_by(DesignCell.kind.desc(), DesignCell.question, DesignCell.id)).all()
    states = Counter(dict(s.execute(select(StudySession.state, func.count())
                                    .where(StudySession.study_id == study.id)
                                    .group_by(StudySession.state)).all()))
    rows = exports.judgments(s, slug)
    qc = session_qc(rows, Settings.from_spec(study.spec).qc)
    catch_n = sum(q.catch_n for q in qc.values())
    catch_ok = sum(q.catch_correct for q in qc.values())
    rts = [r["rt_ms"] for r in rows if r["rt_ms"] is not None and not r["is_practice"]]
    sessions = s.scalars(select(StudySession).where(StudySession.study_id == study.id)
                         .order_by(StudySession.id)).all()
    reviews = dict(s.execute(select(Review.session_id, Review.decision).join(
        StudySession, StudySession.id == Review.session_id).where(
        StudySession.study_id == study.id)).all())
    bonus: dict[int, list[str]] = {}
    for sid, reason, cents, state in s.execute(
            select(Bonus.session_id, Bonus.reason, Bonus.amount_cents, Bonus.state)
            .join(StudySession, StudySession.id == Bonus.session_id)
            .where(StudySession.study_id == study.id).order_by(Bonus.id)):
        bonus.setdefault(sid, []).append(f"{reason} {money(cents)} {state}")
    events: dict[int, list[str]] = {}
    for sid, kind, n in s.execute(
            select(SessionEvent.session_id, SessionEvent.kind, func.count())
            .join(StudySession, StudySession.id == SessionEvent.session_id)
            .where(StudySession.study_id == study.id)
            .group_by(SessionEvent.session_id, SessionEvent.kind)
            .order_by(SessionEvent.session_id, SessionEvent.kind)):
        events.setdefault(sid, []).append(f"{kind} {n}")
    secret = current_app.config["SECRET"]
    spec = stored_spec(study.spec)
    subs = [{"s": x, "qc": qc.get(x.id), "review": reviews.get(x.id),
             "can_reject": x.id in qc and qc[x.id].catch_failures >= MIN_FAILED_CHECKS,
             "events": ", ".join(events.get(x.id, [])), "bonus": ", ".join(bonus.get(x.id, [])),
             "code": (completion_code(secret, study.spec, x.id, x.outcome) or "(none: return)")
             if x.outcome else ""}
            for x in sessions]
    return render_template(
        "admin/study.html", study=study, cells=cells, states=states, subs=subs,
        cap=spec["max_participants"],
        places_taken=counted_participants(s, study.id),
        cohorts=[(name, counted_participants(s, study.id, cohort=name), cap) for name, cap in
                 (spec["cohorts"] or {"caps": {}})["caps"].items()],
        catch_accuracy=(catch_ok / catch_n) if catch_n else None,
        median_rt=statistics.median(rts) if rts else None,
        flagged=[q for q in qc.values() if q.flags],
        rounds=design_rounds(s, study.id), released=request.args.get("released", type=int),
        first_lease=min(spec["first_lease_minutes"], spec["lease_minutes"]),
        actions=[st for st, froms in STUDY_TRANSITIONS.items() if study.state in froms])


@bp.post("/study/<slug>/state")
@login_required
def study_state(slug: str):
    try:
        set_study_state(slug, request.form.get("state", ""), engine())
    except UserError as exc:
        abort(409, description=exc.message)
    return redirect(url_for("admin.study_view", slug=slug))


@bp.post("/study/<slug>/cap")
@login_required
def study_cap(slug: str):
    """Set (a positive number) or lift (empty) the study's participant cap, or that of
    the cohort the form names."""
    raw = request.form.get("max_participants", "").strip()
    if raw and not (re.fullmatch(r"[0-9]{1,9}", raw) and int(raw) >= 1):  # ASCII digits only
        abort(400, description="the cap must be a positive whole number, or empty for none")
    study_or_404(get_db(), slug)
    try:
        set_max_participants(slug, int(raw) if raw else None, engine(),
                             cohort=request.form.get("cohort") or None)
    except UserError as exc:
        abort(400, description=exc.message)
    return redirect(url_for("admin.study_view", slug=slug))


@bp.post("/study/<slug>/release")
@login_required
def study_release(slug: str):
    """Time out the started sessions idle for the form's minutes (their stored responses
    stay), as ``stylestudy study release`` does."""
    raw = request.form.get("idle", "").strip()
    if not re.fullmatch(r"[0-9]{1,6}", raw):
        abort(400, description="idle must be a whole number of minutes")
    study_or_404(get_db(), slug)
    r = release_study(slug, dt.timedelta(minutes=int(raw)), engine())
    return redirect(url_for("admin.study_view", slug=slug, released=r.sessions))


#: failed attention checks that allow a rejection (docs/study-protocol.md, Payments; Prolific's
#: attention-check policy: only participants who fail two fair checks may be rejected)
MIN_FAILED_CHECKS = 2


def _failed_checks(s, study: Study, session_id: int) -> int:
    q = session_qc(exports.judgments(s, study.slug, session_id)).get(session_id)
    return q.catch_failures if q else 0


@bp.post("/study/<slug>/review/<int:session_id>")
@login_required
def review(slug: str, session_id: int):
    """Record an approve / screen-out / reject decision once per completed session; a
    rejection only after ``MIN_FAILED_CHECKS`` failed attention (catch) checks."""
    decision = request.form.get("decision")
    if decision not in REVIEW_DECISIONS:
        abort(400, description=f"decision must be one of {', '.join(REVIEW_DECISIONS)}")
    s = get_db(write=True)
    study = study_or_404(get_db(), slug)
    sess = s.get(StudySession, session_id)
    if sess is None or sess.study_id != study.id or sess.state not in SESSIONS_FINISHED:
        abort(409, description="only completed sessions of this study can be reviewed")
    if s.get(Review, session_id) is not None:
        abort(409, description="this session was already reviewed")
    if decision == "rejected":
        failed = _failed_checks(s, study, session_id)
        if failed < MIN_FAILED_CHECKS:
            abort(409, description=f"a rejection needs {MIN_FAILED_CHECKS} failed attention "
                                   f"checks (Prolific's rule); this session failed {failed}. "
                                   "Screen it out or approve it")
    s.add(Review(session_id=session_id, decision=decision, admin=g.admin))
    commit()
    return redirect(url_for("admin.study_view", slug=slug))


@bp.get("/study/<slug>/export.<fmt>")
@login_required
def export(slug: str, fmt: str):
    kinds = {"csv": "long", "pwcmp": "pwcmp", "json": "json", "events": "events"}
    if fmt not in kinds:
        abort(404)
    study_or_404(get_db(), slug)
    question = request.args.get("question")
    try:
        text = exports.render(get_db(), slug, kinds[fmt], question)
    except UserError as exc:
        abort(400, description=exc.message)
    suffix = f"-{question}" if fmt == "pwcmp" else "-events" if fmt == "events" else ""
    ext = "json" if fmt == "json" else "csv"
    mime = "application/json" if fmt == "json" else "text/csv"
    return Response(text, mimetype=mime, headers={
        "Content-Disposition": f'attachment; filename="{slug}{suffix}.{ext}"'})


@bp.get("/study/<slug>/payments.csv")
@login_required
def payments_csv(slug: str):
    """Restricted: raw payment IDs of the reviewed sessions; never cached."""
    study = study_or_404(get_db(), slug)
    rows = payments.payment_rows(get_db(), study, current_app.config["SECRET"])
    return Response(payments.render(study, rows), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{slug}-payments.csv"',
        "Cache-Control": "no-store"})
