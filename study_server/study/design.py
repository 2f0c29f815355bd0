"""Study design: real cells over method pairs and items, catch cells with a known answer.

A design cell is (question, item = content × style, option A, option B). Real cells compare
two methods' outputs for the same item; catch cells (docs/study-protocol.md, Catch trials) compare

- content question: the item's own output against the same method's output for a
  *different* content image (resized to the same dimensions);
- style question: the item's own output against the same content stylised with a
  *different* style (AutoStyle's "wrong style" trick);

and expect option A. Only pairs that ``catch.check_catch`` finds answerable become catch
cells: for each item the methods are tried in turn (rotating, so catches spread over
methods), each with every eligible other image, until one pair passes.

A question the spec declares follows its ``question_rules``: ``reference`` is the image
shown above the options (content, style or none) and ``catch`` the rule its catch cells
follow (the content or the style rule above, or none: no catch cells). A cell with no
reference shown keeps the catch reference (or the content image) as its record.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from stylestudy.db.assets import load_pixels, store_pixels
from stylestudy.db.models import Asset, ComparisonSet, ComparisonSetMember, Generation, Method
from stylestudy.errors import UserError
from stylestudy.study_server.study.catch import check_catch
from stylestudy.study_server.study.spec import question_rules

__all__ = ["CellPlan", "Outputs", "load_outputs", "plan_cells"]

Item = tuple[int, int]  # (content asset id, style asset id)


@dataclass
class Outputs:
    """Done outputs of a comparison set: ``by_label[label][item] = output Asset``."""

    methods: dict[str, Method]
    by_label: dict[str, dict[Item, Asset]]
    items: list[Item]
    #: labels with an output made with random (uncalibrated) weights
    uncalibrated: set[str] = field(default_factory=set)


@dataclass
class CellPlan:
    question: str
    kind: str
    item: Item
    reference: Asset
    a: Asset
    b: Asset
    method_a: Method | None
    method_b: Method | None
    expected: str | None


def load_outputs(session: Session, set_name: str, seed: int | None) -> Outputs:
    """Collect the finished outputs of comparison set ``set_name`` (one seed per item)."""
    cset = session.scalar(select(ComparisonSet).where(ComparisonSet.name == set_name))
    if cset is None:
        raise UserError(f"comparison set {set_name!r} does not exist (run stylestudy generate)")
    gens = session.scalars(
        select(Generation)
        .join(ComparisonSetMember, ComparisonSetMember.generation_id == Generation.id)
        .where(ComparisonSetMember.set_id == cset.id, Generation.status == "done",
               Generation.output_asset_id.is_not(None))
        .order_by(Generation.seed, Generation.id)).all()
    if seed is not None:
        gens = [g for g in gens if g.seed == seed]
    methods: dict[str, Method] = {}
    by_label: dict[str, dict[Item, Asset]] = {}
    uncalibrated: set[str] = set()
    for g in gens:
        methods[g.method.label] = g.method
        if (g.provenance or {}).get("uncalibrated"):
            uncalibrated.add(g.method.label)
        by_label.setdefault(g.method.label, {}).setdefault(
            (g.content_asset_id, g.style_asset_id), g.output)
    items = sorted({it for outs in by_label.values() for it in outs})
    if not items:
        which = f" with seed {seed}" if seed is not None else ""
        raise UserError(f"comparison set {set_name!r} has no finished outputs{which}")
    return Outputs(methods, by_label, items, uncalibrated)


def _pairs(spec: dict, outputs: Outputs) -> list[tuple[str, str]]:
    labels = spec["methods"] or sorted(outputs.by_label)
    missing = [m for m in labels if m not in outputs.by_label]
    if missing:
        raise UserError(f"method label(s) {', '.join(missing)} have no outputs in comparison set "
                        f"{spec['comparison_set']!r} (labels there: "
                        f"{', '.join(sorted(outputs.by_label))})")
    if len(labels) < 2:
        raise UserError(f"comparison set {spec['comparison_set']!r} has fewer than two methods")
    random = sorted(outputs.uncalibrated.intersection(labels))
    if random:
        raise UserError(f"comparison set {spec['comparison_set']!r}: {', '.join(random)} "
                        "made outputs with random (uncalibrated) weights, which are not results; "
                        "fetch or import the weights and generate again, or leave the method "
                        "out of the study's methods")
    if spec["pairs"] == "all":
        return list(itertools.combinations(labels, 2))
    pairs = []
    for a, b in spec["pairs"]:
        for m in (a, b):
            if m not in labels:
                raise UserError(f"pair [{a}, {b}]: {m!r} is not among the study's methods")
        if (a, b) in pairs or (b, a) in pairs:
            raise UserError(f"pair [{a}, {b}] is listed twice")
        pairs.append((a, b))
    return pairs


def _pixels_like(asset: Asset, like: Asset) -> np.ndarray:
    """``asset``'s pixels at ``like``'s dimensions (Lanczos), as participants see them."""
    pixels = load_pixels(asset)
    if (asset.width, asset.height) == (like.width, like.height):
        return pixels
    return np.asarray(Image.fromarray(pixels).resize((like.width, like.height),
                                                     Image.Resampling.LANCZOS))


def _matched(session: Session, asset: Asset, like: Asset, role: str,
             pixels: np.ndarray | None = None) -> Asset:
    """``asset`` resized to ``like``'s dimensions, stored as a new asset if needed."""
    if (asset.width, asset.height) == (like.width, like.height):
        return asset
    return store_pixels(session, _pixels_like(asset, like) if pixels is None else pixels, role)


