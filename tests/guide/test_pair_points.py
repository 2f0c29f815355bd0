"""Per-pair point guidance in a manifest's ``guides`` reaches only that pair's runs."""

from __future__ import annotations

import pytest
import yaml

from stylestudy.errors import UserError
from stylestudy.generator import manifest, runner
from tests.generator.manifests import DEMO, write_manifest

PTS = [[10, 20, 30, 40], [1.5, 2, 3, 4]]


def _load(tmp_path, **over):
    return manifest.load(write_manifest(tmp_path, **over))


def test_points_in_a_guide_entry_belong_to_that_pair(tmp_path):
    m = _load(tmp_path, guides=[{"content": "coffee.png", "style": "ihc.png", "points": PTS}])
    pair = (DEMO / "contents" / "coffee.png", DEMO / "styles" / "ihc.png")
    assert m.points == {pair: [[10.0, 20.0, 30.0, 40.0], [1.5, 2.0, 3.0, 4.0]]}
    assert m.guides == {}


@pytest.mark.parametrize("points, message", [
    ([[1, 2, 3]], "'points' must be a list"),
    ([[1, 2, 3, -1]], "'points' must be a list"),
    ([[1, 2, 3, True]], "'points' must be a list"),
    ([[1, 2, 3, float("nan")]], "'points' must be a list"),
    ("1 2 3 4", "'points' must be a list"),
    ([], "names no guide image and no points"),
])
def test_bad_points(tmp_path, points, message):
    with pytest.raises(UserError) as err:
        _load(tmp_path, guides=[{"content": "coffee.png", "style": "ihc.png",
                                 "points": points}])
    assert message in err.value.message


def test_points_in_guides_and_in_params_conflict(tmp_path):
    with pytest.raises(UserError) as err:
        _load(tmp_path, methods=[{"name": "strotss", "params": {"points": PTS}}],
              guides=[{"content": "coffee.png", "style": "ihc.png", "points": PTS}])
    assert "not both" in err.value.message


def test_a_pair_has_one_guide_entry(tmp_path):
    entry = {"content": "coffee.png", "style": "ihc.png", "points": PTS}
    with pytest.raises(UserError) as err:
        _load(tmp_path, guides=[entry, entry])
    assert "earlier entry" in err.value.message


def test_points_reach_the_pairs_strotss_jobs_only(home, tmp_path):
    path = write_manifest(tmp_path, methods=[{"name": "strotss", "params": {"preset": "quick"}},
                                             "content-copy"],
                          guides=[{"content": "coffee.png", "style": "ihc.png", "points": PTS}])
    spec = manifest.load(path)
    runner.plan(spec)
    jobs = [runner.load_job(g) for g in runner.pending_ids(spec.name)]
    assert len(jobs) == 18
    guided = [j for j in jobs if j.inputs.get("points")]
    assert sorted(j.method for j in guided) == ["content-copy", "strotss"]
    for job in guided:
        assert job.inputs["points"] == [[10.0, 20.0, 30.0, 40.0], [1.5, 2.0, 3.0, 4.0]]
    by_method = {j.method: j for j in guided}
    assert by_method["strotss"].params["points"] == by_method["strotss"].inputs["points"]
    assert "points" not in by_method["content-copy"].params
    assert all(j.params.get("points", []) == [] for j in jobs if j not in guided)
    # other points make other generations; the same points plan nothing new
    data = yaml.safe_load(path.read_text())
    data["guides"][0]["points"] = PTS[:1]
    path.write_text(yaml.safe_dump(data))
    runner.plan(manifest.load(path))
    assert len(runner.pending_ids(spec.name)) == 20
    runner.plan(manifest.load(path))
    assert len(runner.pending_ids(spec.name)) == 20
