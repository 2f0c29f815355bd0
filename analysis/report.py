"""Report outputs: CSV tables, the long and pwcmp exports, figures (PDF, SVG), LaTeX tables
with ``main.tex``, and the HTML report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from stylestudy.analysis.data import pwcmp_table

if TYPE_CHECKING:
    from stylestudy.analysis.api import Report

__all__ = ["write_outputs"]


def write_outputs(report: Report, out: Path, html: bool = True) -> dict[str, Path]:
    """Write every table of ``report`` under ``out``; return {name: path}."""
    out.mkdir(parents=True, exist_ok=True)
    files = report.files
    files["judgments"] = out / "judgments.csv"
    report.judgments.to_csv(files["judgments"], index=False)
    files["pwcmp"] = out / "judgments_pwcmp.csv"
    pwcmp_table(report.judgments).to_csv(files["pwcmp"], index=False)
    files["pairs"] = out / "pairs.csv"
    report.pairs.to_csv(files["pairs"], index=False)
    files["pairs_all"] = out / "pairs_without_exclusions.csv"
    report.pairs_all.to_csv(files["pairs_all"], index=False)
    files["qc_workers"] = out / "qc_workers.csv"
    report.qc.workers.to_csv(files["qc_workers"], index=False)
    files["exclusions"] = out / "exclusions.csv"
    report.qc.summary.to_csv(files["exclusions"], index=False)
    for name, table in report.scaling.get("tables", {}).items():
        files[name] = out / f"{name}.csv"
        table.to_csv(files[name], index=False)
    files["metadata"] = out / "metadata.json"
    meta = dict(report.meta)
    meta["qc"] = report.qc.summary.attrs
    files["metadata"].write_text(json.dumps(meta, indent=1, default=str))
    if html:
        from stylestudy.analysis.html import write_figures, write_html, write_latex

        made = write_figures(report, out)
        for name, (_, paths, _) in made.items():
            files.update({f"figure_{name}_{k}": v for k, v in paths.items()})
        files.update(write_latex(report, out, made))
        files["html"] = write_html(report, out / "report.html", made)
    return files
