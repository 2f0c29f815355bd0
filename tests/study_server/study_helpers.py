"""Test helpers: a small comparison set made directly through the ORM."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import aliased

from stylestudy.db.assets import load_pixels, store_pixels
from stylestudy.db.engine import session_scope
from stylestudy.db.models import (
    Asset,
    ComparisonSet,
    ComparisonSetMember,
    DesignCell,
    Generation,
    Method,
    Participant,
    PaymentIdentity,
    Review,
    StudySession,
)
from stylestudy.study_server.ops.client import ApiClient


def _image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


#: colours that tint the style images, so that each style has its own palette
TINTS = ((220, 60, 50), (50, 90, 220), (60, 190, 80), (230, 200, 40), (150, 60, 200))


def _style(rng: np.random.Generator, k: int) -> np.ndarray:
    return (0.5 * _image(rng, 20, 20) + 0.5 * np.array(TINTS[k % len(TINTS)])).astype(np.uint8)


def _output(rng: np.random.Generator, content: np.ndarray, style: np.ndarray) -> np.ndarray:
    """The content's pattern in the style's colours, plus a little noise of its own."""
    mixed = 0.55 * content + 0.45 * style.reshape(-1, 3).mean(axis=0)
    return np.clip(mixed + rng.normal(0, 12, content.shape), 0, 255).astype(np.uint8)


def make_comparison_set(engine: Engine, name: str = "set1", methods=("m1", "m2", "m3"),
                        contents: int = 3, styles: int = 2, size: tuple[int, int] = (24, 32),
                        seed: int = 0) -> dict[str, Any]:
    """A comparison set with one done generation per (method, content, style).

    Contents are random images of size ``size`` (h, w), styles random images in a colour
    of their own; an output keeps its content's pattern in its style's colours, with noise
    of its own, so that every catch pair can be answered (study_server/study/catch.py).
    Returns ids: ``{"contents": [...], "styles": [...], "methods": {label: id}}``.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    content_px = [_image(rng, h, w) for _ in range(contents)]
    style_px = [_style(rng, k) for k in range(styles)]
    with session_scope(engine, write=True) as s:
        cs = [store_pixels(s, px, "content", source_name=f"c{k}.png")
              for k, px in enumerate(content_px)]
        ss = [store_pixels(s, px, "style", source_name=f"s{k}.png")
              for k, px in enumerate(style_px)]
        cset = ComparisonSet(name=name, manifest={})
        s.add(cset)
        mids = {}
        for label in methods:
            ph = hashlib.sha256(label.encode()).hexdigest()
            m = Method(name=label, version="1", label=label, params={}, params_hash=ph)
            s.add(m)
            s.flush()
            mids[label] = m.id
            for c, cpx in zip(cs, content_px, strict=True):
                for st, spx in zip(ss, style_px, strict=True):
                    out = store_pixels(s, _output(rng, cpx, spx), "output")
                    g = Generation(method_id=m.id, content_asset_id=c.id, style_asset_id=st.id,
                                   inputs_key=f"{c.sha256[:16]}{st.sha256[:16]}", seed=0,
                                   status="done", output_asset_id=out.id, size=max(h, w))
                    s.add(g)
                    s.flush()
                    s.add(ComparisonSetMember(set_id=cset.id, generation_id=g.id))
        return {"contents": [c.id for c in cs], "styles": [x.id for x in ss], "methods": mids}


def spec(**over: Any) -> dict[str, Any]:
    """A minimal valid study spec over ``set1``."""
    base = {"slug": "s1", "comparison_set": "set1", "trials_per_session": 6,
            "judgments_per_cell": 2, "practice_trials": 1, "min_catch_trials": 1,
            "catch_rate": 0.1, "repeat_rate": 0.2, "min_view_ms": 0}
    base.update(over)
    return base


def add_session(engine: Engine, study_id: int, raw: dict[str, str], decision: str | None = None,
                outcome: str = "completed", platform: str = "prolific") -> int:
    """A completed session with raw payment IDs and, given ``decision``, its review.

    Returns the session id."""
    with session_scope(engine, write=True) as s:
        p = Participant(study_id=study_id, platform=platform,
                        pid_hash=hashlib.sha256(repr(sorted(raw.items())).encode()).hexdigest())
        s.add(p)
        s.flush()
        s.add(PaymentIdentity(participant_id=p.id, raw=raw))
        sess = StudySession(study_id=study_id, participant_id=p.id, token_hash=p.pid_hash,
                            state="completed", outcome=outcome, seed=0)
        s.add(sess)
        s.flush()
        if decision is not None:
            s.add(Review(session_id=sess.id, decision=decision, admin="ada"))
        return sess.id


def refused_downgrade(engine: Engine, to: str, message: str) -> None:
    """Downgrading to revision ``to`` stops with ``message`` and leaves the schema at head."""
    from alembic import command

    from stylestudy.db.migrate import alembic_config, current_revision, head_revision

    with pytest.raises(RuntimeError, match=message), engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, to)
    assert current_revision(engine) == head_revision(engine)


def start(url: str, slug: str = "s1", params: dict | None = None) -> ApiClient:
    c = ApiClient(url)
    status, body = c.request("POST", f"/api/studies/{slug}/sessions",
                             {"consent": True, "params": params or {}})
    assert status == 201, body
    c.token = body["token"]
    return c


def answer(c: ApiClient, trial: dict, choice: str = "left") -> tuple[int, dict]:
    return c.request("POST", "/api/responses", {"response_id": str(uuid.uuid4()),
                                                "trial": trial["id"], "choice": choice,
                                                "rt_ms": 900})


def catch_cells(engine: Engine, root: Path | None = None) -> list[tuple]:
    """(question, label of method A, pixels of A, of B, of the reference) of every catch
    cell, the images read from the asset store at ``root`` (default: the configured one)."""
    a, b, ref = aliased(Asset), aliased(Asset), aliased(Asset)
    with session_scope(engine) as s:
        rows = s.execute(select(DesignCell.question, Method.label, a, b, ref)
                         .join(Method, Method.id == DesignCell.method_a_id)
                         .join(a, a.id == DesignCell.a_asset_id)
                         .join(b, b.id == DesignCell.b_asset_id)
                         .join(ref, ref.id == DesignCell.reference_asset_id)
                         .where(DesignCell.kind == "catch")).all()
        return [(q, label, load_pixels(x, root), load_pixels(y, root), load_pixels(r, root))
                for q, label, x, y, r in rows]
