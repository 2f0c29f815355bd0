"""MTurk adapter: question XML, CreateHIT parameters, reconciliation and payment
(botocore Stubber)."""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.exceptions import NoCredentialsError
from botocore.stub import ANY, Stubber
from click.testing import CliRunner
from sqlalchemy import select
from study_helpers import add_session, spec

from stylestudy.cli import cli
from stylestudy.db.engine import session_scope
from stylestudy.db.models import Study, StudySession
from stylestudy.errors import UserError
from stylestudy.study_server.ops.client import ApiClient
from stylestudy.study_server.platforms import mturk
from stylestudy.study_server.study.spec import MTURK_DEFAULTS
from stylestudy.study_server.study.studies import create_study
from stylestudy.study_server.tokens import sign

URL = "https://study.example.org/study/s1?x=1&y=2"
SECRET = b"test-secret"  # the home fixture's STYLESTUDY_SECRET
LIST = {"HITId": "H0", "AssignmentStatuses": ["Submitted", "Approved", "Rejected"]}


def client():
    return boto3.client("mturk", region_name="us-east-1", endpoint_url=mturk.ENDPOINTS[True],
                        aws_access_key_id="test", aws_secret_access_key="test")


def test_external_question_xml():
    xml = mturk.external_question(URL)
    assert xml == (
        '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/'
        'AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd">'
        "<ExternalURL>https://study.example.org/study/s1?x=1&amp;y=2</ExternalURL>"
        "<FrameHeight>0</FrameHeight></ExternalQuestion>")
    with pytest.raises(UserError, match="HTTPS"):
        mturk.external_question("http://insecure.example.org/")


def test_endpoints():
    assert mturk.ENDPOINTS == {
        True: "https://mturk-requester-sandbox.us-east-1.amazonaws.com",
        False: "https://mturk-requester.us-east-1.amazonaws.com"}


def test_create_hits_with_stubber(engine, cset):
    study = create_study(spec(platform="mturk", mturk={
        "external_url": URL, "hits": 2, "max_assignments": 9, "reward": "1.50",
        "exclude_qualification_id": "3PASTWORKERS"}), engine)
    c = client()
    with Stubber(c) as stub:
        stub.add_response("create_hit_type", {"HITTypeId": "T1"}, {
            "AutoApprovalDelayInSeconds": 259200, "AssignmentDurationInSeconds": 3600,
            "Reward": "1.50", "Title": "s1", "Keywords": "image, comparison, survey",
            "Description": ANY, "QualificationRequirements": [
                {"QualificationTypeId": "000000000000000000L0",
                 "Comparator": "GreaterThanOrEqualTo", "IntegerValues": [95],
                 "ActionsGuarded": "Accept"},
                {"QualificationTypeId": "00000000000000000040",
                 "Comparator": "GreaterThanOrEqualTo", "IntegerValues": [100],
                 "ActionsGuarded": "Accept"},
                {"QualificationTypeId": "00000000000000000071", "Comparator": "In",
                 "LocaleValues": [{"Country": "US"}], "ActionsGuarded": "Accept"},
                {"QualificationTypeId": "3PASTWORKERS", "Comparator": "DoesNotExist",
                 "ActionsGuarded": "DiscoverPreviewAndAccept"}]})
        for i in range(2):
            stub.add_response("create_hit_with_hit_type", {"HIT": {"HITId": f"H{i}"}}, {
                "HITTypeId": "T1", "MaxAssignments": 9, "LifetimeInSeconds": 604800,
                "Question": mturk.external_question(URL), "RequesterAnnotation": "s1",
                "UniqueRequestToken": f"s1-v1-{i}"})
        assert mturk.create_hits(c, study) == ["H0", "H1"]
        stub.assert_no_pending_responses()


def test_create_hits_retry_is_idempotent(engine, cset):
    study = create_study(spec(platform="mturk", mturk={"external_url": URL}), engine)
    c = client()
    with Stubber(c) as stub:
        stub.add_response("create_hit_type", {"HITTypeId": "T1"})
        stub.add_client_error("create_hit_with_hit_type", service_error_code="RequestError",
                              service_message="The HIT with ID H0 already exists.")
        assert mturk.create_hits(c, study) == []


def test_create_hits_refuses_other_platforms(engine, cset):
    study = create_study(spec(), engine)
    with pytest.raises(UserError, match="not mturk"):
        mturk.create_hits(client(), study)


