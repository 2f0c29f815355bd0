"""The self-contained HTML report (inline SVG figures) and LaTeX tables.

Every table carries a caption with workers, trials, exclusions, interval method, correction
and family; the metadata block holds settings, seeds and package versions.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from analysis import figures

if TYPE_CHECKING:
    from analysis.api import Report

__all__ = ["caption", "write_html", "write_latex"]

#: what each table's interval, test and correction are (table name prefix → text)
METHODS = {
    "pairs": "Interval: Wilson 95% (cp_*: Clopper-Pearson). p: exact two-sided binomial "
             "against 0.5. Corrections: Holm (p_holm) and Benjamini-Hochberg (p_bh).",
    "jod_differences": "JOD differences: two-sided z-test 2*Phi(-|d|/sqrt(V)) from the "
                       "bootstrap covariance (pwcmp reports the one-sided tail, shown as "
                       "p_pwcmp_one_sided); Holm over all condition pairs of the question.",
    "jod": "JOD: Thurstone Case V (pwcmp pw_scale, sigma 1.4826, Gaussian prior, mean0). "
           "Interval: bootstrap percentile over workers (jod_low/high, as pwcmp) and over "
           "workers x items (jod_crossed_*). BT: choix.opt_pairwise(alpha=1e-4), "
           "bt_jod = 1.4826*Phi^-1(logistic(theta)).",
    "dependence": "Two-way cluster-robust GLM y ~ 1 + side (worker, item), 95% Wald interval "
                  "(glm_*); crossed worker x item bootstrap percentile interval (crossed_*); "
                  "variance components: BinomialBayesMixedGLM.fit_vb SDs (logit scale). "
                  "No multiplicity correction.",
    "scenes": "Per scene (content x style item) JOD; interval: bootstrap percentile over "
              "workers.",
    "outliers": "pwcmp pw_outlier_analysis: leave-one-out log10-likelihood per pair; "
                "flagged when dist_L > 1.5 (inspected, not excluded).",
    "agreement": "Krippendorff alpha (nominal), Fleiss kappa (only with equal raters per "
                 "unit), raw pairwise agreement; split-half reliability of the JOD vector "
                 "(Spearman-Brown, random worker halves).",
    "trade_off": "JOD content against JOD stylization per condition; bootstrap percentile "
                 "intervals.",
    "metric_agreement": "2AFC score (share of people agreeing with the metric's choice; "
                        "content question: SSIM, LPIPS; style question: Gram); interval: "
                        "crossed item x worker bootstrap; human leave-one-out and majority "
                        "ceilings.",
    "position_bias": "Share of real trials in which the left image was chosen; Wilson 95% "
                     "interval; exact two-sided binomial p against 0.5.",
    "metric_paired": "Paired bootstrap (same comparisons) of the 2AFC score difference.",
    "metric_method_level": "Method level: Kendall tau and Spearman rho between per-method "
                           "JOD and the per-method mean metric (signed: larger = closer); "
                           "interval: JOD bootstrap paired with item resamples. Six methods "
                           "or fewer give weak evidence.",
}


def _method_text(name: str) -> str:
    for prefix in sorted(METHODS, key=len, reverse=True):
        if name.startswith(prefix):
            return METHODS[prefix]
    return ""


def caption(report: Report, name: str = "pairs") -> str:
    """The caption every table carries."""
    s = report.qc.summary.attrs
    st = report.settings
    family = ("one family per question" if st.family == "question"
              else "both questions together")
    focal = f"; Holm family: {st.focal_method} vs each other method" if st.focal_method else ""
    if name.endswith("without_exclusions"):
        n = (f"WITHOUT exclusions: {s['workers_before']} workers, {s['trials_before']} real "
             f"trials (the rules ({', '.join(st.qc.exclude) or 'none'}) would leave "
             f"{s['workers_after']} workers, {s['trials_after']} trials)")
    else:
        n = (f"{s['workers_after']} workers ({s['workers_before']} before exclusions), "
             f"{s['trials_after']} real trials ({s['trials_before']} before); excluded by: "
             f"{', '.join(st.qc.exclude) or 'none'}")
    if s.get("catch_unscored"):
        n += f" ({s['catch_unscored']} catch trials without an expected answer: not scored)"
    return (f"{n}. Family: {family}{focal}. "
            f"Bootstrap B = {st.bootstrap}, seed {st.seed}. {_method_text(name)}")


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, float_format=lambda x: f"{x:.4g}", border=0, classes="t",
                      na_rep="")


def write_latex(report: Report, out: Path) -> dict[str, Path]:
    """One ``.tex`` table per headline table, captioned as in the HTML report."""
    files = {}
    tables = {"pairs": report.pairs, "pairs_without_exclusions": report.pairs_all,
              **report.scaling.get("tables", {})}
    for name, table in tables.items():
        path = out / f"{name}.tex"
        path.write_text(table.to_latex(index=False, float_format="%.4g", na_rep="",
                                       caption=caption(report, name),
                                       label=f"tab:{name}", escape=True))
        files[f"latex_{name}"] = path
    return files


def _section(title: str, body: list[str]) -> str:
    return f"<section><h2>{html.escape(title)}</h2>" + "\n".join(body) + "</section>"


def _captioned(report: Report, name: str, table: pd.DataFrame, title: str = "") -> str:
    head = f"<h3>{html.escape(title)}</h3>" if title else ""
    return (f"{head}<p class='cap'>{html.escape(caption(report, name))}</p>"
            + _table(table))


def write_html(report: Report, path: Path) -> Path:
    """Write one HTML file with every table and figure inline (no external resources)."""
    t = report.scaling.get("tables", {})
    questions = list(dict.fromkeys(report.pairs["question"]))
    parts = [f"<h1>{html.escape(report.title)}: stylestudy report</h1>"]
    body = []
    for q in questions:
        body += [f"<h3>{html.escape(q)}</h3>", figures.preference_plot(report.pairs, q),
                 _captioned(report, "pairs", report.pairs[report.pairs.question == q]),
                 _captioned(report, "pairs_without_exclusions",
                            report.pairs_all[report.pairs_all.question == q],
                            f"{q}: without exclusions")]
    if "position_bias" in t:
        body.append(_captioned(report, "position_bias", t["position_bias"],
                               "position bias: share of choices for the left image"))
    parts.append(_section("Per-pair preferences", body))
    body = []
    for q in questions:
        if f"jod_{q}" in t:
            body += [f"<h3>{html.escape(q)}</h3>", figures.jod_plot(t[f"jod_{q}"], q),
                     _captioned(report, "jod", t[f"jod_{q}"]),
                     _captioned(report, "jod_differences", t[f"jod_differences_{q}"],
                                f"{q}: JOD differences")]
    if body:
        parts.append(_section("JOD scale", body))
    if "trade_off" in t:
        parts.append(_section("Content-style trade-off", [
            figures.trade_off_plot(t["trade_off"]), _captioned(report, "trade_off",
                                                               t["trade_off"])]))
    if "metric_agreement" in t:
        ma = t["metric_agreement"]
        body = [figures.metric_agreement_plot(ma[ma.question == q], q)
                for q in dict.fromkeys(ma["question"])]
        body.append(_captioned(report, "metric_agreement", ma))
        for name in ("metric_paired", "metric_method_level"):
            if name in t:
                body.append(_captioned(report, name, t[name]))
        parts.append(_section("Metric-human agreement", body))
    for title, prefix in (("Dependence-aware inference", "dependence"),
                          ("Per-scene JOD", "scenes"), ("Observer outliers", "outliers")):
        body = [_captioned(report, prefix, t[f"{prefix}_{q}"], q) for q in questions
                if f"{prefix}_{q}" in t]
        if body:
            parts.append(_section(title, body))
    if "agreement" in t:
        parts.append(_section("Agreement and reliability",
                              [_captioned(report, "agreement", t["agreement"])]))
    parts.append(_section("Quality control", [
        _captioned(report, "qc", report.qc.summary, "exclusion report"),
        _captioned(report, "qc", report.qc.workers, "per worker")]))
    parts.append(_section("Metadata", ["<pre>" + html.escape(
        json.dumps(report.meta, indent=1, default=str)) + "</pre>"]))
    doc = ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
           f"<title>{html.escape(report.title)} - stylestudy report</title><style>"
           "body{font-family:sans-serif;max-width:72em;margin:2em auto;padding:0 1em}"
           "table.t{border-collapse:collapse;font-size:.85em;margin:.3em 0 1.5em}"
           "table.t td,table.t th{padding:.2em .6em;border-bottom:1px solid #ddd;"
           "text-align:right}.cap{color:#444;font-size:.85em;margin:.2em 0}"
           "svg{max-width:100%;height:auto;display:block}"
           "</style></head><body>" + "\n".join(parts) + "</body></html>")
    path.write_text(doc, encoding="utf-8")
    return path
