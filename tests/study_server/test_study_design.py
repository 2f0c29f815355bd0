"""Design cells: real cells over method pairs and items, catch cells, CLI create."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select
from study_helpers import spec

from stylestudy.cli import cli
from stylestudy.db.engine import session_scope
from stylestudy.db.models import Asset, DesignCell, Generation
from stylestudy.errors import UserError
from stylestudy.study_server.study.studies import create_study, design_summary


def test_cell_counts(engine, cset):
    # 3 contents × 2 styles = 6 items; 3 methods → 3 pairs; 6 × 3 = 18 real cells per
    # question; one catch cell per item and question = 6.
    study = create_study(spec(), engine)
    assert design_summary(study.id, engine) == {
        "content/catch": 6, "content/real": 18, "style/catch": 6, "style/real": 18}


def test_listed_pairs_and_one_question(engine, cset):
    study = create_study(spec(questions=["style"], pairs=[["m1", "m2"], ["m3", "m1"]]), engine)
    assert design_summary(study.id, engine) == {"style/catch": 6, "style/real": 12}
    with session_scope(engine) as s:
        cells = s.scalars(select(DesignCell).where(DesignCell.kind == "real")).all()
        ids = cset["methods"]
        assert {(c.method_a_id, c.method_b_id) for c in cells} == {
            (ids["m1"], ids["m2"]), (ids["m3"], ids["m1"])}
        assert all(c.target == 2 and c.reference_asset_id == c.style_asset_id for c in cells)


def test_catch_cells_use_a_different_image(engine, cset):
    study = create_study(spec(), engine)
    with session_scope(engine) as s:
        out_of = {g.output_asset_id: g for g in s.scalars(select(Generation))}
        for c in s.scalars(select(DesignCell).where(DesignCell.study_id == study.id,
                                                    DesignCell.kind == "catch")):
            own = out_of[c.a_asset_id]
            assert (own.content_asset_id, own.style_asset_id) == (c.content_asset_id,
                                                                    c.style_asset_id)
            assert c.expected == "a" and c.method_b_id is None
            a, b = s.get(Asset, c.a_asset_id), s.get(Asset, c.b_asset_id)
            assert (a.width, a.height) == (b.width, b.height)
            other = out_of[c.b_asset_id]  # same size here, so the output itself
            if c.question == "content":
                assert other.content_asset_id != c.content_asset_id
                assert other.style_asset_id == c.style_asset_id
            else:
                assert other.style_asset_id != c.style_asset_id
                assert other.content_asset_id == c.content_asset_id


def test_errors(engine, cset):
    with pytest.raises(UserError, match="'zz' is not among"):
        create_study(spec(pairs=[["m1", "zz"]]), engine)
    with pytest.raises(UserError, match="no outputs"):
        create_study(spec(methods=["m1", "nope"]), engine)
    create_study(spec(), engine)
    with pytest.raises(UserError, match="already exists"):
        create_study(spec(), engine)


def test_cli_create(tmp_path, engine, cset, db_url, monkeypatch):
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", db_url)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec(slug="cli-study")))
    res = CliRunner().invoke(cli, ["study", "create", str(path)])
    assert res.exit_code == 0, res.output
    assert "study cli-study created (open)" in res.output
    assert "content/real: 18" in res.output
