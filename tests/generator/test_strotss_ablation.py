"""STROTSS loss-term ablations: each switch removes exactly its term, the default keeps its
parameter hash, bad switches are one-line errors, and the demo ablation set makes its figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from PIL import Image

from stylestudy.cli import cli
from stylestudy.db import session_scope
from stylestudy.errors import UserError
from stylestudy.generator import manifest, runner
from stylestudy.generator.method import get, params_hash
from stylestudy.generator.strotss import Config, Hypercolumn
from stylestudy.generator.strotss.features import gather_bilinear
from stylestudy.generator.strotss.losses import (
    TERMS,
    moment_loss,
    remd_cosine,
    remd_palette,
    self_similarity_loss,
)
from stylestudy.generator.strotss.optimise import Task, _pair, _pair_loss, _prepare_scale, schedule
from stylestudy.generator.strotss.pyramid import resize_long_side
from tests.generator.stylepairs import one_thread

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "strotss-ablation.yaml"
#: ``params_hash`` of strotss's default parameters before the ablation switches existed
DEFAULT_HASH = "76d08653b90cbce740ec2fd228d14b2535a0c9c57677ac7659b829d3be644f3b"
COLUMNS = ["full", "no content", "no REMD", "no moment", "no palette", "content + REMD"]


@pytest.fixture(scope="module")
def hyper(weights_dir):
    from stylestudy.generator.vgg import vgg_features

    feats, _ = vgg_features("vgg16", weights_dir=str(weights_dir))
    return Hypercolumn(feats)


def _images():
    rng = np.random.default_rng(4)
    content = rng.random((40, 56, 3)).astype(np.float32)
    style = np.zeros((60, 60, 3), np.float32)
    style[:30, :, 0], style[30:, :, 2] = 0.9, 0.8
    return content, np.clip(style + 0.1 * rng.random(style.shape), 0, 1).astype(np.float32)


@pytest.mark.parametrize("variant", ["official", "paper"])
def test_each_switch_removes_exactly_its_term(hyper, variant):
    """On fixed features and samples: the loss with a term off is the full loss minus that
    term's weighted value, the term alone is its weighted value, and each term counts."""
    content, style = _images()
    with one_thread(), torch.no_grad():
        scale = schedule(64, 0.5)[0]  # one scale, α = 8
        p = _pair(Task(content, style, seed=2), torch.device("cpu"))
        c = resize_long_side(p.content, scale.long_side)
        hw = tuple(c.shape[-2:])
        p.zc = hyper(c)
        _prepare_scale(p, resize_long_side(p.style, scale.long_side), hw, hyper, Config())
        zx = hyper(torch.clamp(c + 0.2 * torch.randn(c.shape, generator=torch.Generator()
                                                     .manual_seed(0)), 0, 1))

        reg = p.state[0]
        grid = reg.sampler.rows.copy(), reg.sampler.cols.copy()

        def reset() -> None:  # the same samples for every call (draws shuffle in place)
            p.rng = np.random.default_rng(9)
            reg.sampler.rows, reg.sampler.cols = grid[0].copy(), grid[1].copy()

        def loss(terms) -> float:
            reset()
            cfg = Config(size=64, variant=variant, terms=tuple(terms))
            return float(_pair_loss(zx, p, scale, cfg))

        reset()
        xs, cs = gather_bilinear([zx, p.zc], *reg.sampler.draw(p.rng))
        a = scale.alpha
        if variant == "paper":
            norm, w_pal = 2 + a + 1 / a, 1 / a
        else:
            norm, w_pal = a + 2, 1 / max(a, 1)
        value = {
            "content": a * float(self_similarity_loss(xs, cs, times_n=variant != "paper")),
            "remd": float(remd_cosine(xs, reg.style.unit, reg.style.weight)),
            "moment": float(moment_loss(xs, reg.moment_mean, reg.moment_cov)),
            "palette": w_pal * float(remd_palette(xs[:, :3], reg.style.yuv, reg.style.weight)),
        }
        full = loss(TERMS)
        assert full == pytest.approx(sum(value.values()) / norm, rel=1e-6)
        for term in TERMS:
            alone = loss([term])
            without = loss([t for t in TERMS if t != term])
            assert alone == pytest.approx(value[term] / norm, rel=1e-6)
            assert without == pytest.approx(full - value[term] / norm, rel=1e-6)
            assert alone > 1e-4 * full  # a change 100× the tolerance (paper ℓ_C is small)


