"""STROTSS (Kolkin, Salavon, Shakhnarovich, CVPR 2019): style transfer by relaxed optimal
transport and self-similarity, reimplemented from ``specs/strotss.md``."""

from generator.strotss.features import Hypercolumn
from generator.strotss.optimise import Config, RunInfo, Task, schedule, stylize, stylize_batch

__all__ = ["Config", "Hypercolumn", "RunInfo", "Task", "schedule", "stylize", "stylize_batch"]
