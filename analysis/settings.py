"""Analysis settings, read from the study spec (``qc`` and ``analysis`` sections) or a file.

Every exclusion rule is fixed here before the data are analysed (docs/analysis.md, "Quality
control"):

```yaml
qc:
  catch_max_failures: 2        # exclude a worker who fails this many catch trials ...
  catch_min_accuracy: 0.8      # ... or whose catch accuracy is below this
  repeat_min_consistency: 0.7  # flag below this share of consistent repeats
  rt_floor_ms: 400             # flag a worker whose median RT is below this
  exclude: [catch, unusable]   # rules that exclude; the others only flag
  completed_only: false        # also exclude sessions that were not completed
```
Rules: ``catch`` (failures/accuracy), ``repeat`` (consistency), ``rt`` (median RT floor),
``incomplete`` (a session not completed/submitted), ``unusable`` (session outcome
``screened_out`` or ``technical_error``, which the server's pwcmp export also drops).
```yaml
analysis:
  focal_method: ours           # Holm family = focal vs each other method
  family: question             # 'question' (one family per question) or 'all'
  bootstrap: 1000              # bootstrap samples (observers), B >= 1000
  pair_bootstrap: 2000         # per-pair crossed bootstrap and sampled sign-flip tests
  seed: 0
```
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from stylestudy.errors import UserError

__all__ = ["QCRules", "Settings", "load_settings"]

RULES = ("catch", "repeat", "rt", "incomplete", "unusable")


@dataclass(frozen=True)
class QCRules:
    """Pre-registered quality-control rules (defaults: docs/analysis.md, "Quality control")."""

    catch_max_failures: int = 2
    catch_min_accuracy: float = 0.8
    repeat_min_consistency: float = 0.7
    rt_floor_ms: float = 400.0
    exclude: tuple[str, ...] = ("catch", "unusable")
    completed_only: bool = False

    # The rules, defined once: the analysis applies them per worker (``stylestudy.analysis.qc``)
    # and the admin dashboard per session (``stylestudy.study_server.study.qc``). Each takes
    # numbers or arrays (then ``n`` > 0 where there is something to score).

    def fails_catch(self, n: Any, failed: Any) -> Any:
        """Rule ``catch``: scored catch trials with too many failures or too low accuracy."""
        with np.errstate(invalid="ignore", divide="ignore"):
            accuracy = 1 - np.divide(failed, n)
        return (np.greater(n, 0) & ((np.greater_equal(failed, self.catch_max_failures))
                                    | np.less(accuracy, self.catch_min_accuracy)))

    def fails_repeat(self, n: Any, consistency: Any) -> Any:
        """Rule ``repeat``: scored repeats chose the same method too rarely."""
        return np.greater(n, 0) & np.less(consistency, self.repeat_min_consistency)

    def too_fast(self, median_rt_ms: Any) -> Any:
        """Rule ``rt``: the median response time over non-catch trials is below the floor
        (no time: not flagged)."""
        rt = np.asarray(median_rt_ms, dtype=float)
        return ~np.isnan(rt) & (rt < self.rt_floor_ms)


@dataclass(frozen=True)
class Settings:
    """Everything that fixes an analysis: QC rules, family, focal method, seeds, B."""

    qc: QCRules = field(default_factory=QCRules)
    focal_method: str | None = None
    family: str = "question"
    bootstrap: int = 1000
    pair_bootstrap: int = 2000
    seed: int = 0
    alpha: float = 0.05

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["qc"]["exclude"] = list(self.qc.exclude)
        return d

    @classmethod
    def from_spec(cls, spec: dict[str, Any] | None, strict: bool = False) -> Settings:
        """Settings from a study spec dict; missing keys default.

        ``strict`` refuses unknown keys (a settings file); a study spec may carry other
        sections' keys under ``qc`` (e.g. the server's catch rate), which are ignored.
        """
        spec = spec or {}
        qc_names = {f.name for f in fields(QCRules)}
        an_names = {f.name for f in fields(cls)} - {"qc"}
        qc_raw = dict(spec.get("qc") or {})
        an_raw = dict(spec.get("analysis") or {})
        if strict:
            _check_keys(qc_raw, qc_names, "qc")
            _check_keys(an_raw, an_names, "analysis")
        qc_raw = {k: v for k, v in qc_raw.items() if k in qc_names}
        an_raw = {k: v for k, v in an_raw.items() if k in an_names}
        if "exclude" in qc_raw:
            ex = qc_raw["exclude"]
            ex = [ex] if isinstance(ex, str) else list(ex or [])
            bad = [r for r in ex if r not in RULES]
            if bad:
                raise UserError(f"qc.exclude: unknown rule(s) {bad}; choose from {list(RULES)}")
            qc_raw["exclude"] = tuple(ex)
        try:
            qc = QCRules(**qc_raw)
            settings = cls(qc=qc, **an_raw)
        except TypeError as exc:
            raise UserError(f"bad analysis settings: {exc}") from None
        if settings.family not in ("question", "all"):
            raise UserError("analysis.family must be 'question' or 'all'")
        if int(settings.bootstrap) < 0:
            raise UserError("analysis.bootstrap must be >= 0")
        if int(settings.pair_bootstrap) < 1:
            raise UserError("analysis.pair_bootstrap must be >= 1")
        return settings


def _check_keys(raw: dict[str, Any], allowed: set[str], section: str) -> None:
    extra = sorted(set(raw) - allowed)
    if extra:
        raise UserError(f"unknown {section} setting(s) {', '.join(extra)}; "
                        f"allowed: {', '.join(sorted(allowed))}")


def load_settings(path: str | os.PathLike | None, spec: dict[str, Any] | None = None) -> Settings:
    """Settings from a YAML/JSON file if given (it overrides), else from the study spec."""
    if path is None:
        return Settings.from_spec(spec)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise UserError(f"cannot read settings file {path}: {exc.strerror}") from None
    try:
        if str(path).endswith(".json"):
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is the user's file
        raise UserError(f"cannot parse settings file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"settings file {path} must hold a mapping with 'qc'/'analysis'")
    extra = sorted(set(data) - {"qc", "analysis"})
    if extra:
        raise UserError(f"settings file {path}: unknown section(s) {', '.join(extra)}; "
                        "allowed: qc, analysis")
    Settings.from_spec(data, strict=True)
    merged = dict(spec or {})
    merged.update(data)
    return Settings.from_spec(merged)
