"""The self-contained HTML report (inline SVG figures), the figure files and the paper's
LaTeX (tables per question and ``main.tex``).

Every table carries a caption with workers, trials, exclusions, interval method, correction
and family, and a ``reason`` column for rows whose numbers are not the primary method's;
the page opens with the warnings. Wide tables scroll inside their box, so the page fits a
1280-pixel window. The metadata block holds settings, seeds and package versions.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from stylestudy.analysis import figures, latex
from stylestudy.analysis.bt import ALPHA
from stylestudy.analysis.jod import SEPARATION_SD

if TYPE_CHECKING:
    from stylestudy.analysis.api import Report

__all__ = ["caption", "paper_caption", "write_figures", "write_html", "write_latex"]

#: what each table's interval, test and correction are (table name prefix → text)
METHODS = {
    "pairs": "Interval: Wilson 95% (cp_*: Clopper-Pearson). p: exact two-sided binomial "
             "against 0.5. Corrections: Holm (p_holm) and Benjamini-Hochberg (p_bh). "
             "reason: one side always chosen (separation) or always/never chosen on one "
             "side (quasi-separation by position).",
    "jod_differences": "JOD differences: two-sided z-test 2·Φ(−|d|/√V) from the bootstrap "
                       "covariance (pwcmp reports the one-sided tail, shown as "
                       "p_pwcmp_one_sided); where the distance rests on the separation prior "
                       "or the variance is zero or missing, the exact binomial test of the "
                       "direct judgments (test, reason); Holm over the tested pairs.",
    "jod": "JOD: Thurstone Case V (pwcmp pw_scale, σ 1.4826, Gaussian prior, mean0), each "
           "connected component alone; pairs whose judgments all went one way get the "
           f"separation prior N(0, {SEPARATION_SD:.2f}²) on their distance. Interval: "
           "bootstrap percentile over workers (jod_low/high, as pwcmp) and over workers × "
           f"items (jod_crossed_*). BT: choix.opt_pairwise(alpha={ALPHA:g}), "
           "bt_jod = 1.4826·Φ⁻¹(logistic(θ)).",
    "dependence": "Dependence-aware estimate, interval and p (method column): the two-way "
                  "cluster-robust GLM y ~ 1 + side (worker, item; 95% Wald) where it can be "
                  "trusted, else the sign-flip test over workers (wild cluster bootstrap) "
                  "with the crossed bootstrap or Clopper-Pearson interval (reason says "
                  "why). crossed_*: crossed worker × item bootstrap percentile interval; "
                  "side_p: the position term (Fisher's exact test when the GLM is not "
                  "used); variance components: BinomialBayesMixedGLM.fit_vb SDs (logit "
                  "scale). No multiplicity correction.",
    "scenes": "Per scene (content × style item) JOD, each connected component alone; "
              "interval: bootstrap percentile over workers.",
    "outliers": "pwcmp pw_outlier_analysis per component: leave-one-out log10-likelihood "
                "per pair; flagged when dist_L > 1.5 (inspected, not excluded).",
    "agreement": "Krippendorff α (nominal), Fleiss κ (only with equal raters per unit), raw "
                 "pairwise agreement; split-half reliability of the JOD vector "
                 "(Spearman-Brown, random worker halves).",
    "trade_off": "JOD content against JOD stylization per condition; bootstrap percentile "
                 "intervals; method, knob and setting from the conditions' generation "
                 "parameters (order: place on the method's curve).",
    "metric_agreement": "2AFC score (share of people agreeing with the metric's choice; "
                        "content question: SSIM, LPIPS; style question: Gram); interval: "
                        "crossed item × worker bootstrap; human leave-one-out and majority "
                        "ceilings.",
    "position_bias": "Share of real trials in which the left image was chosen; Wilson 95% "
                     "interval; exact two-sided binomial p against 0.5.",
    "metric_paired": "Paired bootstrap (same comparisons) of the 2AFC score difference.",
    "metric_method_level": "Method level: Kendall τ and Spearman ρ between per-method "
                           "JOD and the per-method mean metric (signed: larger = closer); "
                           "interval: JOD bootstrap paired with item resamples. Six methods "
                           "or fewer give weak evidence.",
}

QUESTIONS = {"content": "content preservation", "style": "stylization"}


def _method_text(name: str) -> str:
    for prefix in sorted(METHODS, key=len, reverse=True):
        if name.startswith(prefix):
            return METHODS[prefix]
    return ""


def _sample(report: Report) -> str:
    s = report.qc.summary.attrs
    return (f"{s['workers_after']} workers ({s['workers_before']} before exclusions), "
            f"{s['trials_after']} real trials ({s['trials_before']} before); excluded by: "
            f"{', '.join(report.settings.qc.exclude) or 'none'}")


def caption(report: Report, name: str = "pairs") -> str:
    """The caption every table carries."""
    s = report.qc.summary.attrs
    st = report.settings
    family = ("one family per question" if st.family == "question"
              else "all questions together")
    focal = f"; Holm family: {st.focal_method} vs each other method" if st.focal_method else ""
    if name.endswith("without_exclusions"):
        n = (f"WITHOUT exclusions: {s['workers_before']} workers, {s['trials_before']} real "
             f"trials (the rules ({', '.join(st.qc.exclude) or 'none'}) would leave "
             f"{s['workers_after']} workers, {s['trials_after']} trials)")
    else:
        n = _sample(report)
    if s.get("catch_unscored"):
        n += f" ({s['catch_unscored']} catch trials without an expected answer: not scored)"
    return (f"{n}. Family: {family}{focal}. "
            f"Bootstrap B = {st.bootstrap}, seed {st.seed}. {_method_text(name)}")


def paper_caption(report: Report, kind: str, question: str) -> str:
    """The short caption of a paper table or figure."""
    q = QUESTIONS.get(question, question)
    if kind == "methods":
        what = (f"{q.capitalize()}: JOD per method (Thurstone Case V as pwcmp; 1 JOD = 75% "
                "preference) with its 95% bootstrap percentile interval over workers, and "
                "Bradley–Terry converted to JOD")
    elif kind == "pairs":
        fam = "per question" if report.settings.family == "question" else "over all questions"
        what = (f"{q.capitalize()}: pairwise preferences. Rate = share choosing A with its "
                f"Wilson 95% interval; p: exact two-sided binomial test against 0.5; Holm "
                f"{fam}; p_dep: dependence-aware test (workers and items), method in the notes")
    elif kind == "preferences":
        what = f"{q.capitalize()}: share choosing A per pair with its Wilson 95% interval"
    elif kind == "jod":
        what = (f"{q.capitalize()}: JOD per method with its 95% bootstrap interval; hollow, "
                "dashed: distance set by the separation prior")
    elif kind == "trade_off":
        what = ("Content–style trade-off: JOD content preservation (x) against JOD "
                "stylization (y), one curve per method through its settings in knob order")
    else:
        what = f"{q.capitalize()}: 2AFC agreement of each metric with people"
    return f"{report.title}. {what}. {_sample(report)}."


def _cell(v: object) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    try:
        if pd.isna(v):
            return ""
    except (TypeError, ValueError):
        pass
    return html.escape(str(v))


def _table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    why = cols.index("reason") if "reason" in cols else -1
    rows = []
    for rec in df.itertuples(index=False):
        cells = "".join(f"<td class='why'>{_cell(v)}</td>" if i == why
                        else f"<td>{_cell(v)}</td>" for i, v in enumerate(rec))
        flagged = why >= 0 and isinstance(rec[why], str) and rec[why]
        rows.append(f"<tr class='flag'>{cells}</tr>" if flagged else f"<tr>{cells}</tr>")
    return (f"<div class='scroll'><table class='t'><thead><tr>{head}</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></div>")


def write_figures(report: Report, out: Path) -> dict[str, tuple[str, dict[str, Path], str]]:
    """Every figure as PDF and SVG in ``out``: {name: (inline svg, paths, caption)}."""
    t = report.scaling.get("tables", {})
    made = {}

    def add(name: str, fig, kind: str, question: str = "") -> None:
        svg, paths = figures.save(fig, out, name)
        made[name] = (svg, paths, paper_caption(report, kind, question))

    for q in dict.fromkeys(report.pairs["question"]):
        add(f"preferences_{q}", figures.preference_figure(report.pairs, q), "preferences", q)
        if f"jod_{q}" in t:
            add(f"jod_{q}", figures.jod_figure(t[f"jod_{q}"], q), "jod", q)
    if "trade_off" in t:
        add("trade_off", figures.trade_off_figure(t["trade_off"]), "trade_off")
    if "metric_agreement" in t:
        ma = t["metric_agreement"]
        for q in dict.fromkeys(ma["question"]):
            add(f"metric_agreement_{q}",
                figures.metric_agreement_figure(ma[ma.question == q], q), "metric", q)
    return made


def write_latex(report: Report, out: Path,
                made: dict[str, tuple[str, dict[str, Path], str]]) -> dict[str, Path]:
    """Per question ``methods_<q>.tex`` and ``pairs_<q>.tex``, and ``main.tex``."""
    t = report.scaling.get("tables", {})
    files = {}
    for q in dict.fromkeys(report.pairs["question"]):
        if f"jod_{q}" in t:
            path = out / f"methods_{q}.tex"
            path.write_text(latex.methods_table(t[f"jod_{q}"], q,
                                                paper_caption(report, "methods", q)),
                            encoding="utf-8")
            files[f"latex_methods_{q}"] = path
        path = out / f"pairs_{q}.tex"
        path.write_text(latex.pairs_table(report.pairs, t.get(f"dependence_{q}"), q,
                                          paper_caption(report, "pairs", q)), encoding="utf-8")
        files[f"latex_pairs_{q}"] = path
    figs = [(str(paths["pdf"]), cap) for _, paths, cap in made.values()]
    text = latex.main_tex(f"{report.title}: stylestudy report",
                          [str(p) for p in files.values()], figs)
    files["latex_main"] = out / "main.tex"
    files["latex_main"].write_text(text, encoding="utf-8")
    return files


def _section(title: str, body: list[str]) -> str:
    return f"<section><h2>{html.escape(title)}</h2>" + "\n".join(body) + "</section>"


def _captioned(report: Report, name: str, table: pd.DataFrame, title: str = "") -> str:
    head = f"<h3>{html.escape(title)}</h3>" if title else ""
    return (f"{head}<p class='cap'>{html.escape(caption(report, name))}</p>"
            + _table(table))


def _figure(made: dict, name: str) -> str:
    if name not in made:
        return ""
    svg, paths, cap = made[name]
    links = " ".join(f"<a href='{html.escape(p.name)}'>{k.upper()}</a>"
                     for k, p in paths.items())
    return (f"<figure>{svg}<figcaption>{html.escape(cap)} ({links})</figcaption></figure>")


def write_html(report: Report, path: Path,
               made: dict[str, tuple[str, dict[str, Path], str]] | None = None) -> Path:
    """Write one HTML file with every table and figure inline (no external resources)."""
    made = made or {}
    t = report.scaling.get("tables", {})
    questions = list(dict.fromkeys(report.pairs["question"]))
    parts = [f"<h1>{html.escape(report.title)}: stylestudy report</h1>"]
    warnings = report.scaling.get("warnings", [])
    if warnings:
        parts.append("<section class='warn'><h2>Warnings</h2><ul>" + "".join(
            f"<li>{html.escape(w)}</li>" for w in warnings) + "</ul></section>")
    body = []
    for q in questions:
        body += [f"<h3>{html.escape(q)}</h3>", _figure(made, f"preferences_{q}"),
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
            body += [f"<h3>{html.escape(q)}</h3>", _figure(made, f"jod_{q}"),
                     _captioned(report, "jod", t[f"jod_{q}"]),
                     _captioned(report, "jod_differences", t[f"jod_differences_{q}"],
                                f"{q}: JOD differences")]
    if body:
        parts.append(_section("JOD scale", body))
    if "trade_off" in t:
        parts.append(_section("Content-style trade-off", [
            _figure(made, "trade_off"), _captioned(report, "trade_off", t["trade_off"])]))
    if "metric_agreement" in t:
        ma = t["metric_agreement"]
        body = [_figure(made, f"metric_agreement_{q}") for q in dict.fromkeys(ma["question"])]
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
           "<meta name='viewport' content='width=device-width, initial-scale=1'>"
           f"<title>{html.escape(report.title)} - stylestudy report</title><style>"
           "*{box-sizing:border-box}"
           "body{font-family:sans-serif;max-width:72em;margin:2em auto;padding:0 1em}"
           ".scroll{overflow-x:auto;max-width:100%;margin:.3em 0 1.5em}"
           "table.t{border-collapse:collapse;font-size:.85em}"
           "table.t td,table.t th{padding:.2em .6em;border-bottom:1px solid #ddd;"
           "text-align:right;white-space:nowrap}"
           "table.t td.why{text-align:left;white-space:normal;min-width:16em;max-width:40em}"
           "tr.flag td{background:#fff6e0}"
           ".cap{color:#444;font-size:.85em;margin:.2em 0}"
           ".warn{background:#fff6e0;border-left:4px solid #d08c00;padding:.2em 1em}"
           "figure{margin:1em 0}figcaption{font-size:.85em;color:#444}"
           "svg{max-width:100%;height:auto;display:block}"
           "pre{white-space:pre-wrap;overflow-wrap:anywhere}"
           "</style></head><body>" + "\n".join(parts) + "</body></html>")
    path.write_text(doc, encoding="utf-8")
    return path
