"""A pair's STROTSS guidance as the guide editor reads and writes it.

Region guides are label maps (0 = unpainted, i = ``colours[i - 1]``) saved as PNGs in exactly
the colours STROTSS reads (``stylestudy.generator.strotss.guidance.extract_regions``: exact uint8
RGB, unpainted = black); point pairs are rows ``[content r, content c, style r, style c]`` in input
pixels. Saving rewrites only the lines of the pair's ``guides:`` entry (found through the
YAML parser's positions), so the rest of the manifest stays byte for byte, comments
included, and validates the result with the manifest loader before it replaces the file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

from stylestudy.db.assets import encode_png, read_image
from stylestudy.errors import UserError
from stylestudy.fileio import atomic_path, write_atomic
from stylestudy.generator import manifest as manifest_mod
from stylestudy.generator.manifest import GUIDE_KINDS, Manifest

__all__ = ["PALETTE", "UNPAINTED", "MAX_COLOURS", "PairGuidance", "find_pair", "pair_guidance",
           "labels_from_guide", "guide_image", "guide_files", "save_guidance",
           "set_guide_entry", "entry_digest"]

#: the editor's colours: far apart in RGB, none of them the unpainted black
PALETTE = (
    ("red", (255, 0, 0)), ("blue", (0, 0, 255)), ("green", (0, 255, 0)),
    ("yellow", (255, 255, 0)), ("magenta", (255, 0, 255)), ("cyan", (0, 255, 255)),
    ("white", (255, 255, 255)), ("orange", (255, 128, 0)),
)
#: unpainted pixels: a region of their own where they cover enough style pixels (STROTSS
#: reads every colour of the style guide)
UNPAINTED = (0, 0, 0)
#: colours one pair may use (label 0 is unpainted; labels are one byte)
MAX_COLOURS = 64


@dataclass
class PairGuidance:
    """What a manifest says about one (content, style) pair."""

    manifest: Manifest
    content: Path
    style: Path
    #: guide kind → file, for the kinds the entry names
    files: dict[str, Path] = field(default_factory=dict)
    points: list[list[float]] = field(default_factory=list)
    #: digest of the entry and its files as read (see :func:`entry_digest`)
    digest: str = ""


def find_pair(m: Manifest, content: str | None, style: str | None) -> tuple[Path, Path]:
    """The pair named by its file names (the manifest's only pair when none is named)."""
    if content is None and style is None and len(m.pairs) == 1:
        return m.pairs[0]
    for c, s in m.pairs:
        if c.name == content and s.name == style:
            return c, s
    if content is None or style is None:
        raise UserError(f"{m.source}: the manifest has {len(m.pairs)} pairs; name one with "
                        "--content FILE --style FILE")
    raise UserError(f"{m.source}: [{content}, {style}] is not a pair of this manifest")


def _raw_entry(m: Manifest, content: str, style: str) -> dict[str, Any] | None:
    for entry in m.raw.get("guides") or []:
        if entry.get("content") == content and entry.get("style") == style:
            return entry
    return None


def entry_digest(m: Manifest, content: str, style: str) -> str:
    """SHA-256 of the pair's guide entry and the bytes of the files it names: a save
    refuses to overwrite guidance that changed on disk after the editor read it."""
    entry = _raw_entry(m, content, style)
    h = hashlib.sha256(json.dumps(entry, sort_keys=True, default=str).encode())
    pair = find_pair(m, content, style)
    for kind in GUIDE_KINDS:
        path = m.guides.get(pair, {}).get(kind)
        h.update(kind.encode() + (path.read_bytes() if path is not None else b"-"))
    return h.hexdigest()


def pair_guidance(m: Manifest, content: str | None = None,
                  style: str | None = None) -> PairGuidance:
    """The pair's guide files and points (the manifest's only pair when none is named)."""
    c, s = find_pair(m, content, style)
    return PairGuidance(m, c, s, dict(m.guides.get((c, s), {})),
                        [list(p) for p in m.points.get((c, s), [])],
                        entry_digest(m, c.name, s.name))


def labels_from_guide(path: Path, shape: tuple[int, int],
                      colours: list[tuple[int, int, int]]) -> tuple[np.ndarray, bool]:
    """A guide image as labels over ``colours`` (extended in place with colours it adds).

    Returns (labels H×W uint8, resized): a guide of another size is resampled to ``shape``
    by nearest neighbour (STROTSS resizes masks itself, so the regions stay the same).
    """
    rgb = read_image(path)
    resized = rgb.shape[:2] != tuple(shape)
    if resized:
        rgb = np.asarray(Image.fromarray(rgb).resize((shape[1], shape[0]), Image.NEAREST))
    found, inverse = np.unique(rgb.reshape(-1, 3), axis=0, return_inverse=True)
    table = np.zeros(len(found), np.uint8)
    for i, colour in enumerate(map(tuple, found.tolist())):
        if colour == UNPAINTED:
            continue
        if colour not in colours:
            if len(colours) >= MAX_COLOURS:
                raise UserError(f"guide {path.name} has more than {MAX_COLOURS} colours; it "
                                "is not a colour-coded region guide")
            colours.append(colour)
        table[i] = colours.index(colour) + 1
    return table[inverse.reshape(-1)].reshape(shape), resized


def guide_image(labels: np.ndarray, colours: list[tuple[int, int, int]]) -> np.ndarray:
    """Labels → uint8 RGB in exactly the given colours (unpainted black)."""
    table = np.array([UNPAINTED, *colours], np.uint8)
    if labels.size and int(labels.max()) >= len(table):
        raise UserError(f"a region label ({int(labels.max())}) has no colour")
    return table[labels]


def guide_files(manifest_path: Path, content: str, style: str) -> dict[str, str]:
    """The editor's guide file names for a pair, relative to the manifest's folder."""
    stem = f"guides/{content}--{style}"
    return {kind: f"{stem}.{kind}.png" for kind in GUIDE_KINDS}


def _scalar(value: Any) -> str:
    """A YAML scalar that reads back as ``value`` (plain where safe, else double-quoted)."""
    if not isinstance(value, str):
        text = repr(_plain(value))  # YAML 1.1 floats need a dot: 1e+20 -> 1.0e+20
        return text.replace("e", ".0e", 1) if "e" in text and "." not in text else text
    if re.fullmatch(r"[\w./][\w./ -]*", value) and not value.endswith(" ") and \
            yaml.safe_load(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False)


def _plain(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def _entry_items(content: str, style: str, regions: dict[str, str] | None,
                 points: list[list[float]]) -> list[tuple[str, Any]]:
    """(key, YAML text) of an entry; ``points`` has a list of row texts."""
    items: list[tuple[str, Any]] = [("content", _scalar(content)), ("style", _scalar(style))]
    items += [(k, _scalar(regions[k])) for k in GUIDE_KINDS if regions and k in regions]
    if points:
        items.append(("points", ["[" + ", ".join(_scalar(v) for v in p) + "]"
                                 for p in points]))
    return items


def _flow_entry(items: list[tuple[str, Any]]) -> str:
    return "{" + ", ".join(f"{k}: " + (f"[{', '.join(v)}]" if isinstance(v, list) else v)
                           for k, v in items) + "}"


def _block_entry(items: list[tuple[str, Any]], dash: int, nl: str) -> list[str]:
    pad = " " * dash
    out = []
    for i, (k, v) in enumerate(items):
        lead = pad + ("- " if i == 0 else "  ")
        if isinstance(v, list):
            out += [f"{lead}{k}:{nl}"] + [f"{pad}    - {row}{nl}" for row in v]
        else:
            out.append(f"{lead}{k}: {v}{nl}")
    return out


def _names(entry: yaml.Node) -> tuple[Any, Any]:
    """(content, style) named by a guides entry node."""
    if not isinstance(entry, yaml.MappingNode):
        return None, None
    found = {k.value: v.value for k, v in entry.value if isinstance(v, yaml.ScalarNode)}
    return found.get("content"), found.get("style")


def _block_end(lines: list[str], first: int, dash: int) -> int:
    """Index of the last line of the block sequence item whose dash is on line ``first``:
    following lines indented deeper belong to it; trailing blank and comment lines do not."""
    last = first
    for i in range(first + 1, len(lines)):
        body = lines[i].strip()
        indent = len(lines[i]) - len(lines[i].lstrip(" "))
        if body and not body.startswith("#"):
            if indent <= dash:
                break
            last = i
    return last


def set_guide_entry(text: str, content: str, style: str,
                    regions: dict[str, str] | None,
                    points: list[list[float]]) -> str:
    """The manifest text with the pair's ``guides:`` entry set to ``regions`` (guide kind →
    file) and ``points``, or removed when there is neither.

    Only the entry's own lines change: every other byte of the file (comments, spacing,
    order, quoting) is kept. The entry keeps the style, flow or block, of its list.
    """
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise UserError(f"the manifest is not valid YAML: {exc}") from None
    if not isinstance(root, yaml.MappingNode):
        raise UserError("a manifest must be a YAML mapping")
    if re.search("\r(?!\n)|[\x85\u2028\u2029]", text):
        raise UserError("the manifest has line breaks other than \\n or \\r\\n; "
                        "the editor keeps files as they are, so it does not edit this one")
    nl = "\r\n" if "\r\n" in text else "\n"
    lines = re.findall(r"[^\n]*\n|[^\n]+$", text)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += nl
    items = _entry_items(content, style, regions, points) if regions or points else None
    node = next((v for k, v in root.value if k.value == "guides"), None)
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
        if items is None:
            return text
        block = _block_entry(items, 2, nl)
        if node is None:
            return "".join(lines) + "guides:" + nl + "".join(block)
        key_line = node.start_mark.line
        head = lines[key_line][:node.start_mark.column] + lines[key_line][node.end_mark.column:]
        return "".join(lines[:key_line] + [head] + block + lines[key_line + 1:])
    if not isinstance(node, yaml.SequenceNode):
        raise UserError("'guides' must be a list")
    entries = node.value
    match = next((i for i, e in enumerate(entries) if _names(e) == (content, style)), None)
    if node.flow_style:
        parts = [_span(lines, e) for e in entries]
        if match is not None:
            parts[match] = _flow_entry(items) if items else None
        elif items:
            parts.append(_flow_entry(items))
        flow = "[" + ", ".join(p for p in parts if p is not None) + "]"
        return _replace_span(lines, node, flow)
    ref = entries[match] if match is not None else entries[-1]
    first = ref.start_mark.line
    dash = lines[first].rfind("-", 0, ref.start_mark.column)
    if dash < 0 or (lines[first][:dash] + lines[first][dash + 1:ref.start_mark.column]).strip():
        raise UserError("cannot edit this manifest's 'guides' list in place: put each entry's "
                        "dash on the line of its first key")
    last = ref.end_mark.line if ref.flow_style else _block_end(lines, first, dash)
    old = lines[first:last + 1]
    if items is None:
        new: list[str] = []
    elif ref.flow_style:  # a replaced entry keeps what followed it on its last line
        tail = lines[last][ref.end_mark.column:] if match is not None else nl
        new = [" " * dash + "- " + _flow_entry(items) + tail]
    else:
        new = _block_entry(items, dash, nl)
    if match is not None:
        return "".join(lines[:first] + new + lines[last + 1:])
    return "".join(lines[:first] + old + new + lines[last + 1:])


def _span(lines: list[str], node: yaml.Node) -> str:
    """The source text of a node that starts and ends inside ``lines``."""
    a, b = node.start_mark, node.end_mark
    if a.line == b.line:
        return lines[a.line][a.column:b.column]
    return lines[a.line][a.column:] + "".join(lines[a.line + 1:b.line]) + \
        lines[b.line][:b.column]


def _replace_span(lines: list[str], node: yaml.Node, new: str) -> str:
    a, b = node.start_mark, node.end_mark
    return "".join(lines[:a.line]) + lines[a.line][:a.column] + new + \
        lines[b.line][b.column:] + "".join(lines[b.line + 1:])


def save_guidance(manifest_path: Path, content: str, style: str,
                  labels: dict[str, np.ndarray] | None,
                  colours: list[tuple[int, int, int]], points: list[list[float]],
                  expect_digest: str | None = None) -> Manifest:
    """Write the pair's guide PNGs and manifest entry; return the validated manifest.

    ``labels`` maps ``content_regions``/``style_regions`` to label maps at the images'
    pixel sizes (None or both unpainted: no region guidance). Refuses (``UserError``) when
    the entry or its files changed since ``expect_digest`` was read, or when the result is
    not a valid manifest; the manifest file is then left as it was.
    """
    manifest_path = Path(manifest_path).resolve()
    folder = os.open(manifest_path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)  # one save at a time per folder
        current = manifest_mod.load(manifest_path)
        c, s = find_pair(current, content, style)
        if expect_digest is not None and entry_digest(current, content, style) != expect_digest:
            raise UserError("this pair's guidance changed on disk after the editor read it; "
                            "reload the page to see it (unsaved work here would be lost)")
        _check_points(points, c, s)
        regions = None
        if labels is not None and any(int(v.max(initial=0)) for v in labels.values()):
            regions = guide_files(manifest_path, content, style)
            images = {kind: guide_image(labels[kind], colours) for kind in GUIDE_KINDS}
            _check_shapes(images, c, s)
            _check_regions(images)
            for kind, rel in regions.items():
                write_atomic(manifest_path.parent / rel, encode_png(images[kind]))
        text = set_guide_entry(manifest_path.read_text(), content, style, regions, points)
        with atomic_path(manifest_path) as tmp:
            tmp.write_text(text)
            saved = manifest_mod.load(tmp)
        saved.source = manifest_path
        return saved
    except OSError as exc:
        raise UserError(f"cannot save the guidance: {exc}") from None
    finally:
        os.close(folder)


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.height, im.width


def _check_points(points: list[list[float]], content: Path, style: Path) -> None:
    (ch, cw), (sh, sw) = _size(content), _size(style)
    for row in points:
        ok = len(row) == 4 and all(isinstance(v, int | float) and not isinstance(v, bool)
                                   for v in row)
        if not ok or not (0 <= row[0] < ch and 0 <= row[1] < cw
                          and 0 <= row[2] < sh and 0 <= row[3] < sw):
            raise UserError(f"point pair {row!r} is not [content r, content c, style r, "
                            f"style c] inside the images ({cw}×{ch} and {sw}×{sh})")


def _check_shapes(images: dict[str, np.ndarray], content: Path, style: Path) -> None:
    for kind, path in (("content_regions", content), ("style_regions", style)):
        want = _size(path)
        if images[kind].shape[:2] != want:
            raise UserError(f"the {kind} guide is {images[kind].shape[1]}×"
                            f"{images[kind].shape[0]}, but {path.name} is {want[1]}×{want[0]}")


def _check_regions(images: dict[str, np.ndarray]) -> None:
    """STROTSS must be able to read the guides (a style colour over its pixel minimum)."""
    from stylestudy.generator.strotss.guidance import extract_regions

    extract_regions(images["content_regions"], images["style_regions"])