def test_reconcile_marks_submitted(engine, cset, server):
    create_study(spec(platform="mturk", mturk={"external_url": URL}), engine)
    api = ApiClient(server)
    status, body = api.request("POST", "/api/studies/s1/sessions", {"consent": True, "params": {
        "assignmentId": "A1", "workerId": "W1", "hitId": "H0",
        "turkSubmitTo": "https://workersandbox.mturk.com/"}})
    api.token = body["token"]
    _, state = api.request("GET", "/api/session")
    for t in state["trials"]:
        api.request("POST", "/api/responses", {"response_id": str(uuid.uuid4()),
                                               "trial": t["id"], "choice": "left"})
    _, done = api.request("POST", "/api/session/complete", {})
    action = done["completion"]
    assert action["url"] == "https://workersandbox.mturk.com/mturk/externalSubmit"
    assert action["fields"]["assignmentId"] == "A1"
    token = action["fields"]["completion_token"]
    answer = ("<QuestionFormAnswers><Answer><QuestionIdentifier>completion_token"
              f"</QuestionIdentifier><FreeText>{token}</FreeText></Answer></QuestionFormAnswers>")
    c = client()
    with Stubber(c) as stub, session_scope(engine, write=True) as s:
        stub.add_response("list_hits", {"HITs": [{"HITId": "H0", "RequesterAnnotation": "s1"},
                                                 {"HITId": "H9", "RequesterAnnotation": "x"}]})
        stub.add_response("list_assignments_for_hit", {"Assignments": [
            {"AssignmentId": "A1", "Answer": answer},
            {"AssignmentId": "A2", "Answer": answer}]},
            {"HITId": "H0", "AssignmentStatuses": ["Submitted", "Approved", "Rejected"]})
        study = s.scalar(select(Study))
        assert mturk.reconcile(c, s, study, b"test-secret") == 1
    with session_scope(engine) as s:
        assert s.scalar(select(StudySession.state)) == "submitted"


def answer(session_id: int, outcome: str = "completed") -> str:
    """QuestionFormAnswers carrying the session's signed completion token."""
    token = sign(SECRET, f"{session_id}:{outcome}")
    return ("<QuestionFormAnswers><Answer><QuestionIdentifier>completion_token"
            f"</QuestionIdentifier><FreeText>{token}</FreeText></Answer></QuestionFormAnswers>")


def assignment(aid: str, session_id: int, status: str = "Submitted") -> dict:
    return {"AssignmentId": aid, "AssignmentStatus": status, "Answer": answer(session_id)}


def stub_listing(stub: Stubber, pages: list[list[dict]]) -> None:
    """``list_hits`` over two pages (H0 is the study's), then H0's assignment pages."""
    stub.add_response("list_hits", {"HITs": [{"HITId": "H9", "RequesterAnnotation": "x"}],
                                    "NextToken": "hits2"}, {})
    stub.add_response("list_hits", {"HITs": [{"HITId": "H0", "RequesterAnnotation": "s1"}]},
                      {"NextToken": "hits2"})
    for i, page in enumerate(pages):
        more = {"NextToken": f"page{i + 1}"} if i + 1 < len(pages) else {}
        stub.add_response("list_assignments_for_hit", {"Assignments": page, **more},
                          {**LIST, "NextToken": f"page{i}"} if i else LIST)


@pytest.fixture
def turk(engine, cset):
    """An mturk study with sessions for A1 (approved), A2 (screened out), A3 (unreviewed)."""
    study = create_study(spec(platform="mturk", mturk={"external_url": URL}), engine)
    sids = {aid: add_session(engine, study.id, {"workerId": f"W{aid}", "assignmentId": aid,
                                                "hitId": "H0"}, decision, platform="mturk")
            for aid, decision in [("A1", "approved"), ("A2", "screened_out"), ("A3", None)]}
    return study, sids


def test_pay_approves_and_rejects_reviewed(engine, turk):
    study, sids = turk
    c = client()
    with Stubber(c) as stub, session_scope(engine) as s:
        stub_listing(stub, [[assignment("A1", sids["A1"]), assignment("A2", sids["A2"])],
                            [assignment("A3", sids["A3"])]])
        stub.add_response("approve_assignment", {}, {"AssignmentId": "A1"})
        stub.add_response("reject_assignment", {}, {
            "AssignmentId": "A2", "RequesterFeedback": MTURK_DEFAULTS["reject_feedback"]})
        steps = mturk.payment_plan(c, s, study, SECRET)
        assert [(x.assignment_id, x.session_id, x.action) for x in steps] == [
            ("A1", sids["A1"], "approve"), ("A2", sids["A2"], "reject"),
            ("A3", sids["A3"], "unreviewed")]
        mturk.pay(c, study, steps)  # A3 (unreviewed) gets no call: Stubber would refuse it
        stub.assert_no_pending_responses()


