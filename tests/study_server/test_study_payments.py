"""The restricted payments export: rows per platform and `stylestudy study payments`."""

from __future__ import annotations

import csv
import io
import os
import stat

import pytest
from click.testing import CliRunner
from study_helpers import add_session, spec

from stylestudy.cli import cli
from stylestudy.db.engine import session_scope
from stylestudy.study_server.platforms.payments import payment_rows
from stylestudy.study_server.study.entry import completion_code
from stylestudy.study_server.study.studies import create_study

SECRET = b"test-secret"  # the home fixture's STYLESTUDY_SECRET


def prolific_ids(pid: str) -> dict[str, str]:
    return {"PROLIFIC_PID": pid, "SESSION_ID": f"se-{pid}", "STUDY_ID": "st"}


@pytest.fixture
def prolific(engine, cset, db_url, monkeypatch):
    """A Prolific study: pp1 approved, pp2 screened out, pp3 unreviewed, pp4 approved."""
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", db_url)
    study = create_study(spec(platform="prolific", completion_codes={"completed": "C1"}), engine)
    for pid, decision in [("pp1", "approved"), ("pp2", "screened_out"), ("pp3", None),
                          ("pp4", "approved")]:
        add_session(engine, study.id, prolific_ids(pid), decision)
    return study


def test_payments_cli_csv(prolific):
    res = CliRunner().invoke(cli, ["study", "payments", "s1"])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert list(rows[0]) == ["session_id", "platform", "PROLIFIC_PID", "SESSION_ID", "decision",
                             "outcome", "decided_at"]
    assert [(r["PROLIFIC_PID"], r["SESSION_ID"], r["decision"]) for r in rows] == [
        ("pp1", "se-pp1", "approved"), ("pp2", "se-pp2", "screened_out"),
        ("pp4", "se-pp4", "approved")]
    assert {r["platform"] for r in rows} == {"prolific"}
    assert {r["outcome"] for r in rows} == {"completed"}
    assert all(r["decided_at"].endswith("+00:00") for r in rows)


def test_payments_cli_ids_only_and_out(prolific, tmp_path):
    res = CliRunner().invoke(cli, ["study", "payments", "s1", "--ids-only", "approved"])
    assert res.exit_code == 0 and res.output == "pp1\npp4\n"
    res = CliRunner().invoke(cli, ["study", "payments", "s1", "--ids-only", "screened_out"])
    assert res.exit_code == 0 and res.output == "pp2\n"
    out = tmp_path / "pay.csv"
    res = CliRunner().invoke(cli, ["study", "payments", "s1", "-o", str(out)])
    assert res.exit_code == 0 and res.output == ""
    assert len(out.read_text().splitlines()) == 1 + 3
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600  # restricted data: owner only
    # over a file that anyone may read: the IDs still end up readable by the owner only,
    # and the old file is replaced whole
    out.write_text("old export\n")
    out.chmod(0o644)
    res = CliRunner().invoke(cli, ["study", "payments", "s1", "-o", str(out)])
    assert res.exit_code == 0 and len(out.read_text().splitlines()) == 1 + 3
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_payments_cli_bad_input(prolific, engine, tmp_path):
    res = CliRunner().invoke(cli, ["study", "payments", "nope"])
    assert res.exit_code == 2 and "no study 'nope'" in res.output
    res = CliRunner().invoke(cli, ["study", "payments", "s1", "--ids-only", "maybe"])
    assert res.exit_code == 2 and "'maybe' is not one of" in res.output
    res = CliRunner().invoke(cli, ["study", "payments", "s1", "-o",
                                   str(tmp_path / "missing" / "p.csv")])
    assert res.exit_code == 2 and "cannot write" in res.output
    create_study(spec(slug="s2"), engine)
    res = CliRunner().invoke(cli, ["study", "payments", "s2", "--ids-only", "approved"])
    assert res.exit_code == 2 and "is a link study" in res.output
    assert "Traceback" not in res.output


def test_payment_rows_mturk_and_link(engine, cset):
    turk = create_study(spec(slug="t", platform="mturk"), engine)
    add_session(engine, turk.id, {"workerId": "W1", "assignmentId": "A1", "hitId": "H"},
                "approved", platform="mturk")
    link = create_study(spec(slug="l", participant_param="pid"), engine)
    sid = add_session(engine, link.id, {"participant": "ext1"}, "screened_out",
                      outcome="screened_out", platform="link")
    with session_scope(engine) as s:
        [t] = payment_rows(s, turk, SECRET)
        [l] = payment_rows(s, link, SECRET)
    assert (t["workerId"], t["assignmentId"], t["decision"]) == ("W1", "A1", "approved")
    assert "hitId" not in t
    assert (l["participant"], l["decision"], l["outcome"]) == ("ext1", "screened_out",
                                                               "screened_out")
    assert l["completion_code"] == completion_code(SECRET, link.spec, sid, "screened_out")
