"""MTurk adapter: question XML, CreateHIT parameters and reconciliation (botocore Stubber)."""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.stub import ANY, Stubber
from sqlalchemy import select
from study_helpers import spec

from db.engine import session_scope
from db.models import Study, StudySession
from study_server import mturk
from study_server.client import ApiClient
from study_server.studies import create_study
from stylestudy.errors import UserError

URL = "https://study.example.org/study/s1?x=1&y=2"


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
