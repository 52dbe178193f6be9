"""Small matplotlib helpers for the study's figures (Agg canvas, no pyplot, PNGs well under 200 KB)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["COLORS", "band", "new_figure", "save"]

DPI = 90  # keeps multi-panel figures around 50-120 KB
COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]


def new_figure(nrows: int, ncols: int, panel: tuple[float, float] = (4.0, 3.2)) -> tuple[Any, np.ndarray]:
    """A constrained-layout figure and a 2-D array of axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    return fig, np.atleast_2d(fig.subplots(nrows, ncols, squeeze=False))


def band(ax: Any, curves: Sequence[Sequence[float]], *, scale: float = 1.0, color: str, label: str) -> None:
    """Mean over runs with a ±1 std band, per epoch (NaN-aware; epochs start at 1)."""
    arr = np.asarray(curves, dtype=float) * scale
    if arr.size == 0:
        return
    with warnings.catch_warnings():  # an epoch where no run has a value is expected (NaN)
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = np.nanmean(arr, axis=0)
        std = np.nanstd(arr, axis=0, ddof=1) if arr.shape[0] > 1 else np.zeros_like(mean)
    x = np.arange(1, arr.shape[1] + 1)
    ok = np.isfinite(mean)
    ax.plot(x[ok], mean[ok], marker="o", markersize=2.5, color=color, label=label)
    ax.fill_between(x[ok], (mean - std)[ok], (mean + std)[ok], color=color, alpha=0.18, linewidth=0)


def save(fig: Any, path: Path) -> Path:
    """Write ``fig`` as PNG at the study's DPI."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")
    return path
