"""STROTSS batching: several pairs share each VGG pass and still get their own results."""

from __future__ import annotations

import numpy as np
import pytest

from stylestudy.generator.method import Request, RunContext, get
from stylestudy.generator.strotss import Config, Hypercolumn, Task, stylize, stylize_batch
from stylestudy.generator.strotss.guidance import extract_regions
from tests.generator.test_strotss_run import _images


@pytest.fixture(scope="module")
def hyper(weights_dir):
    from stylestudy.generator.vgg import vgg_features

    feats, _ = vgg_features("vgg16", weights_dir=str(weights_dir))
    return Hypercolumn(feats)


def _tasks():
    content, style = _images(0)
    content2, style2 = _images(1)
    cg = np.zeros((48, 64, 3), np.uint8)
    cg[:, 32:] = (0, 0, 255)
    sg = np.zeros((150, 150, 3), np.uint8)
    sg[75:] = (0, 0, 255)
    return [Task(content, style, seed=3),
            Task(content2, style2[:120], seed=4, regions=extract_regions(cg, sg[:120])),
            Task(content, style2, seed=5, points=np.array([[24, 10, 100, 75]], float))]


def _lone(task, hyper, cfg):
    return stylize(task.content, task.style, hyper, cfg, seed=task.seed, regions=task.regions,
                   points=task.points)


@pytest.mark.slow
def test_batch_equals_lone_runs_up_to_rounding(hyper):
    """Own seed, style size, regions and points per pair. One scale, 4 iterations: equal to
    float rounding (RMSprop's first steps are ±10·lr whatever the gradient's size, so this
    also checks every gradient's sign)."""
    cfg = Config(size=64, iterations=4)
    tasks = _tasks()
    batched = stylize_batch(tasks, hyper, cfg)
    for task, (out, info) in zip(tasks, batched, strict=True):
        lone, lone_info = _lone(task, hyper, cfg)
        assert out.shape == lone.shape == (48, 64, 3)
        assert np.abs(out - lone).max() < 1e-3
        assert info.scales[0]["final_loss"] == pytest.approx(lone_info.scales[0]["final_loss"],
                                                             rel=1e-5)
    # the pairs really differ (nothing leaked from one pair into another)
    assert np.abs(batched[0][0] - batched[2][0]).mean() > 1e-2


@pytest.mark.slow
def test_batch_across_scales_stays_within_the_runs_own_rounding_noise(hyper):
    """Two scales: RMSprop restarts per scale and amplifies rounding differences (a lone run
    with 1 vs 2 threads differs by up to 0.05 per pixel here); the mean stays small."""
    cfg = Config(size=128, iterations=4)
    tasks = _tasks()
    for task, (out, info) in zip(tasks, stylize_batch(tasks, hyper, cfg), strict=True):
        lone, lone_info = _lone(task, hyper, cfg)
        assert out.shape == lone.shape == (96, 128, 3)
        assert np.abs(out - lone).mean() < 1e-2
        assert [s["size"] for s in info.scales] == [[48, 64], [96, 128]]
        assert info.scales[-1]["final_loss"] == pytest.approx(
            lone_info.scales[-1]["final_loss"], rel=1e-2)


def test_batch_needs_one_content_shape(hyper):
    content, style = _images()
    with pytest.raises(ValueError, match="same shape"):
        stylize_batch([Task(content, style), Task(content[:40], style)], hyper,
                      Config(size=64, iterations=1))
    assert stylize_batch([], hyper, Config()) == []


def test_method_batches_on_gpu_only_with_per_request_provenance(use_weights):
    cls = get("strotss")
    assert cls.batch_limit("cpu") == 1 and cls.batch_limit("cuda:0") == cls.max_batch > 1
    inst = cls(RunContext())
    inst.setup()
    content, style = _images()
    plain = cls.validate_params({"iterations": 2})
    pointed = cls.validate_params({"iterations": 2, "points": [[24, 10, 130, 75]]})
    reqs = [Request(content=content, style=style, seed=0, params=plain, size=64),
            Request(content=content, style=style, seed=0, params=pointed, size=64)]
    results = inst.generate_batch(reqs)
    lone = inst.generate(reqs[0])
    assert results[0].image.tobytes() == lone.image.tobytes()  # CPU: one after another
    assert [r.provenance["strotss"]["points"] for r in results] == [0, 1]
    assert all(r.provenance["strotss"]["batched_with"] == 1 for r in results)
    assert all(r.provenance["batch_size"] == 2 for r in results)
