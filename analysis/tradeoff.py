"""Trade-off curves: which method each condition runs and at which setting of its knob.

A method studied at several settings (STROTSS's content weight, Gatys's ratio, …) is one
curve in the trade-off figure, its points joined in knob order. The method and its knob
come from the conditions' generation parameters (the ``method`` table: name and params)
when the study is read from the database; for a CSV they are parsed from labels of the
form ``method[key=value,…]`` (the generator's default labels).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd

__all__ = ["SWEEP_COLUMNS", "parse_condition", "sweeps"]

#: columns :func:`sweeps` adds per condition
SWEEP_COLUMNS = ("method", "knob", "setting", "order")
_LABEL = re.compile(r"^(?P<method>[^\[]+)\[(?P<setting>.*)\]$")


def parse_condition(label: str) -> tuple[str, str]:
    """``method[key=value,…]`` → (method, 'key=value,…'); a plain label → (label, '')."""
    m = _LABEL.match(str(label))
    return (m["method"], m["setting"]) if m else (str(label), "")


def _value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _sort_key(v: Any) -> tuple:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return (0, float(v), "")
    try:
        return (0, float(str(v)), "")
    except ValueError:
        return (1, 0.0, _value(v))


def _from_label(label: str) -> tuple[str, dict[str, Any]]:
    method, setting = parse_condition(label)
    params = dict(kv.partition("=")[::2] for kv in setting.split(",") if kv)
    return method, params


def sweeps(labels: list[str], conditions: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per label: its method, the knob its method's conditions vary (the parameter
    names whose values differ among them, joined by ``,``), its setting of that knob, and
    its position along the method's curve (``order``, 0 first).

    ``conditions`` (columns condition, method, params) gives each label's generation
    parameters; labels it lacks are parsed."""
    known: dict[str, tuple[str, dict[str, Any]]] = {}
    if conditions is not None:
        for r in conditions.itertuples():
            known[str(r.condition)] = (str(r.method), dict(r.params or {}))
    parsed = {lab: known.get(lab) or _from_label(lab) for lab in labels}
    rows = []
    by_method: dict[str, list[str]] = {}
    for lab in labels:
        by_method.setdefault(parsed[lab][0], []).append(lab)
    for method, labs in by_method.items():
        keys = sorted({k for lab in labs for k in parsed[lab][1]})
        knob = [k for k in keys
                if len({_value(parsed[lab][1].get(k)) for lab in labs}) > 1]
        values = {lab: [parsed[lab][1].get(k) for k in knob] for lab in labs}
        ordered = sorted(labs, key=lambda lab: ([_sort_key(v) for v in values[lab]], lab))
        for i, lab in enumerate(ordered):
            setting = ",".join(_value(v) if len(knob) == 1 else f"{k}={_value(v)}"
                               for k, v in zip(knob, values[lab], strict=True))
            rows.append({"condition": lab, "method": method, "knob": ",".join(knob),
                         "setting": setting, "order": i})
    return pd.DataFrame(rows, columns=["condition", *SWEEP_COLUMNS])