def plan_cells(session: Session, spec: dict, outputs: Outputs) -> list[CellPlan]:
    """All real and catch cells of the design; options of one cell get equal dimensions."""
    assets = {a.id: a for a in session.scalars(select(Asset).where(Asset.id.in_(
        {i for it in outputs.items for i in it})))}
    pairs = _pairs(spec, outputs)
    labels = sorted({m for p in pairs for m in p})
    cells: list[CellPlan] = []
    pixels: dict[int, np.ndarray] = {}
    # (question, kind, reference, A, B) of the cells so far: two methods that both ignore
    # the style give the same pair of images for every style; it is shown once
    shown: set[tuple] = set()
    rules = question_rules(spec)
    for q in spec["questions"]:
        catch_rule = rules[q]["catch"]
        shown_kind = next(k for k in (rules[q]["reference"], catch_rule, "content")
                          if k != "none")
        for item in outputs.items:
            ref = assets[item[0] if shown_kind == "content" else item[1]]
            for la, lb in pairs:
                a, b = outputs.by_label[la].get(item), outputs.by_label[lb].get(item)
                if a is None or b is None:
                    continue
                b = _matched(session, b, a, "output")
                if (q, "real", ref.id, a.id, b.id) not in shown:
                    shown.add((q, "real", ref.id, a.id, b.id))
                    cells.append(CellPlan(q, "real", item, ref, a, b, outputs.methods[la],
                                          outputs.methods[lb], None))
        for k, item in enumerate(outputs.items):
            if catch_rule == "none":
                break
            ref = assets[item[0] if shown_kind == "content" else item[1]]
            measured = assets[item[0] if catch_rule == "content" else item[1]]
            catch = _catch(session, q, catch_rule, item, k, labels, outputs, ref, measured,
                           pixels, shown)
            if catch is not None:
                label, a, b = catch
                shown.add((q, "catch", ref.id, a.id, b.id))
                cells.append(CellPlan(q, "catch", item, ref, a, b, outputs.methods[label], None,
                                      "a"))
    if not any(c.kind == "real" for c in cells):
        raise UserError("the design has no cells: no item has outputs of both methods of a pair")
    return cells


def _catch(session: Session, q: str, rule: str, item: Item, k: int, labels: list[str],
           outputs: Outputs, ref: Asset, measured: Asset, pixels: dict[int, np.ndarray],
           shown: set[tuple]) -> tuple[str, Asset, Asset] | None:
    """(method label, own output, distractor) for one item of question ``q``: the first
    pair not already a catch cell that the catch ``rule`` (content or style) finds
    answerable against ``measured``, trying the methods in turn from the k-th and each
    one's other images in turn. ``ref`` is the cell's reference; ``pixels`` caches the
    references (few, and used by every item)."""
    if measured.id not in pixels:
        pixels[measured.id] = load_pixels(measured)
    for j in range(len(labels)):
        label = labels[(k + j) % len(labels)]
        outs = outputs.by_label[label]
        own = outs.get(item)
        if own is None:
            continue
        if rule == "content":  # same style, different content
            others = [it for it in outs if it[1] == item[1] and it[0] != item[0]]
            others = others or [it for it in outs if it[0] != item[0]]
        else:  # same content, different style
            others = [it for it in outs if it[0] == item[0] and it[1] != item[1]]
        own_pixels = load_pixels(own) if others else None
        for i in range(len(others)):
            other = outs[others[(k + i) % len(others)]]
            b = _pixels_like(other, own)
            if check_catch(rule, own_pixels, b, pixels[measured.id]).ok:
                stored = _matched(session, other, own, "catch", b)
                if (q, "catch", ref.id, own.id, stored.id) not in shown:
                    return label, own, stored
    return None
