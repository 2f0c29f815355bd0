"""Diversity across styles (mean pairwise LPIPS) against the LPIPS authors' published values,
its grouping edges, and `stylestudy metrics` writing it."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from stylestudy.analysis.diversity import compare_shape, diversity_table, mean_pairwise, summarise
from stylestudy.analysis.lpips import LPIPS
from stylestudy.analysis.metrics import MetricJob
from stylestudy.cli import cli
from stylestudy.db.assets import read_image

DATA = Path(__file__).resolve().parents[1] / "generator" / "data" / "lpips"
#: LPIPS v0.1 alex, d(ex_ref, ex_p0) and d(ex_ref, ex_p1), published (docs/weights.md)
D_REF_P0, D_REF_P1 = 0.7219, 0.1376


@pytest.fixture(scope="module")
def alex():
    from stylestudy.generator.weights import WeightsMissing, load_state_dict

    try:
        load_state_dict("alexnet")
    except WeightsMissing as exc:
        pytest.fail(f"needs verified alexnet weights (stylestudy weights fetch alexnet): {exc}")
    return LPIPS("alex")


def img(name: str) -> np.ndarray:
    return read_image(DATA / f"{name}.png")


def job(method: str, content: str, style: str, image: np.ndarray) -> MetricJob:
    return MetricJob(key=f"{method}:{content}:{style}", method=method,
                     item_id=f"{content}+{style}", content_id=content, style_id=style,
                     load_output=lambda: image, load_content=lambda: image)


def test_mean_pairwise_is_the_published_distance_for_two_images(alex):
    assert mean_pairwise(alex, [img("ex_ref"), img("ex_p0")]) == pytest.approx(D_REF_P0,
                                                                                 abs=1e-3)
    three = [img("ex_ref"), img("ex_p0"), img("ex_p1")]
    d_p0_p1 = mean_pairwise(alex, three[1:])
    assert mean_pairwise(alex, three) == pytest.approx((D_REF_P0 + D_REF_P1 + d_p0_p1) / 3,
                                                       abs=1e-3)
    with pytest.raises(ValueError):
        mean_pairwise(alex, three[:1])


def test_compare_shape_upscales_only_small_images():
    assert compare_shape((28, 28, 3)) == (64, 64)
    assert compare_shape((30, 60, 3)) == (64, 128)
    assert compare_shape((64, 100, 3)) == (64, 100)
    assert compare_shape((300, 200)) == (300, 200)


def test_table_groups_by_method_and_content(alex):
    ref, p0, p1 = img("ex_ref"), img("ex_p0"), img("ex_p1")
    jobs = [job("varies", "c1", "s1", ref), job("varies", "c1", "s2", p0),
            job("varies", "c1", "s2", p1),  # a second output for s2: only the first counts
            job("varies", "c2", "s1", ref),  # one style only: no row
            job("ignores", "c1", "s1", p1), job("ignores", "c1", "s2", p1),
            job("ignores", "c1", "s3", p1)]
    table = diversity_table(jobs, alex)
    rows = {(r.method, r.content_id): r for r in table.itertuples()}
    assert set(rows) == {("varies", "c1"), ("ignores", "c1")}
    assert rows["varies", "c1"].lpips_alex_diversity == pytest.approx(D_REF_P0, abs=1e-3)
    assert rows["ignores", "c1"].lpips_alex_diversity == 0.0
    assert (rows["ignores", "c1"].n_styles, rows["ignores", "c1"].n_pairs) == (3, 3)
    summary = summarise(table)
    assert summary.loc["varies", "contents"] == 1
    assert summary.loc["ignores", "mean"] == 0.0


def test_digit_sized_outputs_are_upscaled_not_refused(alex):
    rng = np.random.default_rng(0)
    digits = [rng.integers(0, 256, (28, 28, 3), dtype=np.uint8) for _ in range(3)]
    table = diversity_table([job("m", "c", f"s{i}", d) for i, d in enumerate(digits)], alex)
    assert table.loc[0, "compared_height"] == 64 and table.loc[0, "lpips_alex_diversity"] > 0


def test_metrics_command_writes_diversity(tmp_path, alex):
    for n in ("ex_ref", "ex_p0", "ex_p1"):
        shutil.copy(DATA / f"{n}.png", tmp_path / f"{n}.png")
    (tmp_path / "images.csv").write_text(
        "method,content,output,style\nm0,ex_ref.png,ex_ref.png,ex_p0.png\n"
        "m0,ex_ref.png,ex_p0.png,ex_p1.png\nm1,ex_ref.png,ex_p1.png,ex_p0.png\n")
    out = tmp_path / "m.csv"
    args = ["metrics", "--images", str(tmp_path / "images.csv"), "-o", str(out), "--lpips",
            "alex", "--no-gram"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    div = pd.read_csv(tmp_path / "m-diversity.csv")
    assert div["method"].tolist() == ["m0"]  # m1 has one style for its content
    assert div.loc[0, "lpips_alex_diversity"] == pytest.approx(D_REF_P0, abs=1e-3)
    assert "m-diversity.csv" in res.output
    (tmp_path / "m-diversity.csv").unlink()
    assert CliRunner().invoke(cli, [*args, "--no-diversity"]).exit_code == 0
    assert not (tmp_path / "m-diversity.csv").exists()
    (tmp_path / "one.csv").write_text("method,content,output,style\nm,ex_ref.png,ex_p0.png,"
                                      "ex_p1.png\n")
    res = CliRunner().invoke(cli, ["metrics", "--images", str(tmp_path / "one.csv"), "-o",
                                   str(tmp_path / "one-m.csv"), "--lpips", "alex", "--no-gram"])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "one-m-diversity.csv").exists()
