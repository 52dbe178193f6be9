"""Arm builders and helpers shared by several claims.

The static arms (claims 1, 2 and 6) are built by one function, so that the same factors give
the same config and name, and the run is trained once for all the claims that use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ...train.runfolder import TEST_ACC
from ..runner import Arm, ArmResult
from ..stats import last_finite
from ..tasks import Budget, task_config

__all__ = ["CHANCE", "event_arm", "final_accs", "pct", "results_for", "static_arm", "total_seconds"]

CHANCE = 0.1  # every task of the study has 10 classes


def static_arm(task: str, loss: str, T: int, learn_imp: bool, seed: int, budget: Budget) -> Arm:
    """A static-data arm: ``task`` (``digits`` | ``mnist1d``) trained with ``loss`` at ``T`` steps,
    with a learnable IMP (``imp: learn``, init U(-0.2, 0.2)) or the default IMP of 0."""
    changes: dict[str, Any] = {"T": T, "seed": seed, "loss.name": loss}
    if learn_imp:
        changes["neuron.imp"] = "learn"
    if task == "digits":
        changes["run.checkpoint"] = True  # claim 6 reads the learned IMPs from last.pt
    name = f"{task}-{loss}-T{T}-{'impL' if learn_imp else 'imp0'}-s{seed}"
    return Arm(name, task_config(task, budget, **changes))


def event_arm(loss: str, learn_imp: bool, seed: int, budget: Budget) -> Arm:
    """An event-data arm (``sim_event_digits`` + ``event_convnet``) with ``loss`` and optional learnable IMP."""
    changes: dict[str, Any] = {"seed": seed, "loss.name": loss}
    if learn_imp:
        changes["neuron.imp"] = "learn"
    name = f"event-{loss}-{'impL' if learn_imp else 'imp0'}-s{seed}"
    return Arm(name, task_config("event", budget, **changes))


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


def total_seconds(runs: Sequence[ArmResult]) -> float:
    """Summed training time (NaN-safe)."""
    return float(sum(r.seconds for r in runs if math.isfinite(r.seconds)))


def pct(values: Sequence[float]) -> list[float]:
    """Fractions to percent."""
    return [100.0 * v for v in values]
