"""The analysis facade: a study (database) or an exported CSV in, a :class:`Report` out.

```python
from stylestudy.analysis import api
report = api.analyze_study("my-study", "out/")       # or api.analyze_csv("judgments.csv", "out/")
print(report)                                         # per question and pair: rate, Wilson CI, p
report.pairs                                          # the same as a DataFrame
```
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from stylestudy.analysis import data as data_mod
from stylestudy.analysis.pairs import pair_table, position_bias
from stylestudy.analysis.qc import QCResult, quality_control
from stylestudy.analysis.settings import Settings, load_settings

__all__ = ["Report", "analyze", "analyze_csv", "analyze_study", "load_judgments",
           "load_metrics"]


@dataclass
class Report:
    """Everything one analysis produced; ``str(report)`` is the console summary."""

    title: str
    settings: Settings
    judgments: pd.DataFrame
    qc: QCResult
    pairs: pd.DataFrame
    pairs_all: pd.DataFrame
    position: dict[str, dict[str, float]]
    metrics: pd.DataFrame | None = None
    #: the conditions' generation parameters (condition, method, params), where known
    conditions: pd.DataFrame | None = None
    scaling: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def __str__(self) -> str:
        s = self.qc.summary.attrs
        lines = [f"{self.title}: {s['workers_after']} of {s['workers_before']} workers, "
                 f"{s['trials_after']} of {s['trials_before']} real trials after exclusions "
                 f"({', '.join(self.settings.qc.exclude) or 'none'})",
                 "preference for A: Wilson 95% CI, exact two-sided binomial p, "
                 f"Holm/BH over family '{self.settings.family}'"]
        if s.get("catch_unscored"):
            lines.append(f"warning: {s['catch_unscored']} catch trials have no expected answer "
                         "(column 'expected') and were not scored")
        lines += [f"warning: {w}" for w in self.scaling.get("warnings", [])]
        for q, g in self.pairs.groupby("question", sort=False):
            lines.append(f"\n[{q}]")
            w = max([len(f"{a} vs {b}") for a, b in zip(g.method_A, g.method_B, strict=True)]
                    + [4])
            lines.append(f"  {'pair':<{w}}  {'k/n':>9}  {'rate':>5}  {'95% Wilson':>13}  "
                         f"{'p':>9}  {'p_holm':>9}")
            for r in g.itertuples():
                pair = f"{r.method_A} vs {r.method_B}"
                holm = f"{r.p_holm:9.3g}" if r.p_holm == r.p_holm else f"{'-':>9}"
                lines.append(f"  {pair:<{w}}  {f'{r.k}/{r.n}':>9}  {r.rate:5.3f}  "
                             f"[{r.wilson_low:.3f},{r.wilson_high:.3f}]  {r.p_exact:9.3g}  "
                             f"{holm}")
            kept = self.qc.apply(self.judgments)
            unsure = int(((kept["question"] == q) & (kept["trial_kind"] == "real")
                          & kept["not_sure"]).sum())
            if unsure:
                lines.append(f"  not sure: {unsure} real trials, left out of the rates above")
            pb = self.position.get(q)
            if pb and pb["n"]:
                lines.append(f"  left chosen {pb['p_left']:.3f} "
                             f"[{pb['ci_low']:.3f},{pb['ci_high']:.3f}], p = {pb['p_value']:.3g}")
        if self.files:
            lines.append("\nwritten: " + ", ".join(str(p) for p in self.files.values()))
        return "\n".join(lines)


def load_judgments(source: str, csv: bool = False) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The long table and spec from a study slug, or from a CSV file (long or pwcmp) when
    ``csv``."""
    if csv:
        return data_mod.load_csv(source), {}
    return data_mod.load_study(source)


