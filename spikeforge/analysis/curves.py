"""Statistics of per-epoch curves, shared by the analyses and the reproduction study.

A *curve* is one value per evaluated epoch (NaN or ``None`` where an epoch has no value). The
helpers skip missing values instead of failing on them, since a sweep's runs may diverge or
evaluate only every few epochs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..train.runfolder import EPOCH

__all__ = ["epochs_to_reach", "last_finite", "mean_std", "metric_curve", "stack_mean_std"]


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)


def last_finite(values: Sequence[float | None]) -> float:
    """The last finite value of a curve (NaN when there is none)."""
    for v in reversed(list(values)):
        if _finite(v):
            return float(v)
    return math.nan


def epochs_to_reach(
    curve: Sequence[float | None], target: float, epochs: Sequence[int] | None = None, censor: int | None = None
) -> int | None:
    """The first epoch at which ``curve`` reaches ``target`` (``>=``).

    Args:
        curve: one value per evaluated epoch (NaN/``None`` for epochs without a value).
        target: the level to reach; a NaN target is never reached.
        epochs: the epoch number of each value (default ``1, 2, ...``).
        censor: returned when the curve never reaches the target (e.g. ``epochs + 1``, so that a
            run that never converges ranks after every run that does); default ``None``.
    """
    epochs = list(epochs) if epochs is not None else list(range(1, len(curve) + 1))
    if not math.isfinite(target):
        return censor
    for e, v in zip(epochs, curve):
        if _finite(v) and v >= target:
            return int(e)
    return censor


def mean_std(values: Sequence[float | None]) -> tuple[float, float]:
    """Mean and population standard deviation, ignoring NaNs (``(nan, nan)`` when empty)."""
    arr = np.asarray([v for v in values if _finite(v)], dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std())


def metric_curve(records: Sequence[dict[str, Any]], key: str, epochs: int) -> list[float]:
    """``records[*][key]`` placed by epoch (1..epochs), NaN where missing."""
    curve = [math.nan] * epochs
    for r in records:
        e = int(r.get(EPOCH, 0))
        if 1 <= e <= epochs and _finite(r.get(key)):
            curve[e - 1] = float(r[key])
    return curve


def stack_mean_std(curves: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over runs at every epoch (NaN-aware; NaN where no run has a value)."""
    arr = np.asarray(curves, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # all-NaN columns are expected
        return np.nanmean(arr, axis=0), np.nanstd(arr, axis=0)