def test_pay_second_run_makes_no_calls(engine, turk):
    study, sids = turk
    c = client()
    with Stubber(c) as stub, session_scope(engine) as s:
        stub_listing(stub, [[assignment("A1", sids["A1"], "Approved"),
                             assignment("A2", sids["A2"], "Rejected"),
                             assignment("A3", sids["A3"])]])
        steps = mturk.payment_plan(c, s, study, SECRET)
        assert [x.action for x in steps] == ["done", "done", "unreviewed"]
        mturk.pay(c, study, steps)
        stub.assert_no_pending_responses()


def test_pay_feedback_unmatched_and_refusal(engine, cset):
    study = create_study(spec(platform="mturk", mturk={
        "external_url": URL, "reject_feedback": "Screened out: catch trials failed."}), engine)
    a2 = add_session(engine, study.id, {"workerId": "W2", "assignmentId": "A2"},
                     "screened_out", platform="mturk")
    add_session(engine, study.id, {"workerId": "W1", "assignmentId": "A1"}, "approved",
                platform="mturk")
    c = client()
    with Stubber(c) as stub, session_scope(engine) as s:
        stub_listing(stub, [[assignment("A2", a2),
                             assignment("A1", a2),  # A2's token: A1 is never paid
                             {"AssignmentId": "A7", "AssignmentStatus": "Submitted"}]])
        stub.add_client_error("reject_assignment", service_error_code="RequestError",
                              service_message="This operation can be called with a status "
                                              "of: Submitted",
                              expected_params={"AssignmentId": "A2", "RequesterFeedback":
                                               "Screened out: catch trials failed."})
        steps = mturk.payment_plan(c, s, study, SECRET)
        assert [(x.assignment_id, x.action) for x in steps] == [
            ("A2", "reject"), ("A1", "unmatched"), ("A7", "unmatched")]
        with pytest.raises(UserError, match="reject assignment A2 .*again is safe"):
            mturk.pay(c, study, steps)
        stub.assert_no_pending_responses()


def test_pay_cli_dry_run_then_live(engine, turk, db_url, monkeypatch):
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", db_url)
    _, sids = turk
    c, modes = client(), []
    monkeypatch.setattr(mturk, "make_client", lambda sandbox: modes.append(sandbox) or c)
    pages = [[assignment("A1", sids["A1"]), assignment("A2", sids["A2"]),
              assignment("A3", sids["A3"]),
              {"AssignmentId": "A7", "AssignmentStatus": "Submitted"}]]  # not one of ours
    with Stubber(c) as stub:
        stub_listing(stub, pages)
        res = CliRunner().invoke(cli, ["mturk", "pay", "s1", "--dry-run"])
        assert res.exit_code == 0, res.output
        assert res.stdout.splitlines() == [
            f"would approve assignment A1 (session {sids['A1']})",
            f"would reject assignment A2 (session {sids['A2']})",
            "would approve 1, would reject 1, already done 0, unreviewed 1 (sandbox)"]
        assert res.stderr.startswith("note: 1 assignment(s) carry no valid completion token")
        stub.assert_no_pending_responses()
        stub_listing(stub, pages)
        stub.add_response("approve_assignment", {}, {"AssignmentId": "A1"})
        stub.add_response("reject_assignment", {}, {"AssignmentId": "A2",
                                                    "RequesterFeedback": ANY})
        res = CliRunner().invoke(cli, ["mturk", "pay", "s1", "--live"])
        assert res.exit_code == 0, res.output
        assert res.stdout == "approved 1, rejected 1, already done 0, unreviewed 1 (production)\n"
        stub.assert_no_pending_responses()
    assert modes == [True, False]


def test_pay_cli_bad_input(engine, cset, db_url, monkeypatch):
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", db_url)
    create_study(spec(), engine)
    monkeypatch.setattr(mturk, "make_client", lambda sandbox: client())
    res = CliRunner().invoke(cli, ["mturk", "pay", "nope"])
    assert res.exit_code == 2 and "no study 'nope'" in res.output
    res = CliRunner().invoke(cli, ["mturk", "pay", "s1"])
    assert res.exit_code == 2 and "is a link study, not mturk" in res.output
    with pytest.raises(UserError, match="MTurk payment failed: Unable to locate credentials"), \
            mturk.api_errors("payment"):
        raise NoCredentialsError()
