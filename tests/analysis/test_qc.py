"""Quality control: catch accuracy, repeat consistency, RT floor, the exclusion report."""

import pandas as pd
import pytest

from stylestudy.analysis.data import validate
from stylestudy.analysis.qc import quality_control
from stylestudy.analysis.settings import QCRules, Settings, load_settings
from stylestudy.errors import UserError


def _worker(w, catch_ok, repeat_same, rt):
    """4 real trials, len(catch_ok) catch trials, one repeat of the first real trial."""
    rows = []
    for i in range(4):
        rows.append(dict(worker_id=w, trial_id=f"{w}r{i}", item_id=f"i{i}", question="content",
                         method_A="a", method_B="b", chose_A=i % 2 == 0, trial_kind="real",
                         rt_ms=rt, left_method="a"))
    for i, ok in enumerate(catch_ok):
        rows.append(dict(worker_id=w, trial_id=f"{w}c{i}", item_id="i0", question="content",
                         method_A=None, method_B=None, chose_A=ok, trial_kind="catch",
                         expected="a", rt_ms=rt))
    rows.append(dict(worker_id=w, trial_id=f"{w}p", item_id="i0", question="content",
                     method_A="b", method_B="a", chose_A=not repeat_same, trial_kind="repeat",
                     rt_ms=rt, left_method="a"))
    return rows


def _table():
    rows = (_worker("good", [True] * 4, True, 1500)
            + _worker("twofail", [True, True, False, False], True, 1500)
            + _worker("onefail", [True, True, True, False], True, 1500)   # 75 % < 80 %
            + _worker("flaky", [True] * 4, False, 1500)
            + _worker("fast", [True] * 4, True, 300))
    return validate(pd.DataFrame(rows))


def test_default_rules():
    qc = quality_control(_table(), QCRules())
    w = qc.workers.set_index("worker_id")
    assert qc.excluded == {"twofail", "onefail"}
    assert w.loc["twofail", "catch_failed"] == 2
    assert w.loc["onefail", "catch_accuracy"] == pytest.approx(0.75)
    assert w.loc["flaky", "repeat_consistency"] == 0 and w.loc["good", "repeat_consistency"] == 1
    assert bool(w.loc["flaky", "flagged"]) and bool(w.loc["fast", "flagged"])
    assert w.loc["fast", "median_rt_ms"] == 300
    s = qc.summary.set_index("rule")
    assert s.loc["repeat", "action"] == "flag" and s.loc["repeat", "workers"] == 1
    assert s.loc["total excluded", "trials"] == 8
    assert qc.summary.attrs == {"workers_before": 5, "workers_after": 3, "trials_before": 20,
                                "trials_after": 12, "catch_unscored": 0}
    assert set(qc.apply(_table()).worker_id) == {"good", "flaky", "fast"}


def test_configured_rules_exclude_more():
    rules = Settings.from_spec({"qc": {"exclude": ["catch", "repeat", "rt"],
                                       "catch_min_accuracy": 0.7}}).qc
    qc = quality_control(_table(), rules)
    assert qc.excluded == {"twofail", "flaky", "fast"}


def test_settings_file_is_strict(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("qc:\n  rt_floor: 300\n")
    with pytest.raises(UserError, match="unknown qc setting"):
        load_settings(f)
    f.write_text("qc:\n  exclude: [colour]\n")
    with pytest.raises(UserError, match="unknown rule"):
        load_settings(f)
    f.write_text("analysis:\n  bootstrap: 50\n  focal_method: ours\n")
    s = load_settings(f, {"qc": {"rt_floor_ms": 250, "catch_rate": 0.1}})
    assert (s.bootstrap, s.focal_method, s.qc.rt_floor_ms) == (50, "ours", 250)
    with pytest.raises(UserError, match="cannot read"):
        load_settings(tmp_path / "nope.yaml")


def test_catch_without_expected_is_unscored():
    df = _table()
    df.loc[df.trial_kind == "catch", "expected"] = pd.NA
    qc = quality_control(df, QCRules())
    assert qc.excluded == set()
    assert qc.summary.attrs["catch_unscored"] == 20


def test_not_sure_is_a_wrong_catch_answer_and_leaves_repeats_unscored():
    """A "not sure" catch answer counts as failed; a repeat whose original (or itself) is
    "not sure" has no preference to repeat and is not scored."""
    rows = _worker("unsure", [True] * 4, True, 1500)
    for r in rows:
        r["not_sure"] = False
    rows[4].update(not_sure=True, chose_A=None)      # a catch trial answered "not sure"
    rows[0].update(not_sure=True, chose_A=None)      # the repeated original
    w = quality_control(validate(pd.DataFrame(rows)), QCRules()).workers.set_index("worker_id")
    assert w.loc["unsure", "catch_failed"] == 1 and w.loc["unsure", "catch_n"] == 4
    assert w.loc["unsure", "repeat_n"] == 0
    assert w.loc["unsure", "trials"] == 4  # answered real trials, "not sure" included
