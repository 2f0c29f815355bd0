"""The study spec as a typed model: questions a study declares, one-line errors naming
the field, stored specs that validate again and old ones that still load."""

from __future__ import annotations

import pytest

from stylestudy.errors import UserError
from stylestudy.study_server.study.spec import (
    DEFAULT_PROMPTS,
    StudySpec,
    stored_spec,
    validate_spec,
)

BASE = {"slug": "s", "comparison_set": "c"}
REALISM = {"key": "realism", "prompt": "Which image looks more like a real photograph?",
           "reference": "none"}
EXEMPLAR = {"key": "exemplar", "prompt": "Which image agrees better with the exemplar?",
            "reference": "style"}


def test_declared_questions_are_stored_as_keys_prompts_and_rules():
    spec = validate_spec({**BASE, "questions": ["content", REALISM, EXEMPLAR]})
    assert spec["questions"] == ["content", "realism", "exemplar"]
    assert spec["prompts"]["realism"] == REALISM["prompt"]
    assert spec["prompts"]["content"] == DEFAULT_PROMPTS["content"]
    assert spec["question_rules"] == {
        "content": {"reference": "content", "catch": "content"},
        "realism": {"reference": "none", "catch": "none"},   # catch follows the reference
        "exemplar": {"reference": "style", "catch": "style"}}
    assert validate_spec(spec) == spec  # the stored form validates again to itself


def test_a_question_may_name_its_own_catch_rule_and_presets_keep_their_wording():
    spec = validate_spec({**BASE, "questions": [
        {**REALISM, "catch": "content"}, {"key": "style", "prompt": "Same style?"}]})
    assert spec["question_rules"]["realism"] == {"reference": "none", "catch": "content"}
    assert spec["question_rules"]["style"] == {"reference": "style", "catch": "style"}
    assert spec["prompts"]["style"] == "Same style?"
    assert validate_spec(BASE)["prompts"] == DEFAULT_PROMPTS


def test_a_study_stored_before_declared_questions_still_loads():
    old = {k: v for k, v in validate_spec(BASE).items() if k != "question_rules"}
    assert stored_spec(old)["question_rules"]["style"] == {"reference": "style",
                                                           "catch": "style"}
    assert validate_spec(old)["question_rules"]["content"]["reference"] == "content"


@pytest.mark.parametrize("questions, words", [
    (["taste"], "questions[0]: 'taste' is not a preset question"),
    ([{"key": "realism", "reference": "none"}], "questions[0] (realism) needs a prompt"),
    ([{"key": "realism", "prompt": "Real?"}], "questions[0] (realism) needs a reference"),
    ([{**REALISM, "reference": "exemplar"}],
     "questions[0].reference must be one of content, style, none, got 'exemplar'"),
    ([{**REALISM, "catch": "always"}], "questions[0].catch must be one of"),
    ([{**REALISM, "key": "Real ism"}], "questions[0].key 'Real ism' must be a lowercase"),
    ([{**REALISM, "key": "a_very_long_question_key"}], "must be a lowercase letter"),
    ([REALISM, REALISM], "questions[1].key 'realism' is asked twice"),
    ([{**REALISM, "colour": 1}], "unknown field(s)"),
    ([{**REALISM, "prompt": " "}], "questions[0].prompt must not be empty"),
    ([], "questions must be a non-empty list"),
])
def test_bad_questions_are_one_line_naming_the_field(questions, words):
    with pytest.raises(UserError) as exc:
        validate_spec({**BASE, "questions": questions})
    assert words in exc.value.message and "\n" not in exc.value.message


@pytest.mark.parametrize("field, value, words", [
    ("trials_per_session", 0, "trials_per_session must be an integer in [1, 1000], got 0"),
    ("trials_per_session", True, "trials_per_session must be an integer in [1, 1000]"),
    ("judgments_per_cell", "5", "judgments_per_cell must be an integer >= 1, got '5'"),
    ("repeat_rate", -0.1, "repeat_rate must be a number in [0, 0.5], got -0.1"),
    ("platform", "email", "platform must be one of link, prolific, mturk"),
    ("mturk", {"hits": 0}, "mturk.hits must be an integer >= 1, got 0"),
    ("mturk", {"nope": 1}, "mturk must be a mapping of known fields (unknown: ['nope'])"),
    ("prompts", {"beauty": "x"}, "prompts must map question keys"),
    ("title", 3, "title must be a string"),
])
def test_typed_fields_keep_one_line_messages(field, value, words):
    with pytest.raises(UserError) as exc:
        validate_spec({**BASE, field: value})
    assert exc.value.message.startswith("study spec <spec>: ")
    assert words in exc.value.message and "\n" not in exc.value.message


def test_the_model_is_the_documented_field_list():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "study-spec.md").read_text()
    for name in StudySpec.model_fields:
        assert f"\n{name}:" in doc, name
