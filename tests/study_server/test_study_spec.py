"""Study spec validation and `stylestudy study create` on bad input."""

from __future__ import annotations

import re

import pytest
import yaml
from click.testing import CliRunner

from stylestudy.cli import cli
from stylestudy.errors import UserError
from stylestudy.study_server.study.spec import DEFAULT_PROMPTS, stored_spec, validate_spec


def test_defaults_filled():
    spec = validate_spec({"slug": "a-b", "comparison_set": "x"})
    assert spec["title"] == "a-b"
    assert spec["questions"] == ["content", "style"]
    assert spec["prompts"] == DEFAULT_PROMPTS
    assert spec["judgments_per_cell"] == 5  # docs/study-spec.md: 5 per cell by default
    assert spec["catch_rate"] == 0.1 and spec["repeat_rate"] == 0.1
    assert spec["lease_minutes"] == 30  # default lease (docs/study-spec.md)
    assert spec["warn_before_leave"] is True
    assert "screened out" in spec["mturk"]["reject_feedback"]


def test_stored_spec_fills_keys_added_later():
    old = validate_spec({"slug": "a-b", "comparison_set": "x", "max_reloads": 2,
                         "mturk": {"reward": "2.00"}})
    for key in ("warn_before_leave", "max_reloads", "min_trials_per_session",
                "max_participants", "stimulus_duration_ms"):
        del old[key]
    del old["mturk"]["reject_feedback"]
    now = stored_spec(old)
    assert now["warn_before_leave"] is True and now["max_reloads"] is None
    assert now["min_trials_per_session"] is None and now["max_participants"] is None
    assert now["stimulus_duration_ms"] is None
    assert now["mturk"]["reward"] == "2.00" and "screened out" in now["mturk"]["reject_feedback"]
    assert now["slug"] == "a-b" and "warn_before_leave" not in old  # the stored one untouched


@pytest.mark.parametrize("bad, words", [
    ({"comparison_set": "x"}, "slug is required"),
    ({"slug": "A B", "comparison_set": "x"}, "slug must be"),
    ({"slug": "a", "comparison_set": "x", "colour": 1}, "unknown field(s) colour"),
    ({"slug": "a", "comparison_set": "x", "questions": ["taste"]}, "questions"),
    ({"slug": "a", "comparison_set": "x", "catch_rate": 0.9}, "catch_rate"),
    ({"slug": "a", "comparison_set": "x", "trials_per_session": 0}, "trials_per_session"),
    ({"slug": "a", "comparison_set": "x", "trials_per_session": 4,
      "min_trials_per_session": 5}, "min_trials_per_session must be an integer in [1, 4]"),
    ({"slug": "a", "comparison_set": "x", "pairs": [["m1", "m1"]]}, "pairs"),
    ({"slug": "a", "comparison_set": "x", "max_participants": 0},
     "max_participants must be an integer >= 1"),
    ({"slug": "a", "comparison_set": "x", "stimulus_duration_ms": 10},
     "stimulus_duration_ms must be an integer in [50, 60000]"),
    ({"slug": "a", "comparison_set": "x", "platform": "prolific"}, "completion_codes.completed"),
    ({"slug": "a", "comparison_set": "x", "mturk": {"external_url": "http://x"}}, "https"),
    ({"slug": "a", "comparison_set": "x", "completion_codes": {"completed": "a b"}},
     "completion_codes"),
    ({"slug": "a", "comparison_set": "x", "warn_before_leave": "yes"}, "warn_before_leave"),
    ({"slug": "a", "comparison_set": "x", "mturk": {"reject_feedback": " "}},
     "mturk.reject_feedback"),
    ({"slug": "a", "comparison_set": "x", "mturk": {"reject_feedback": "x" * 1025}},
     "at most 1024 characters"),
    ({"slug": "a", "comparison_set": "x", "cohorts": {"param": "g"}},
     "exactly the keys param and caps"),
    ({"slug": "a", "comparison_set": "x", "cohorts": {"param": "g g", "caps": {"a": 1}}},
     "cohorts.param must be a query parameter name"),
    ({"slug": "a", "comparison_set": "x", "cohorts": {"param": "STUDY_ID", "caps": {"a": 1}}},
     "platform's own parameter"),
    ({"slug": "a", "comparison_set": "x", "cohorts": {"param": "g", "caps": {}}},
     "cohorts.caps must map"),
    ({"slug": "a", "comparison_set": "x", "cohorts": {"param": "g", "caps": {"a b": 1}}},
     "cohort name 'a b'"),
    ({"slug": "a", "comparison_set": "x", "cohorts": {"param": "g", "caps": {"a": 0}}},
     "cohorts.caps.a must be a positive integer or null"),
    ({"slug": "a", "comparison_set": "x", "participant_param": "g",
      "cohorts": {"param": "g", "caps": {"a": 2}}}, "must differ"),
])
def test_bad_specs_name_the_field(bad, words):
    with pytest.raises(UserError, match=None) as exc:
        validate_spec(bad)
    assert words in exc.value.message


def test_cli_bad_spec_one_message_exit_2(tmp_path, home):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"slug": "s", "comparison_set": "nope", "bogus": 1}))
    res = CliRunner().invoke(cli, ["study", "create", str(path)])
    assert res.exit_code == 2
    assert "unknown field(s) bogus" in res.output
    assert "Traceback" not in res.output and res.exception is None or \
        isinstance(res.exception, SystemExit)


def test_cli_missing_set_and_bad_yaml(tmp_path, home):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"slug": "s", "comparison_set": "nope"}))
    res = CliRunner().invoke(cli, ["study", "create", str(path)])
    assert res.exit_code == 2 and "comparison set 'nope' does not exist" in res.output
    path.write_text("slug: [unclosed\n")
    res = CliRunner().invoke(cli, ["study", "create", str(path)])
    assert res.exit_code == 2 and "not valid YAML" in res.output
    res = CliRunner().invoke(cli, ["study", "create", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 2 and "not found" in res.output


def test_analysis_rules_are_checked_at_creation():
    from stylestudy.study_server.study.spec import validate_spec

    ok = validate_spec({"slug": "s", "comparison_set": "c",
                        "qc": {"catch_min_accuracy": 0.75}, "analysis": {}})
    assert ok["qc"] == {"catch_min_accuracy": 0.75}
    for bad, message in [({"qc": {"bogus": 1}}, "unknown qc setting(s) bogus"),
                         ({"qc": []}, "qc must be a mapping"),
                         ({"analysis": {"nope": 2}}, "nope")]:
        with pytest.raises(UserError, match=re.escape(message)):
            validate_spec({"slug": "s", "comparison_set": "c", **bad})
