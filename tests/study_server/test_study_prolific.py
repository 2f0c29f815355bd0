"""`stylestudy prolific reconcile | pay | bonus` against a stand-in for Prolific's API.

Prolific's API cannot run here, so a small Flask app on loopback plays it: token auth, the
submission list in pages of two linked by ``_links.next.href``, the idempotent transition,
and bulk bonuses whose pay call pays again every time it is called (as Prolific warns).
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from click.testing import CliRunner
from flask import Flask, jsonify, request
from sqlalchemy import func, select
from study_helpers import add_session, refused_downgrade, spec
from werkzeug.serving import make_server

from stylestudy.cli import cli
from stylestudy.db.engine import session_scope
from stylestudy.db.models import Bonus, DesignCell, PaymentIdentity, Study, StudySession
from stylestudy.errors import UserError
from stylestudy.study_server.ops.client import ApiClient
from stylestudy.study_server.study.studies import create_study

TOKEN = "prolific-test-token"
#: the stand-in's rejection categories (two names; Prolific's full list is not checked)
CATEGORIES = ("FAILED_CHECK", "LOW_EFFORT")
REJECT_TEXT = ("You answered two of the attention checks in this study wrongly; they compare "
               "an image with an obvious mismatch, as the instructions explained.")


@dataclass
class FakeProlific:
    """The stand-in's state: submissions, approvals, bulk bonuses and the pay calls it
    honoured; ``pay_fault`` makes the next pay call answer 409 (``refuse``), 502 without
    paying (``lost``) or 502 after paying (``paid_then_lost``)."""

    subs: dict[str, dict] = field(default_factory=dict)
    transitions: list[str] = field(default_factory=list)
    rejections: list[tuple[str, str, str]] = field(default_factory=list)  # sub, category, text
    bulks: dict[str, list[tuple[str, Decimal]]] = field(default_factory=dict)
    payments: list[tuple[str, Decimal]] = field(default_factory=list)  # (submission, amount)
    pay_fault: str | None = None


def fake_prolific(api: FakeProlific) -> Flask:
    app = Flask("fake_prolific")
    subs, transitions = api.subs, api.transitions

    @app.before_request
    def _auth():
        if request.headers.get("Authorization") != f"Token {TOKEN}":
            return jsonify({"error": "not authenticated"}), 401
        return None

    @app.get("/api/v1/submissions/")
    def listing():
        rows = [x for x in subs.values() if x["study_id"] == request.args["study"]]
        page = int(request.args.get("page", 1))
        more = len(rows) > 2 * page
        nxt = f"{request.base_url}?study={request.args['study']}&page={page + 1}"
        return jsonify({"results": rows[2 * page - 2:2 * page],
                        "_links": {"next": {"href": nxt if more else None}},
                        "meta": {"count": len(rows)}})

    @app.post("/api/v1/submissions/<sub_id>/transition/")
    def transition(sub_id: str):
        """APPROVE, or REJECT with a message of at least 100 characters and a category
        (Prolific's API reference); idempotent."""
        sub, body = subs.get(sub_id), request.json
        action = body.get("action")
        if sub is None or action not in ("APPROVE", "REJECT"):
            return jsonify({"error": "bad request"}), 400
        if action == "REJECT" and (len(body.get("message") or "") < 100
                                   or body.get("rejection_category") not in CATEGORIES):
            return jsonify({"error": "message or rejection_category invalid"}), 400
        if sub["status"] == "AWAITING REVIEW":
            if action == "APPROVE":
                sub["status"] = "APPROVED"
                transitions.append(sub_id)
            else:
                sub["status"] = "REJECTED"
                api.rejections.append((sub_id, body["rejection_category"], body["message"]))
        return jsonify(sub)

    @app.post("/api/v1/submissions/bonus-payments/")
    def set_up_bonuses():
        body = request.json
        lines = [line.split(",") for line in body["csv_bonuses"].splitlines()]
        wrong = [sub for sub, _ in lines
                 if subs.get(sub, {}).get("study_id") != body["study_id"]]
        if wrong:
            return jsonify({"error": f"not in the study: {wrong}"}), 400
        bulk = uuid.uuid4().hex
        api.bulks[bulk] = [(sub, Decimal(amount)) for sub, amount in lines]
        total = sum(a for _, a in api.bulks[bulk]) * 100
        return jsonify({"id": bulk, "study": body["study_id"], "total_amount": float(total)})

    @app.post("/api/v1/bulk-bonus-payments/<bulk>/pay/")
    def pay_bonuses(bulk: str):
        fault, api.pay_fault = api.pay_fault, None
        if bulk not in api.bulks or fault == "refuse":
            return jsonify({"error": "cannot pay"}), 409
        if fault != "lost":
            api.payments.extend(api.bulks[bulk])  # not idempotent: pays on every call
        if fault:
            return jsonify({"error": "bad gateway"}), 502
        return jsonify({}), 202

    return app


@pytest.fixture
def prolific_api(monkeypatch):
    api = FakeProlific()
    srv = make_server("127.0.0.1", 0, fake_prolific(api), threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("STYLESTUDY_PROLIFIC_API_URL", f"http://127.0.0.1:{srv.server_port}")
    monkeypatch.setenv("STYLESTUDY_PROLIFIC_TOKEN", TOKEN)
    yield api
    srv.shutdown()


def submission(sub_id: str, pid: str, status: str, study_id: str = "st") -> dict:
    return {"id": sub_id, "participant": pid, "status": status, "study_id": study_id}


@pytest.fixture
def study(engine, cset, server, db_url, monkeypatch, prolific_api):
    """pp1 awaiting review, pp2 screened out, pp3 already approved (reviews: approved,
    screened_out, approved), pp5 unreviewed and listed with another participant's ID; pp4
    started through the API, then returned on Prolific; a stranger's submission; pp1 again
    in a second Prolific study under a SESSION_ID no session has."""
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", db_url)
    subs = prolific_api.subs
    study = create_study(spec(platform="prolific", completion_codes={"completed": "C1"}),
                         engine)
    for pid, decision, status in [("pp1", "approved", "AWAITING REVIEW"),
                                  ("pp2", "screened_out", "SCREENED OUT"),
                                  ("pp3", "approved", "APPROVED"),
                                  ("pp5", None, "AWAITING REVIEW")]:
        add_session(engine, study.id, {"PROLIFIC_PID": pid, "SESSION_ID": f"se-{pid}",
                                       "STUDY_ID": "st"}, decision)
        subs[f"se-{pid}"] = submission(f"se-{pid}", pid, status)
    subs["se-pp5"]["participant"] = "pp5-impostor"  # its SESSION_ID, someone else's PID
    c = ApiClient(server)
    status, body = c.request("POST", "/api/studies/s1/sessions", {"consent": True, "params": {
        "PROLIFIC_PID": "pp4", "SESSION_ID": "se-pp4", "STUDY_ID": "st"}})
    assert status == 201, body
    c.token = body["token"]
    _, state = c.request("GET", "/api/session")
    for trial in state["trials"][:2]:  # the practice trial, then one counted trial
        c.request("POST", "/api/responses", {"response_id": str(uuid.uuid4()),
                                             "trial": trial["id"], "choice": "left"})
    assert [t["practice"] for t in state["trials"][:2]] == [True, False]
    subs["se-pp4"] = submission("se-pp4", "pp4", "RETURNED")
    subs["se-stranger"] = submission("se-stranger", "zz", "AWAITING REVIEW")
    subs["se-pp1-other"] = submission("se-pp1-other", "pp1", "AWAITING REVIEW", "st2")
    return study


def states(engine) -> list[str]:
    with session_scope(engine) as s:
        return list(s.scalars(select(StudySession.state).order_by(StudySession.id)))


def test_reconcile_marks_submitted_and_returned(study, engine):
    with session_scope(engine) as s:
        held = s.scalar(select(func.sum(DesignCell.assigned)))
    res = CliRunner().invoke(cli, ["prolific", "reconcile", "s1"])
    assert res.exit_code == 0, res.output
    assert "3 session(s) marked submitted, 1 returned" in res.output
    assert states(engine) == ["submitted"] * 3 + ["completed", "returned"]
    with session_scope(engine) as s:  # the returned session kept its one answered cell
        assert s.scalar(select(func.sum(DesignCell.assigned))) == 1 < held
    res = CliRunner().invoke(cli, ["prolific", "reconcile", "s1"])
    assert "0 session(s) marked submitted, 0 returned" in res.output
    # a Prolific study the participants did not arrive with: its submission's participant
    # is pp1, but its SESSION_ID is no session's, so nothing matches
    res = CliRunner().invoke(cli, ["prolific", "reconcile", "s1", "--prolific-study", "st2"])
    assert res.exit_code == 0 and "0 session(s) marked submitted" in res.output


def test_pay_approves_reviewed_awaiting_only_and_reruns_safely(study, prolific_api):
    subs, transitions = prolific_api.subs, prolific_api.transitions
    res = CliRunner().invoke(cli, ["prolific", "pay", "s1", "--dry-run"])
    assert res.exit_code == 0, res.output
    assert re.search(r"would approve submission se-pp1 \(session \d+\)", res.output)
    # unreviewed: pp4 (returned on Prolific); unmatched: the stranger and pp5's impostor
    assert "would approve 1, would reject 0, already done 1, to settle on Prolific 1, " \
        "unreviewed 1" in res.output
    assert "settle on Prolific: submission se-pp2" in res.output
    assert "2 submission(s) match no session" in res.output
    assert transitions == []
    res = CliRunner().invoke(cli, ["prolific", "pay", "s1"])
    assert res.exit_code == 0 and "approved 1, rejected 0, already done 1" in res.output
    assert transitions == ["se-pp1"] and subs["se-pp1"]["status"] == "APPROVED"
    assert subs["se-pp2"]["status"] == "SCREENED OUT"  # never rejected from here
    res = CliRunner().invoke(cli, ["prolific", "pay", "s1"])
    assert "approved 0, rejected 0, already done 2" in res.output
    assert transitions == ["se-pp1"]


def test_bad_token_missing_token_and_wrong_platform(study, engine, monkeypatch):
    monkeypatch.setenv("STYLESTUDY_PROLIFIC_TOKEN", "wrong")
    res = CliRunner().invoke(cli, ["prolific", "reconcile", "s1"])
    assert res.exit_code != 0 and "HTTP 401" in res.output and "Traceback" not in res.output
    assert states(engine)[:4] == ["completed"] * 4  # nothing changed
    monkeypatch.delenv("STYLESTUDY_PROLIFIC_TOKEN")
    res = CliRunner().invoke(cli, ["prolific", "pay", "s1"])
    assert res.exit_code != 0 and "STYLESTUDY_PROLIFIC_TOKEN" in res.output
    monkeypatch.setenv("STYLESTUDY_PROLIFIC_TOKEN", TOKEN)
    create_study(spec(slug="linkstudy"), engine)
    res = CliRunner().invoke(cli, ["prolific", "reconcile", "linkstudy"])
    assert res.exit_code != 0 and "not prolific" in res.output
    monkeypatch.setenv("STYLESTUDY_PROLIFIC_API_URL", "http://127.0.0.1:9")
    res = CliRunner().invoke(cli, ["prolific", "reconcile", "s1"])
    assert res.exit_code != 0 and "unreachable" in res.output



def session_ids(engine) -> dict[str, int]:
    """PROLIFIC_PID → session id."""
    with session_scope(engine) as s:
        rows = s.execute(select(PaymentIdentity.raw, StudySession.id).join(
            StudySession, StudySession.participant_id == PaymentIdentity.participant_id))
        return {raw["PROLIFIC_PID"]: sid for raw, sid in rows}


def prolific(*args: str):
    return CliRunner().invoke(cli, ["prolific", *args])


def test_pay_rejects_sessions_reviewed_rejected(study, prolific_api, engine):
    """A session reviewed ``rejected`` is rejected with the given message and category,
    once; without them, or with a message shorter than Prolific's 100 characters or a
    category not in capitals, nothing at all is sent; Prolific refusing a category is one
    clear error."""
    add_session(engine, study.id, {"PROLIFIC_PID": "pp6", "SESSION_ID": "se-pp6",
                                   "STUDY_ID": "st"}, "rejected")
    prolific_api.subs["se-pp6"] = submission("se-pp6", "pp6", "AWAITING REVIEW")
    assert len(REJECT_TEXT) >= 100
    res = prolific("pay", "s1", "--dry-run")
    assert res.exit_code == 0 and "would reject submission se-pp6" in res.output
    assert "would approve 1, would reject 1, already done 1" in res.output
    for args, words in [((), "give --reject-message"),
                        (("--reject-message", "too short", "--reject-category",
                          "FAILED_CHECK"), "at least 100 characters"),
                        (("--reject-message", REJECT_TEXT, "--reject-category", "failed"),
                         "in capitals"),
                        (("--reject-message", REJECT_TEXT), "give both")]:
        res = prolific("pay", "s1", *args)
        assert res.exit_code != 0 and words in res.output and "Traceback" not in res.output
    assert prolific_api.transitions == [] and prolific_api.rejections == []
    res = prolific("pay", "s1", "--reject-message", REJECT_TEXT, "--reject-category",
                   "NOT_A_CATEGORY")
    assert res.exit_code != 0 and "HTTP 400" in res.output and "session" in res.output
    assert prolific_api.rejections == []
    res = prolific("pay", "s1", "--reject-message", REJECT_TEXT, "--reject-category",
                   "FAILED_CHECK")
    assert res.exit_code == 0 and "approved 0, rejected 1" in res.output, res.output
    assert prolific_api.rejections == [("se-pp6", "FAILED_CHECK", REJECT_TEXT)]
    assert prolific_api.subs["se-pp6"]["status"] == "REJECTED"
    res = prolific("pay", "s1")  # nothing awaits review: no message needed, nothing sent
    assert res.exit_code == 0 and "approved 0, rejected 0, already done 3" in res.output
    assert len(prolific_api.rejections) == 1


def test_bonus_pays_each_session_once_per_reason(study, prolific_api, engine, tmp_path):
    res = prolific("bonus", "s1", "--reason", "completion", "--amount", "0.50", "--dry-run")
    assert res.exit_code == 0, res.output
    assert "would add 2 bonus(es) for 'completion' (total 1.00)" in res.output
    assert "submission se-pp1" in res.output and "submission se-pp3" in res.output
    assert prolific("bonuses", "s1").output.strip() == "no bonuses for study s1"
    assert prolific_api.bulks == {}
    res = prolific("bonus", "s1", "--reason", "completion", "--amount", "0.50")
    assert res.exit_code == 0, res.output
    assert "paid 2 bonus(es) in 1 bulk payment(s), total 1.00" in res.output
    assert sorted(prolific_api.payments) == [("se-pp1", Decimal("0.50")),
                                             ("se-pp3", Decimal("0.50"))]
    res = prolific("bonus", "s1", "--reason", "completion", "--amount", "0.50")
    assert res.exit_code == 0 and "added 0 bonus(es)" in res.output
    assert "2 already in the ledger" in res.output and "paid 0 bonus(es)" in res.output
    assert len(prolific_api.payments) == 2
    res = prolific("bonus", "s1", "--reason", "completion", "--amount", "0.75")
    assert res.exit_code != 0 and "already has a 'completion' bonus of 0.50" in res.output
    assert prolific("bonuses", "s1").output.splitlines() == ["completion\tpaid\t2\t1.00"]
    # another reason is another bonus; a CSV may name any session of the study
    ids = session_ids(engine)
    path = tmp_path / "bonuses.csv"
    path.write_text(f"session_id,amount\n{ids['pp2']},1.25\n{ids['pp5']},0.1\n")
    res = prolific("bonus", "s1", "--reason", "accuracy", "--csv", str(path))
    assert res.exit_code == 0, res.output
    assert "paid 2 bonus(es) in 1 bulk payment(s), total 1.35" in res.output
    assert sorted(prolific_api.payments)[:2] == [("se-pp1", Decimal("0.50")),
                                                 ("se-pp2", Decimal("1.25"))]
    assert ("se-pp5", Decimal("0.10")) in prolific_api.payments
    assert len(prolific_api.payments) == 4


@pytest.mark.parametrize("text, message", [
    ("id,amount\n1,0.5\n", "needs a header with the columns session_id and amount"),
    ("session_id,amount\n", "lists no bonus"),
    ("session_id,amount\nx,0.5\n", "line 2: session_id 'x' is not a session number"),
    ("session_id,amount\n{pp1},0.5\n{pp1},0.5\n", "line 3: session {pp1} appears twice"),
    ("session_id,amount\n{pp1},1.234\n", "at most two decimals"),
    ("session_id,amount\n{pp1},-1\n", "must be positive"),
    ("session_id,amount\n{pp1},NaN\n", "must be positive"),
    ("session_id,amount\n{pp1},abc\n", "is not a number such as 0.50"),
    ("session_id,amount\n{pp1},30\n", "above the maximum 10.00"),
    ("session_id,amount\n{pp1}\n", "is not a number"),
    ("session_id,amount\n99999,0.5\n", "not sessions of study 's1'"),
])
def test_bonus_bad_csv_is_one_message_and_writes_nothing(study, prolific_api, engine,
                                                         tmp_path, text, message):
    ids = session_ids(engine)
    path = tmp_path / "b.csv"
    path.write_text(text.format(pp1=ids["pp1"]))
    res = prolific("bonus", "s1", "--reason", "r", "--csv", str(path))
    assert res.exit_code == 2 and message.format(pp1=ids["pp1"]) in res.output, res.output
    assert "Traceback" not in res.output and len(res.output.splitlines()) == 1
    assert prolific("bonuses", "s1").output.strip() == "no bonuses for study s1"
    assert prolific_api.bulks == {} and prolific_api.payments == []


def test_bonus_bad_options(study, prolific_api, engine, tmp_path):
    res = prolific("bonus", "s1", "--reason", "r", "--amount", "1", "--csv", "x.csv")
    assert res.exit_code == 2 and "not both" in res.output
    res = prolific("bonus", "s1", "--reason", "r", "--csv", str(tmp_path / "none.csv"))
    assert res.exit_code == 2 and "cannot read bonus CSV" in res.output
    res = prolific("bonus", "s1", "--reason", "r", "--amount", "12")
    assert res.exit_code == 2 and "above the maximum 10.00" in res.output
    # an approved session that arrived without a STUDY_ID needs --prolific-study
    with session_scope(engine) as s:
        study_id = s.scalar(select(Study.id).where(Study.slug == "s1"))
    add_session(engine, study_id, {"PROLIFIC_PID": "pp6", "SESSION_ID": "se-pp6",
                                   "STUDY_ID": ""}, "approved")
    prolific_api.subs["se-pp6"] = submission("se-pp6", "pp6", "AWAITING REVIEW")
    res = prolific("bonus", "s1", "--reason", "r", "--amount", "12", "--max-amount", "15")
    assert res.exit_code == 2 and "--prolific-study names the study" in res.output
    res = prolific("bonus", "s1", "--reason", "r", "--amount", "12", "--max-amount", "15",
                   "--prolific-study", "st")
    assert res.exit_code == 0 and "total 36.00" in res.output, res.output
    assert ("se-pp6", Decimal("12.00")) in prolific_api.payments
    res = prolific("bonus", "s1", "--reason", "x" * 65, "--amount", "1")
    assert res.exit_code == 2 and "1 to 64 characters" in res.output
    create_study(spec(slug="linkstudy"), engine)
    res = prolific("bonus", "linkstudy", "--reason", "r", "--amount", "1")
    assert res.exit_code == 2 and "not prolific" in res.output
    res = prolific("bonus-resolve", "s1", "nosuchbulk", "--paid")
    assert res.exit_code == 2 and "no bonus of study 's1' awaits an answer" in res.output


def test_bonus_with_unknown_outcome_is_never_paid_twice(study, prolific_api):
    """A pay call answered 502 may have paid: its bonuses wait for the researcher's word."""
    def ledger() -> list[str]:
        return prolific("bonuses", "s1").output.splitlines()

    prolific_api.pay_fault = "paid_then_lost"
    res = prolific("bonus", "s1", "--reason", "a", "--amount", "1")
    assert res.exit_code == 2 and "UNKNOWN: bulk" in res.output and "bonus-resolve" in res.output
    bulk = re.search(r"UNKNOWN: bulk (\w+) \(2 bonus\(es\), 2.00\)", res.output).group(1)
    assert len(prolific_api.payments) == 2 and ledger() == ["a\tpaying\t2\t2.00"]
    res = prolific("bonus", "s1", "--reason", "a")  # a re-run does not pay it again
    assert res.exit_code == 2 and f"UNKNOWN: bulk {bulk}" in res.output
    assert "paid 0 bonus(es)" in res.output and len(prolific_api.payments) == 2
    res = prolific("bonus-resolve", "s1", bulk, "--paid")
    assert res.exit_code == 0 and "2 bonus(es)" in res.output and ledger() == ["a\tpaid\t2\t2.00"]
    assert prolific("bonus", "s1", "--reason", "a").exit_code == 0
    assert len(prolific_api.payments) == 2
    # lost before paying: the researcher finds nothing on Prolific, the next run pays once
    prolific_api.pay_fault = "lost"
    res = prolific("bonus", "s1", "--reason", "b", "--amount", "1")
    bulk = re.search(r"UNKNOWN: bulk (\w+)", res.output).group(1)
    assert res.exit_code == 2 and len(prolific_api.payments) == 2
    assert prolific("bonus-resolve", "s1", bulk, "--not-paid").exit_code == 0
    assert "b\tset_up\t2\t2.00" in ledger()
    res = prolific("bonus", "s1", "--reason", "b")
    assert res.exit_code == 0 and "paid 2 bonus(es)" in res.output
    assert len(prolific_api.payments) == 4
    # refused (4xx): nothing was paid, the bonuses stay set up and the next run pays them
    prolific_api.pay_fault = "refuse"
    res = prolific("bonus", "s1", "--reason", "c", "--amount", "1")
    assert res.exit_code == 2 and "HTTP 409" in res.output and "not paid" in res.output
    assert "c\tset_up\t2\t2.00" in ledger() and len(prolific_api.payments) == 4
    assert prolific("bonus", "s1", "--reason", "c").exit_code == 0
    assert len(prolific_api.payments) == 6 and "c\tpaid\t2\t2.00" in ledger()


def test_lost_set_up_is_never_paid(study, prolific_api, engine):
    """A set-up whose id never reached the ledger (a crash after Prolific answered) leaves
    its rows planned: the next run sets them up again and pays only its own bulk."""
    from stylestudy.study_server.platforms import bonuses
    from stylestudy.study_server.platforms.prolific import client_from_env

    with session_scope(engine, write=True) as s:
        st = s.scalar(select(Study).where(Study.slug == "s1"))
        bonuses.record(s, "r", bonuses.plan(s, st, "r", bonuses.approved_amounts(s, st, 100)))
    orphan = client_from_env().set_up_bonuses("st", "se-pp1,1.00\nse-pp3,1.00\n")
    done = bonuses.settle(client_from_env(), engine, st, "r")
    assert (done.paid, done.paid_cents, done.uncertain) == (2, 200, [])
    assert len(prolific_api.bulks) == 2 and len(prolific_api.payments) == 2
    with session_scope(engine) as s:
        assert orphan not in set(s.scalars(select(Bonus.bulk_id)))


def test_downgrade_refuses_to_drop_the_bonus_ledger(study, engine):
    """Payment records are never dropped: with a bonus in the ledger the downgrade past
    revision 0004 stops, and the row stays."""
    from stylestudy.study_server.platforms import bonuses

    with session_scope(engine, write=True) as s:
        st = s.scalar(select(Study).where(Study.slug == "s1"))
        bonuses.record(s, "r", bonuses.plan(s, st, "r", bonuses.approved_amounts(s, st, 50)))
    refused_downgrade(engine, "0003", "bonus ledger holds 2 row")
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Bonus)) == 2


def test_a_clashing_move_moves_nothing(study, engine):
    """When another run moved one bonus first, the compare-and-set of the whole bulk is
    rolled back: no row names a bulk that not all of its bonuses are in."""
    from stylestudy.study_server.platforms import bonuses

    with session_scope(engine, write=True) as s:
        st = s.scalar(select(Study).where(Study.slug == "s1"))
        bonuses.record(s, "r", bonuses.plan(s, st, "r", bonuses.approved_amounts(s, st, 100)))
        ids = list(s.scalars(select(Bonus.id).order_by(Bonus.id)))
    assert bonuses._move(engine, (Bonus.id == ids[0],), "planned", state="set_up",
                         bulk_id="theirs") == 1
    with pytest.raises(UserError, match="another run"):
        bonuses._move(engine, (Bonus.id.in_(ids),), "planned", expect=2, state="set_up",
                      bulk_id="ours")
    with session_scope(engine) as s:
        assert list(s.execute(select(Bonus.state, Bonus.bulk_id).order_by(Bonus.id))) == [
            ("set_up", "theirs"), ("planned", None)]
