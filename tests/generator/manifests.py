"""Manifests over the bundled demo images, for the runner and executor tests."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

DEMO = Path(__file__).resolve().parents[2] / "stylestudy" / "demo_data"
CLI = [sys.executable, "-m", "stylestudy.cli"]
METHODS = ["reinhard", "histogram-match", "content-copy", "style-copy"]


def write_manifest(tmp_path: Path, **over) -> Path:
    """A manifest named 'set': 3 contents × 3 styles × the classical methods and controls."""
    data = {"name": "set", "size": 48, "seeds": [0], "contents": [str(DEMO / "contents")],
            "styles": [str(DEMO / "styles")], "methods": METHODS}
    data.update(over)
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def all_done(n: int) -> dict[str, int]:
    """``runner.set_counts`` of a set whose ``n`` generations are all done."""
    return {"done": n, "running": 0, "interrupted": 0, "failed": 0, "pending": 0}
