"""STROTSS (Kolkin, Salavon, Shakhnarovich, CVPR 2019): style transfer by relaxed optimal
transport and self-similarity, reimplemented from ``specs/strotss.md``."""

from generator.strotss.features import Hypercolumn
from generator.strotss.optimise import Config, RunInfo, schedule, stylize

__all__ = ["Config", "Hypercolumn", "RunInfo", "schedule", "stylize"]
