"""A static HTML gallery of a comparison set: one row per content/style pair (and seed),
the content and the style, then each condition's output. No scripts, relative links only,
so it opens from the exported folder in any browser."""

from __future__ import annotations

from html import escape
from pathlib import Path

import stylestudy

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
table { border-collapse: collapse; }
th, td { padding: 4px; text-align: center; vertical-align: top; }
thead th { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ccc; }
th.input { color: #555; }
td img { display: block; width: 180px; height: auto; }
td.missing { width: 180px; color: #a33; background: #fbeaea; font-size: 12px; }
td .name { font-size: 11px; color: #666; max-width: 180px; overflow-wrap: anywhere; }
"""


def write_gallery(set_name: str, cells: list, path: Path) -> Path:
    """Write ``path`` (HTML) from a set's cells (``stylestudy.generator.sets.Cell``, file paths
    relative to ``path``'s folder); conditions in their order of first appearance."""
    labels = list(dict.fromkeys(c.label for c in cells))
    rows: dict[tuple[str, str, int], dict[str, object]] = {}
    for c in cells:
        rows.setdefault((c.content, c.style, c.seed), {})[c.label] = c
    several = len({c.seed for c in cells}) > 1
    head = "".join(f'<th class="input">{t}</th>' for t in ("content", "style"))
    head += "".join(f"<th>{escape(label)}</th>" for label in labels)
    body = []
    for (content, style, seed), by_label in rows.items():
        tds = [_image(content, Path(content).stem.split("__", 1)[-1]),
               _image(style, Path(style).stem.split("__", 1)[-1]
                      + (f" · seed {seed}" if several else ""))]
        for label in labels:
            cell = by_label.get(label)
            if cell is None:
                tds.append('<td class="missing">not in this set</td>')
            elif cell.output is None:
                tip = f' title="{escape(cell.error)}"' if cell.error else ""
                why = cell.error if len(cell.error) <= 160 else cell.error[:159] + "…"
                tds.append(f'<td class="missing"{tip}>{escape(cell.status)}'
                           f'<div class="name">{escape(why)}</div></td>')
            else:
                tds.append(_image(cell.output.as_posix(), cell.output.name))
        body.append("<tr>" + "".join(tds) + "</tr>")
    html = (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(set_name)} — stylestudy</title><style>{STYLE}</style></head>"
            f"<body><h1>Comparison set {escape(set_name)}</h1>"
            f"<p>{len(rows)} rows × {len(labels)} conditions; made by stylestudy "
            f"{escape(stylestudy.__version__)}. Each image links to its file; "
            f"<code>provenance.csv</code> says how each was made.</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            "</body></html>\n")
    path.write_text(html, encoding="utf-8")
    return path


def _image(src: str, caption: str) -> str:
    src = escape(src, quote=True)
    return (f'<td><a href="{src}"><img src="{src}" alt="{escape(caption, quote=True)}" '
            f'loading="lazy"></a><div class="name">{escape(caption)}</div></td>')
