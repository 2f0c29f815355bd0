"""STROTSS (Kolkin, Salavon, Shakhnarovich, CVPR 2019): style transfer by relaxed optimal
transport and self-similarity, reimplemented from the official code (docs/methods-strotss.md)."""

from stylestudy.generator.strotss.features import Hypercolumn
from stylestudy.generator.strotss.optimise import (
    Config,
    RunInfo,
    Task,
    schedule,
    stylize,
    stylize_batch,
)

__all__ = ["Config", "Hypercolumn", "RunInfo", "Task", "schedule", "stylize", "stylize_batch"]
