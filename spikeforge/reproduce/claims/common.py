"""Arm builders and helpers shared by several claims.

Arms with the same factors get the same config and name, so a run that two claims need (claim 1's
digits models are claim 6's) is trained once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ...analysis.sweep import Arm, ArmResult
from ...train.runfolder import TEST_ACC
from ..stats import last_finite
from ..tasks import Budget, task_config

__all__ = [
    "CHANCE",
    "TET_LAMBDA",
    "TET_LAMBDA_SECONDARY",
    "event_arm",
    "final_accs",
    "mean_of_last",
    "pct",
    "results_for",
    "total_seconds",
]

CHANCE = 0.1  # every task of the study has 10 classes


# TET's MSE regulariser: the official heads (TETClsHead, TETLinearClsHead) have none, i.e. lambda = 0 (the
# primary arms); the original TET code defaults to lambda = 1e-3 (the secondary factor). docs/methods.md A.3.
TET_LAMBDA = 0.0
TET_LAMBDA_SECONDARY = 1e-3


def event_arm(loss: str, learn_imp: bool, seed: int, budget: Budget, lam: float = TET_LAMBDA) -> Arm:
    """An event-data arm (``event_hard``: noisy, reduced ``sim_event_digits`` + the narrow legacy VGG)
    with ``loss`` (TET's regulariser weighted ``lam``) and an optional learnable IMP."""
    changes: dict[str, Any] = {"seed": seed, "loss.name": loss, "loss.options": {"lam": lam}}
    if learn_imp:
        changes["neuron.imp"] = "learn"
    name = f"eventhard-{loss}-lam{lam:g}-{'impL' if learn_imp else 'imp0'}-s{seed}"
    return Arm(name, task_config("event_hard", budget, **changes))


def results_for(results: Mapping[str, ArmResult], arms: Sequence[Arm]) -> list[ArmResult]:
    """The results of ``arms``, in order (a missing one is a bug in the study's bookkeeping)."""
    return [results[a.name] for a in arms]


def final_accs(runs: Sequence[ArmResult]) -> list[float]:
    """The last evaluated test accuracy of each run (a diverged run keeps its last value)."""
    out = []
    for r in runs:
        v = last_finite(r.curve(TEST_ACC))
        out.append(v if math.isfinite(v) else r.test_acc)
    return out


def mean_of_last(runs: Sequence[ArmResult], k: int = 3) -> list[float]:
    """Per run, the mean of its last ``k`` finite test accuracies (one evaluation on a few hundred
    samples is noisy: 360 recordings give a binomial SE of about 1.9 pp at 85%)."""
    out = []
    for r in runs:
        vals = [v for v in r.curve(TEST_ACC) if math.isfinite(v)][-k:]
        out.append(sum(vals) / len(vals) if vals else math.nan)
    return out


def total_seconds(runs: Sequence[ArmResult]) -> float:
    """Summed training time (NaN-safe)."""
    return float(sum(r.seconds for r in runs if math.isfinite(r.seconds)))


def pct(values: Sequence[float]) -> list[float]:
    """Fractions to percent."""
    return [100.0 * v for v in values]
