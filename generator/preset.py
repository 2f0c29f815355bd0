"""Study presets: a manifest and a study spec that rerun a paper's user study in one step.

``strotss_study`` follows the design of the STROTSS user study (Kolkin, Salavon,
Shakhnarovich, CVPR 2019, §5) as far as docs/study-presets.md can verify it: each method
at several settings of its content/style knob, content preservation and stylization asked
as separate questions, the project's catch trials. The spec is plain YAML for
``stylestudy study create``; this module builds dictionaries only.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stylestudy.errors import UserError
from stylestudy.generator.manifest import IMAGE_SUFFIXES

__all__ = ["STROTSS_SWEEPS", "Sweep", "available_sweeps", "strotss_study"]


@dataclass(frozen=True)
class Sweep:
    """One method of the study: its knob, the settings traced, and fixed parameters."""

    method: str
    knob: str
    values: tuple[float, ...]
    #: the two settings of ``--quick`` (the ends of the range)
    quick_values: tuple[float, float]
    params: tuple[tuple[str, Any], ...] = ()
    #: fixed parameters of ``--quick`` (few iterations: a test, not a result)
    quick_params: tuple[tuple[str, Any], ...] = ()


#: the methods of the study, each with its content/style knob (docs/study-presets.md)
STROTSS_SWEEPS: tuple[Sweep, ...] = (
    Sweep("strotss", "content_weight", (0.25, 0.5, 1.0, 2.0, 4.0), (0.25, 4.0),
          quick_params=(("iterations", 4),)),
    Sweep("gatys", "ratio", (1e-4, 1e-3, 1e-2), (1e-4, 1e-2),
          quick_params=(("iterations", 8), ("init", "content"))),
    Sweep("cnnmrf", "content_weight", (5.0, 20.0, 80.0), (5.0, 80.0),
          quick_params=(("iterations", 4), ("resolutions", 1))),
    Sweep("contextual", "content_weight", (0.5, 1.0, 2.0), (0.5, 2.0),
          quick_params=(("iterations", 4),)),
    Sweep("swd", "content_weight", (0.5, 1.0, 2.0), (0.5, 2.0),
          quick_params=(("steps", 1), ("iterations", 4))),
    Sweep("magenta", "strength", (0.5, 0.75, 1.0), (0.5, 1.0)),
    Sweep("adain", "alpha", (0.5, 0.75, 1.0), (0.5, 1.0)),
    Sweep("wct", "alpha", (0.4, 0.7, 1.0), (0.4, 1.0)),
)
#: ``--quick`` keeps the two methods the paper's trade-off is about
QUICK_METHODS = ("strotss", "gatys")


def _weights_present(names: tuple[str, ...]) -> bool:
    from stylestudy.generator.weights import REGISTRY, search_dirs

    dirs = search_dirs()
    return all(any((d / f).is_file() for d in dirs
                   for f in (REGISTRY[n].stored, REGISTRY[n].torchvision) if f)
               for n in names)


def available_sweeps(methods: list[str] | None = None, quick: bool = False
                     ) -> tuple[list[Sweep], list[str]]:
    """The sweeps whose method is installed and whose weights are here (fetched or
    imported), and one note per method left out."""
    from stylestudy.generator import method as registry

    known = {s.method: s for s in STROTSS_SWEEPS}
    wanted = methods or list(QUICK_METHODS if quick else known)
    unknown = [m for m in wanted if m not in known]
    if unknown:
        raise UserError(f"--methods: unknown method(s) {', '.join(unknown)} (the preset "
                        f"knows {', '.join(known)})")
    installed = registry.available()
    kept, notes = [], []
    for name in wanted:
        if name not in installed:
            notes.append(f"left out {name}: not installed")
        elif not _weights_present(tuple(installed[name].weights)):
            notes.append(f"left out {name}: weights {', '.join(installed[name].weights)} not "
                         "here (stylestudy weights fetch/import)")
        else:
            kept.append(known[name])
    return kept, notes


def _images(folder: Path, what: str) -> list[Path]:
    if not folder.is_dir():
        raise UserError(f"--{what}: {folder} is not a folder")
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise UserError(f"--{what}: {folder} holds no images")
    return found


def strotss_study(contents: Path, styles: Path, out: Path, size: int | None = None,
                  quick: bool = False, methods: list[str] | None = None,
                  name: str = "strotss-study", judgments: int | None = None
                  ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The manifest and the study spec of the STROTSS trade-off study, and notes.

    Paths in the manifest are relative to ``out`` (where it will be written). ``quick``:
    two contents × two styles, STROTSS and Gatys at the two ends of their knobs with few
    iterations, 64 px: a pipeline test, not a result.
    """
    if not re.match(r"^[a-z0-9][a-z0-9-]{0,62}$", name):
        raise UserError(f"--name {name!r}: lowercase letters, digits and '-' (it is the "
                        "study's slug)")
    c_imgs, s_imgs = _images(contents, "contents"), _images(styles, "styles")
    if len(c_imgs) < 2 or len(s_imgs) < 2:
        raise UserError("the study needs at least two contents and two styles (the catch "
                        "trials of both questions compare an item with another item)")
    if quick:
        c_imgs, s_imgs = c_imgs[:2], s_imgs[:2]
    sweeps, notes = available_sweeps(methods, quick)
    if not sweeps:
        raise UserError("no method of the preset can run here: " + "; ".join(notes))
    entries, labels = [], []
    for sw in sweeps:
        params = dict(sw.params) | (dict(sw.quick_params) if quick else {})
        values = list(sw.quick_values if quick else sw.values)
        # quick outputs get labels of their own: a label names one parameter set
        base = f"{sw.method}-quick" if quick else sw.method
        entries.append({"name": sw.method, "label": base, "params": params,
                        "sweep": {sw.knob: values}})
        labels += [f"{base}[{sw.knob}={v}]" for v in values]

    def rel(p: Path) -> str:
        return os.path.relpath(p.resolve(), out.resolve())

    manifest = {"name": name, "size": size or (64 if quick else 512), "seeds": [0],
                "contents": [rel(p) for p in c_imgs], "styles": [rel(p) for p in s_imgs],
                "methods": entries}
    spec = {"slug": name, "title": "Content preservation and stylization",
            "comparison_set": name, "questions": ["content", "style"], "methods": labels,
            "pairs": "all", "judgments_per_cell": judgments or (1 if quick else 5),
            "trials_per_session": 20, "practice_trials": 2}
    return manifest, spec, notes
