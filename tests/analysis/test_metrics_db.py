"""`stylestudy metrics SET` over a comparison set in the database (SQLite and PostgreSQL)."""

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from skimage.metrics import structural_similarity

from stylestudy.cli import cli


def _insert_set(rng):
    from stylestudy.db.assets import store_pixels
    from stylestudy.db.engine import session_scope
    from stylestudy.db.models import ComparisonSet, ComparisonSetMember, Generation, Method

    content = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    style = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    outs = {"noisy": np.clip(content + rng.normal(0, 30, content.shape), 0, 255).astype(np.uint8),
            "copy": content.copy()}
    with session_scope(write=True) as s:
        c = store_pixels(s, content, "content", source_name="lake.jpg")
        st = store_pixels(s, style, "style", source_name="starry.png")
        cs = ComparisonSet(name="set1")
        s.add(cs)
        s.flush()
        for i, (label, img) in enumerate(outs.items()):
            m = Method(name=label, version="1", label=label, params_hash=str(i))
            s.add(m)
            s.flush()
            o = store_pixels(s, img, "output")
            g = Generation(method_id=m.id, content_asset_id=c.id, style_asset_id=st.id,
                           inputs_key="k", seed=0, status="done", output_asset_id=o.id)
            s.add(g)
            s.flush()
            s.add(ComparisonSetMember(set_id=cs.id, generation_id=g.id))
        pending = Generation(method_id=m.id, content_asset_id=c.id, style_asset_id=st.id,
                             inputs_key="k2", seed=1, status="pending")
        s.add(pending)
        s.flush()
        s.add(ComparisonSetMember(set_id=cs.id, generation_id=pending.id))
        return content, outs, "lake+starry"  # the study server's scene naming


def test_metrics_for_comparison_set(db_url, tmp_path):
    from stylestudy.db.engine import get_engine

    get_engine(db_url)
    content, outs, item = _insert_set(np.random.default_rng(0))
    out = tmp_path / "m.csv"
    res = CliRunner().invoke(cli, ["metrics", "set1", "-o", str(out), "--lpips", "",
                                   "--no-gram"])
    assert res.exit_code == 0, res.output
    t = pd.read_csv(out).set_index("method")
    assert set(t.index) == {"noisy", "copy"}          # the pending generation is not scored
    assert (t["item_id"] == item).all()               # the same item ids as the judgments
    assert t.loc["copy", "ssim_y"] == 1.0
    want = structural_similarity(content.astype(float), outs["noisy"].astype(float),
                                 data_range=255, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, channel_axis=-1)
    assert t.loc["noisy", "ssim_rgb"] == pytest.approx(want, abs=1e-9)
    res = CliRunner().invoke(cli, ["metrics", "nope", "-o", str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "no comparison set" in res.output
