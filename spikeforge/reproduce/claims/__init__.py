"""The six claims of the study, by number.

Each claim is a :class:`Claim`: ``arms(budget)`` lists the training runs it needs (arms with
the same config are shared between claims) and ``analyze(results, budget, out_dir)`` turns the
finished runs into a :class:`~spikeforge.reproduce.report.ClaimReport`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path

from ...analysis.sweep import Arm, ArmResult
from ..report import ClaimReport
from ..tasks import Budget
from . import event_losses, imp_static, lts_convergence, patterns, thresholds

__all__ = ["CLAIMS", "Claim"]


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim: its number, output folder name, title, runs and analysis."""

    number: int
    key: str
    title: str
    arms: Callable[[Budget], list[Arm]]
    analyze: Callable[[Mapping[str, ArmResult], Budget, Path], ClaimReport]


CLAIMS: dict[int, Claim] = {
    1: Claim(1, imp_static.KEY, imp_static.TITLE, imp_static.arms, imp_static.analyze),
    2: Claim(2, lts_convergence.KEY, lts_convergence.TITLE, lts_convergence.arms, lts_convergence.analyze),
    3: Claim(3, event_losses.KEY_TETS, event_losses.TITLE_TETS, event_losses.arms, event_losses.analyze_tets),
    4: Claim(4, event_losses.KEY_IMP_TETS, event_losses.TITLE_IMP_TETS, event_losses.arms,
             event_losses.analyze_imp_tets),
    5: Claim(5, thresholds.KEY, thresholds.TITLE, thresholds.arms, thresholds.analyze),
    6: Claim(6, patterns.KEY, patterns.TITLE, patterns.arms, patterns.analyze),
}  # fmt: skip
