"""LPIPS calibration and parity, the metrics command, and metric-human agreement."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from stylestudy.analysis.lpips import LPIPS, trunk
from stylestudy.analysis.metric_agreement import method_level, metric_agreement, metric_choice
from stylestudy.cli import cli
from stylestudy.db.assets import read_image

#: the LPIPS authors' reference images (copied from the shared test data; see SOURCE.md)
DATA = Path(__file__).resolve().parents[1] / "generator" / "data" / "lpips"


def _require_weights(name):
    """Real weights are required (`make test` fetches them): a clear failure, never a skip."""
    from stylestudy.generator.weights import WeightsMissing, load_state_dict

    try:
        load_state_dict(name)
    except WeightsMissing as exc:
        pytest.fail(f"needs verified {name} weights (stylestudy weights fetch {name}): {exc}")


def _img(name):
    return torch.from_numpy(read_image(DATA / f"{name}.png").copy()).permute(2, 0, 1)[None] \
        .float() / 255


def test_alex_calibration():
    """Published LPIPS v0.1 alex on ex_ref/ex_p0/ex_p1: 0.7219 and 0.1376 (±1e-3)."""
    _require_weights("alexnet")
    m = LPIPS("alex")
    ref, p0, p1 = _img("ex_ref"), _img("ex_p0"), _img("ex_p1")
    d = m(torch.cat([ref, ref]), torch.cat([p0, p1]), normalize=True)
    assert d.tolist() == pytest.approx([0.7219, 0.1376], abs=1e-3)
    assert m.record["calibrated"] is True
    assert m(p0, ref, normalize=True).item() == pytest.approx(d[0].item(), abs=1e-6)


@pytest.mark.filterwarnings("ignore::UserWarning")  # torchvision's 'pretrained' deprecation
@pytest.mark.parametrize("net,weights", [("alex", "alexnet"), ("vgg", "vgg16")])
def test_parity_with_lpips_package(net, weights):
    """Same weights in the real ``lpips`` package (random-init trunk, then loaded)."""
    _require_weights(weights)
    lpips = pytest.importorskip("lpips")
    ours = LPIPS(net)
    ref_model = lpips.LPIPS(net=net, version="0.1", pnet_rand=True, verbose=False)
    feats = ours.features.state_dict()
    for k, v in ref_model.net.state_dict().items():
        v.copy_(feats[k.split(".", 1)[1]])  # sliceK.N.weight → N.weight
    ref = _img("ex_ref")
    others = torch.cat([_img("ex_p0"), _img("ex_p1")])
    want = ref_model(ref.expand(2, -1, -1, -1), others, normalize=True).view(-1)
    got = ours(ref.expand(2, -1, -1, -1), others, normalize=True)
    assert got.tolist() == pytest.approx(want.tolist(), abs=1e-6)


def test_trunks_follow_torchvision_layout():
    tv = pytest.importorskip("torchvision")
    for net, ctor, taps in (("alex", tv.models.alexnet, 12), ("vgg", tv.models.vgg16, 30)):
        ours = {k: v.shape for k, v in trunk(net).state_dict().items()}
        theirs = {k: v.shape for k, v in ctor(weights=None).features.state_dict().items()
                  if int(k.split(".")[0]) < taps}
        assert ours == theirs


def test_random_backbone_only_with_flag(tmp_path, monkeypatch):
    from stylestudy.generator.weights import WeightsMissing

    monkeypatch.setenv("STYLESTUDY_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsMissing):
        LPIPS("alex")
    m = LPIPS("alex", allow_random_weights=True, seed=3)
    assert m.record["calibrated"] is False
    x = torch.rand(1, 3, 64, 64)
    assert m(x, x).item() == 0.0


def test_metrics_command_on_image_table(tmp_path):
    _require_weights("alexnet")
    for n in ("ex_ref", "ex_p0", "ex_p1"):
        shutil.copy(DATA / f"{n}.png", tmp_path / f"{n}.png")
    (tmp_path / "images.csv").write_text(
        "method,content,output,style\nm0,ex_ref.png,ex_p0.png,ex_p1.png\n"
        "m1,ex_ref.png,ex_p1.png,ex_p0.png\n")
    out = tmp_path / "m.csv"
    args = ["metrics", "--images", str(tmp_path / "images.csv"), "-o", str(out), "--lpips",
            "alex", "--no-gram"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    t = pd.read_csv(out)
    assert t["lpips_alex"].tolist() == pytest.approx([0.7219, 0.1376], abs=1e-3)
    from skimage.metrics import structural_similarity

    a = read_image(tmp_path / "ex_ref.png").astype(float)
    b = read_image(tmp_path / "ex_p0.png").astype(float)
    want = structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, channel_axis=-1)
    assert t.loc[0, "ssim_rgb"] == pytest.approx(want, abs=1e-9)
    # resumable: a rerun adds nothing
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert len(pd.read_csv(out)) == 2
    res = CliRunner().invoke(cli, ["metrics", "--images", str(tmp_path / "nope.csv")])
    assert res.exit_code == 2 and "cannot read" in res.output


def test_metric_choice_directions():
    assert metric_choice([0.9, 0.5, 0.7], [0.8, 0.6, 0.7], "ssim_y").tolist() == [1, 0, 0.5]
    assert metric_choice([0.1, 0.5], [0.2, 0.4], "lpips_alex").tolist() == [1, 0]


def test_metric_agreement_by_hand():
    """Two comparisons: u1 (i1, a vs b) 3 of 4 chose a; u2 (i2, a vs b) 1 of 2 chose a.

    A metric that picks a on both: s = (.75 + .5)/2 = .625; one that picks b on both: .375.
    Human LOO: u1 (3·2 + 1·0)/(4·3) = .5, u2 (0 + 0)/2 = 0 → .25; majority (.75 + .5)/2.
    """
    rows = [("w1", "i1", True), ("w2", "i1", True), ("w3", "i1", True), ("w4", "i1", False),
            ("w1", "i2", True), ("w2", "i2", False)]
    real = pd.DataFrame([{"worker_id": w, "item_id": i, "question": "content", "method_A": "a",
                          "method_B": "b", "chose_A": c, "left_method": "a",
                          "chosen_method": "a" if c else "b"} for w, i, c in rows])
    metrics = pd.DataFrame({"item_id": ["i1", "i1", "i2", "i2"], "method": ["a", "b"] * 2,
                            "lpips_alex": [0.1, 0.2, 0.1, 0.3],
                            "ssim_y": [0.1, 0.9, 0.2, 0.8]})
    table, paired = metric_agreement(real, metrics, ["lpips_alex", "ssim_y"], samples=200)
    t = table.set_index("metric")
    assert t.loc["lpips_alex", "score_2afc"] == pytest.approx(0.625)
    assert t.loc["ssim_y", "score_2afc"] == pytest.approx(0.375)
    assert t.loc["lpips_alex", "trial_accuracy"] == pytest.approx(4 / 6)
    assert t.loc["lpips_alex", "human_ceiling"] == pytest.approx(0.25)
    assert t.loc["lpips_alex", "majority_ceiling"] == pytest.approx(0.625)
    assert paired.loc[0, "difference"] == pytest.approx(0.25)
    assert (table["ci_low"] <= table["score_2afc"]).all()
    assert paired.loc[0, "ci_low"] <= 0.25 <= paired.loc[0, "ci_high"]
    # every resample favours lpips here: the bootstrap p is 2/(B + 1), never 0
    assert 2 / 201 <= paired.loc[0, "p_bootstrap"] <= 1


def test_gram_distance_zero_for_same_image():
    from stylestudy.analysis.metrics import GramStyle

    g = GramStyle.load()
    assert g is not None, "needs verified VGG19 weights (stylestudy weights fetch vgg19-caffe-q8)"
    x = torch.rand(2, 3, 64, 64)
    d = g(x, x.flip(0))
    assert d[0].item() > 0 and g(x, x).abs().max().item() == 0
    assert np.isfinite(d.numpy()).all()


def test_method_level_rank_agreement():
    jod = pd.DataFrame({"condition": ["a", "b", "c", "d"], "jod": [0.0, 1.0, 2.0, 3.0]})
    metrics = pd.DataFrame({"item_id": ["i1"] * 4 + ["i2"] * 4, "method": list("abcd") * 2,
                            "lpips_alex": [0.4, 0.3, 0.2, 0.1, 0.5, 0.3, 0.2, 0.0],
                            "ssim_y": [0.9, 0.5, 0.6, 0.1, 0.9, 0.5, 0.6, 0.1]})
    samples = np.array([[0.0, 1.0, 2.0, 3.0]] * 20)
    t = method_level(jod, samples, metrics, ["lpips_alex", "ssim_y"]).set_index("metric")
    assert t.loc["lpips_alex", "kendall_tau"] == pytest.approx(1.0)
    # ssim order a > c > b > d against a < b < c < d: 1 concordant of 6 pairs → τ = −2/3
    assert t.loc["ssim_y", "kendall_tau"] == pytest.approx(-2 / 3)
    assert t.loc["lpips_alex", "tau_low"] == pytest.approx(1.0)


def test_metrics_explicit_backbone_errors(tmp_path):
    shutil.copy(DATA / "ex_ref.png", tmp_path / "a.png")
    (tmp_path / "images.csv").write_text("method,content,output\nm,a.png,a.png\n")
    base = ["metrics", "--images", str(tmp_path / "images.csv"), "-o", str(tmp_path / "m.csv"),
            "--lpips", "alex", "--no-gram"]
    res = CliRunner().invoke(cli, base + ["--lpips-backbone", "vgg=x.pth"])
    assert res.exit_code == 2 and "NET=PATH" in res.output
    res = CliRunner().invoke(cli, base + ["--lpips-backbone", f"alex={tmp_path / 'no.pth'}"])
    assert res.exit_code == 2 and "does not exist" in res.output
    assert not (tmp_path / "m.csv").exists()