def analyze(df: pd.DataFrame, settings: Settings | None = None,
            out_dir: str | os.PathLike | None = None, title: str = "study",
            full: bool = True, progress: bool = False,
            metrics: pd.DataFrame | None = None,
            provenance: dict[str, Any] | None = None,
            conditions: pd.DataFrame | None = None) -> Report:
    """Analyse a validated long table; write CSV (and, with ``full``, the report) to ``out_dir``.

    ``metrics``: the table of ``stylestudy metrics`` (item_id, method, metric columns) for
    the metric-human agreement section; ``provenance`` (what shaped the data, e.g. the
    study's rounds of active sampling) goes into the metadata; ``conditions`` (condition,
    method, params: :func:`stylestudy.analysis.data.study_conditions`) places each condition
    on its method's trade-off curve.

    ``full=False`` computes the per-pair statistics and QC only (seconds); ``full=True``
    adds scaling, dependence-aware inference, agreement and the HTML/LaTeX report.
    """
    settings = settings or Settings()
    qc = quality_control(df, settings.qc)
    kept = qc.apply(df)
    if data_mod.real_trials(kept).empty:
        from stylestudy.errors import UserError

        raise UserError("no real trials remain after exclusions; nothing to analyse")
    pairs = pair_table(kept, settings.focal_method, settings.family, settings.alpha)
    pairs_all = pair_table(df, settings.focal_method, settings.family, settings.alpha)
    position = {q: position_bias(g) for q, g in kept.groupby("question")}
    position_table = pd.DataFrame([{"question": q, **v} for q, v in position.items()])
    meta = _metadata(settings)
    if provenance is not None:
        meta["study"] = provenance
    report = Report(title, settings, df, qc, pairs, pairs_all, position, metrics=metrics,
                    conditions=conditions, meta=meta)
    report.scaling["tables"] = {"position_bias": position_table}
    if full:
        from stylestudy.analysis.pipeline import run_full

        run_full(report, kept, progress=progress)
    if out_dir is not None:
        from stylestudy.analysis.report import write_outputs

        write_outputs(report, Path(out_dir), html=full)
    return report


def analyze_study(slug: str, out_dir: str | os.PathLike | None = None,
                  settings_file: str | os.PathLike | None = None, full: bool = True,
                  progress: bool = False, metrics_file: str | os.PathLike | None = None,
                  settings: Settings | None = None, cohort: str | None = None) -> Report:
    """Analyse study ``slug`` from the database with the rules of its own spec.

    ``settings`` (e.g. ``Settings(bootstrap=200)`` for a quick demo) replaces both the
    spec's and the file's settings; ``cohort`` keeps one recruitment cohort's judgments.
    """
    df, spec = data_mod.load_study(slug)
    settings = settings or load_settings(settings_file, spec)
    df, title = _cohort(df, slug, cohort)
    provenance = {**data_mod.study_provenance(slug), "cohort": cohort}
    return analyze(df, settings, out_dir, title=title, full=full, progress=progress,
                   metrics=load_metrics(metrics_file), provenance=provenance,
                   conditions=data_mod.study_conditions(slug))


def _cohort(df: pd.DataFrame, title: str, cohort: str | None) -> tuple[pd.DataFrame, str]:
    if cohort is None:
        return df, title
    return data_mod.only_cohort(df, cohort), f"{title}, cohort {cohort}"


def analyze_csv(path: str | os.PathLike, out_dir: str | os.PathLike | None = None,
                settings_file: str | os.PathLike | None = None, full: bool = True,
                progress: bool = False, metrics_file: str | os.PathLike | None = None,
                cohort: str | None = None, question: str | None = None) -> Report:
    """Analyse an exported long-format CSV or a pwcmp table, no database needed.

    ``question`` labels a pwcmp table that has no question column (default content).
    """
    df, title = _cohort(data_mod.load_csv(path, question=question), Path(path).stem, cohort)
    return analyze(df, load_settings(settings_file), out_dir, title=title, full=full,
                   progress=progress, metrics=load_metrics(metrics_file))


def load_metrics(path: str | os.PathLike | None) -> pd.DataFrame | None:
    """The CSV written by ``stylestudy metrics`` (needs item_id and method), or None."""
    if path is None:
        return None
    from stylestudy.errors import UserError

    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UserError(f"cannot read metrics CSV {path}: {exc}") from None
    missing = {"item_id", "method"} - set(table.columns)
    if missing:
        raise UserError(f"metrics CSV {path} lacks column(s) {', '.join(sorted(missing))}")
    table["item_id"] = table["item_id"].astype(str)
    table["method"] = table["method"].astype(str)
    return table


@functools.cache
def _versions() -> tuple[tuple[str, str | None], ...]:
    import importlib.metadata as md

    versions: list[tuple[str, str | None]] = []
    for pkg in ("stylestudy", "numpy", "scipy", "pandas", "statsmodels", "choix",
                "krippendorff", "matplotlib", "torch", "lpips", "scikit-image"):
        try:
            versions.append((pkg, md.version(pkg)))
        except md.PackageNotFoundError:
            versions.append((pkg, None))
    return tuple(versions)


def _metadata(settings: Settings) -> dict[str, Any]:
    import platform

    versions = dict(_versions())
    return {"settings": settings.as_dict(), "versions": versions,
            "python": platform.python_version(), "seed": settings.seed,
            "created": pd.Timestamp.now(tz="UTC").isoformat(),
            "rng": "numpy.random.default_rng(seed) (PCG64)"}
