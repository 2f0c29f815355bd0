"""The landing page states the number of comparisons a session really has."""

from __future__ import annotations

import re

import pytest
from study_helpers import spec, start

from stylestudy.study_server.study.studies import create_study


@pytest.mark.parametrize("over", [
    {},  # 6 real (of 12 items), catch max(1, round(0.6)) = 1, repeats round(1.2) = 1, 1 practice
    {"trials_per_session": 8, "min_catch_trials": 4, "repeat_rate": 0.1, "practice_trials": 2},
    {"trials_per_session": 20, "practice_trials": 0},  # more than the 12 items: 12 real
    {"questions": ["style"], "trials_per_session": 9},  # 6 items; 6 catch cells for 4 catch
], ids=["small", "issue", "few-items", "one-question"])
def test_landing_states_the_session_length(engine, cset, server, over):
    create_study(spec(**over), engine)
    page = ApiPage(server)
    text = re.sub(r"\s+", " ", page.get("/study/s1"))
    client = start(server)
    _, state = client.request("GET", "/api/session")
    practice = sum(t["practice"] for t in state["trials"])
    main = len(state["trials"]) - practice
    said = re.search(r"(\d+) comparisons of images( \(after (\d+) practice\))?", text)
    assert said, text
    assert (int(said[1]), int(said[3] or 0)) == (main, practice)


class ApiPage:
    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str) -> str:
        import urllib.request

        with urllib.request.urlopen(self.base + path, timeout=30) as r:
            return r.read().decode()
