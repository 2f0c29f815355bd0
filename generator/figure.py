"""The qualitative figure of a paper: rows of content/style pairs, columns content, style,
then each condition's output, as PDF and PNG plus a LaTeX ``figure`` that typesets the
column labels over the grid."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

import stylestudy
from stylestudy.db.assets import load_pixels
from stylestudy.db.engine import session_scope
from stylestudy.errors import UserError
from stylestudy.generator.imageops import resize
from stylestudy.generator.sets import input_name

#: white space around each cell, as a fraction of the cell width (half on each side)
GAP = 0.04


@dataclass
class FigureFiles:
    pdf: Path
    png: Path
    tex: Path


def _pick(set_name: str, pairs: list[tuple[str, str]] | None, conditions: list[str] | None,
          seed: int | None):
    """(rows of [content, style, *outputs] pixel arrays, column labels) of the set."""
    from stylestudy.db.queries import set_generations

    with session_scope() as session:
        gens = set_generations(set_name, session)
        seeds = sorted({int(g.seed) for g in gens})
        if seed is None:
            seed = seeds[0] if seeds else 0
        elif seed not in seeds:
            raise UserError(f"set {set_name!r} has no seed {seed} (seeds: {seeds})")
        gens = [g for g in gens if g.seed == seed]
        labels = list(dict.fromkeys(g.method.label for g in gens))
        wanted = conditions or labels
        unknown = [c for c in wanted if c not in labels]
        if unknown:
            raise UserError(f"set {set_name!r} has no condition {unknown[0]!r} "
                            f"(conditions: {', '.join(labels)})")
        items = list(dict.fromkeys((g.content, g.style) for g in gens))
        chosen = items if pairs is None else [_find_pair(set_name, items, p) for p in pairs]
        by_key = {(g.content_asset_id, g.style_asset_id, g.method.label): g for g in gens}
        rows, missing = [], []
        for content, style in chosen:
            row = [load_pixels(content), load_pixels(style)]
            for label in wanted:
                g = by_key.get((content.id, style.id, label))
                if g is None or g.output is None:
                    missing.append(f"{label} on {input_name(content)} × {input_name(style)} "
                                   f"({'not in the set' if g is None else g.status})")
                    continue
                row.append(load_pixels(g.output))
            rows.append(row)
    if missing:
        raise UserError(f"the figure needs finished outputs; missing: {', '.join(missing)}")
    return rows, ["Content", "Style", *wanted], seed


def _find_pair(set_name: str, items, pair: tuple[str, str]):
    def named(asset, text: str) -> bool:
        return text in (asset.source_name, input_name(asset))

    for content, style in items:
        if named(content, pair[0]) and named(style, pair[1]):
            return content, style
    known = ", ".join(f"{input_name(c)}:{input_name(s)}" for c, s in items[:20])
    raise UserError(f"set {set_name!r} has no pair {pair[0]}:{pair[1]} (pairs: {known})")


def compose(rows: list[list[np.ndarray]], cell_width: int) -> np.ndarray:
    """The grid as uint8 pixels: equal-width columns, each row as tall as its tallest
    image at that width, images centred on white with a uniform gap."""
    pad = max(1, round(cell_width * GAP / 2))
    heights = [max(round(cell_width * im.shape[0] / im.shape[1]) for im in row)
               for row in rows]
    ncols = len(rows[0])
    grid = np.full((sum(heights) + 2 * pad * len(rows), ncols * (cell_width + 2 * pad), 3),
                   255, np.uint8)
    top = 0
    for row, height in zip(rows, heights, strict=True):
        for col, im in enumerate(row):
            scale = min(cell_width / im.shape[1], height / im.shape[0])
            h, w = max(1, round(im.shape[0] * scale)), max(1, round(im.shape[1] * scale))
            y = top + pad + (height - h) // 2
            x = col * (cell_width + 2 * pad) + pad + (cell_width - w) // 2
            grid[y:y + h, x:x + w] = resize(im, (h, w))
        top += height + 2 * pad
    return grid


def latex_escape(text: str) -> str:
    """``text`` safe in LaTeX running text."""
    table = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
             "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
             "^": r"\textasciicircum{}"}
    return "".join(table.get(ch, ch) for ch in text)


def latex_snippet(set_name: str, labels: list[str], graphic: str, seed: int) -> str:
    """A ``figure`` with one centred label per column over ``graphic`` (needs graphicx)."""
    n = len(labels)
    width = rf"{1 / n:.6f}\linewidth"
    heads = "%\n".join(rf"  \makebox[{width}][c]{{\strut {latex_escape(label)}}}"
                       for label in labels)
    tag = re.sub(r"[^A-Za-z0-9]+", "-", set_name).strip("-") or "set"
    shown = ", ".join(latex_escape(label) for label in labels)
    return (f"% stylestudy {stylestudy.__version__}: qualitative figure of comparison set "
            f"{set_name!r}, seed {seed}\n"
            "% needs \\usepackage{graphicx}; the grid's columns are equally wide, so each "
            "label sits over its column\n"
            "\\begin{figure}[t]\n  \\centering\\small\n  \\noindent%\n"
            f"{heads}%\n  \\\\[2pt]\n"
            f"  \\includegraphics[width=\\linewidth]{{{graphic}}}\n"
            f"  \\caption{{Qualitative comparison on \\texttt{{{latex_escape(set_name)}}}: "
            f"{shown}.}}\n"
            f"  \\label{{fig:qualitative-{tag}}}\n"
            "\\end{figure}\n")


def make_figure(set_name: str, out: str | Path, pairs: list[tuple[str, str]] | None = None,
                conditions: list[str] | None = None, seed: int | None = None,
                cell_width: int | None = None) -> FigureFiles:
    """Write ``out`` (.pdf), the same grid as .png, and the LaTeX snippet as .tex."""
    from matplotlib.figure import Figure

    out = Path(out)
    if out.suffix.lower() != ".pdf":
        raise UserError(f"--out must name a .pdf file, got {str(out)!r}")
    rows, labels, seed = _pick(set_name, pairs, conditions, seed)
    if not rows:
        raise UserError(f"set {set_name!r} has no pairs to show")
    width = cell_width or max(im.shape[1] for row in rows for im in row[2:])
    grid = compose(rows, width)
    out.parent.mkdir(parents=True, exist_ok=True)
    png, tex = out.with_suffix(".png"), out.with_suffix(".tex")
    Image.fromarray(grid).save(png, optimize=True)
    dpi = 300
    fig = Figure(figsize=(grid.shape[1] / dpi, grid.shape[0] / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(grid, interpolation="none", aspect="auto")
    ax.set_axis_off()
    fig.savefig(out, dpi=dpi, metadata={"Title": f"{set_name}: qualitative comparison",
                                        "Creator": f"stylestudy {stylestudy.__version__}"})
    tex.write_text(latex_snippet(set_name, labels, out.name, seed), encoding="utf-8")
    return FigureFiles(out, png, tex)
