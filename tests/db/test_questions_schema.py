"""Design cells store any question a study declares (migration 0009), on SQLite and
PostgreSQL; the downgrade refuses while a cell asks one that 0008 cannot store."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from stylestudy.db import get_engine, session_scope
from stylestudy.db.migrate import alembic_config, current_revision
from stylestudy.db.models import DesignCell, Study

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _cell(engine, tiny_assets, question: str) -> None:
    from stylestudy.db.models import ComparisonSet

    content, style = tiny_assets(engine)
    with session_scope(engine, write=True) as s:
        cs = ComparisonSet(name="set", manifest={})
        s.add(cs)
        s.flush()
        st = Study(slug="s", title="s", comparison_set_id=cs.id, platform="link", spec={})
        s.add(st)
        s.flush()
        s.add(DesignCell(study_id=st.id, question=question, kind="catch",
                         content_asset_id=content, style_asset_id=style,
                         reference_asset_id=content, a_asset_id=content, b_asset_id=style,
                         expected="a", target=1))


def test_a_custom_question_is_stored_and_blocks_the_downgrade(db_url, tiny_assets):
    engine = get_engine(db_url)
    _cell(engine, tiny_assets, "realism")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT question FROM design_cell")).scalar() == "realism"
    raw = create_engine(db_url)
    with pytest.raises(RuntimeError, match="1 design cell"), raw.begin() as conn:
        cfg = alembic_config(raw)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0008")
    assert current_revision(raw) == "0009"
    with raw.begin() as conn:
        conn.execute(text("UPDATE design_cell SET question = 'style'"))
    with raw.begin() as conn:
        cfg = alembic_config(raw)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0008")
    assert current_revision(raw) == "0008"
    with pytest.raises(Exception, match="(?i)check|constraint"), raw.begin() as conn:
        conn.execute(text("UPDATE design_cell SET question = 'realism'"))
    raw.dispose()