def test_default_parameters_keep_their_hash():
    cls = get("strotss")
    default = cls.validate_params({})
    assert "terms" not in default and params_hash(default) == DEFAULT_HASH
    assert cls.validate_params({"terms": ["palette", "moment", "remd", "content"]}) == default
    some = cls.validate_params({"terms": ["palette", "content"]})
    assert some["terms"] == ["content", "palette"]  # canonical order: one hash per set
    assert params_hash(some) == params_hash(cls.validate_params({"terms": ["content",
                                                                            "palette"]}))


@pytest.mark.parametrize(("params", "message"), [
    ({"terms": []}, "every loss term would be off"),
    ({"terms": ["colour"]}, "got 'colour'"),
    ({"terms": ["remd", 3]}, "got 3"),
    ({"terms": "palette"}, "must be list"),
    ({"terms": ["content"], "content_weight": 0}, "nothing to optimise"),
])
def test_bad_switches_are_one_line_errors(tmp_path, params, message):
    with pytest.raises(UserError, match=message) as err:
        get("strotss").validate_params(params)
    assert "\n" not in err.value.message
    path = tmp_path / "set.yaml"
    data = yaml.safe_load(EXAMPLE.read_text())
    data.update(contents=[str(EXAMPLE.parent / c) for c in data["contents"]],
                styles=[str(EXAMPLE.parent / s) for s in data["styles"]],
                methods=[{"name": "strotss", "params": params}])
    path.write_text(yaml.safe_dump(data))
    res = CliRunner().invoke(cli, ["generate", str(path)])
    assert res.exit_code == 2 and message in res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output


def test_example_ablation_set_end_to_end(home, use_weights, tmp_path):
    """The docs' manifest at 32 px, 2 iterations, two of its pairs: 12 outputs, each
    condition's terms in its parameters and provenance, and the figure in its layout."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data.update(size=32, pairs=data["pairs"][:2],
                contents=[str(EXAMPLE.parent / c) for c in data["contents"]],
                styles=[str(EXAMPLE.parent / s) for s in data["styles"]])
    for entry in data["methods"]:
        entry["params"] = {**entry.get("params", {}), "iterations": 2}
    path = tmp_path / "ablation.yaml"
    path.write_text(yaml.safe_dump(data))
    spec = manifest.load(path)
    assert [c.label for c in spec.conditions] == COLUMNS
    runner.plan(spec)
    with one_thread():
        runner.run_local(runner.pending_ids("strotss-ablation"), runner.MethodCache("cpu"))
    with session_scope() as session:
        gens = runner.set_generations("strotss-ablation", session)
        assert len(gens) == 12 and [g.error for g in gens if g.status != "done"] == []
        for g in gens:
            terms = g.method.params.get("terms", list(TERMS))
            assert g.provenance["strotss"]["terms"] == terms
            assert (g.method.label == "full") == (terms == list(TERMS))
        by_label = {g.method.label: g.output.sha256 for g in gens
                    if g.content.source_name == "astronaut.png"}
        assert len(set(by_label.values())) == len(COLUMNS)  # every switch changes the output

    out = tmp_path / "fig" / "ablation.pdf"
    res = CliRunner().invoke(cli, ["figure", "strotss-ablation", "--conditions",
                                   ",".join(COLUMNS), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes().startswith(b"%PDF")
    grid = np.asarray(Image.open(out.with_suffix(".png")))
    cell = 32 + 2 * max(1, round(32 * 0.04 / 2))
    assert grid.shape[1] == (2 + len(COLUMNS)) * cell  # content, style, then six columns
    tex = out.with_suffix(".tex").read_text()
    assert all(label in tex for label in ["Content", "Style", *COLUMNS])
