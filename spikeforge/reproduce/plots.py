"""Small matplotlib helpers for the study's figures (Agg canvas, no pyplot, PNGs well under 200 KB)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["COLORS", "aligned", "band", "label_axes", "new_figure", "save"]

DPI = 90  # keeps multi-panel figures around 50-120 KB
COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]


def new_figure(nrows: int, ncols: int, panel: tuple[float, float] = (4.0, 3.2)) -> tuple[Any, np.ndarray]:
    """A constrained-layout figure and a 2-D array of axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    return fig, np.atleast_2d(fig.subplots(nrows, ncols, squeeze=False))


def band(
    ax: Any,
    curves: Sequence[Sequence[float]],
    *,
    x: Sequence[float] | None = None,
    scale: float = 1.0,
    color: str,
    label: str,
    marker: str | None = "o",
    markersize: float = 2.5,
    linewidth: float | None = None,
) -> None:
    """Mean over runs with a ±1 std band (sample std; NaN-aware).

    Args:
        curves: ``[runs, points]``, one curve per run (seed), all of the same length.
        x: the points' x values (default: epochs ``1, 2, ...``).
        scale: multiplies the values (100 for accuracies in percent).
    """
    arr = np.asarray(curves, dtype=float) * scale
    if arr.size == 0:
        return
    with warnings.catch_warnings():  # an epoch where no run has a value is expected (NaN)
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = np.nanmean(arr, axis=0)
        std = np.nanstd(arr, axis=0, ddof=1) if arr.shape[0] > 1 else np.zeros_like(mean)
    xs = np.arange(1, arr.shape[1] + 1) if x is None else np.asarray(x, dtype=float)
    ok = np.isfinite(mean)
    ax.plot(xs[ok], mean[ok], marker=marker, markersize=markersize, linewidth=linewidth, color=color, label=label)
    ax.fill_between(xs[ok], (mean - std)[ok], (mean + std)[ok], color=color, alpha=0.18, linewidth=0)


def aligned(series: Sequence[tuple[Sequence[float], Sequence[float]]]) -> tuple[list[float], list[list[float]]]:
    """``(x, [values per run])`` from per-run ``(x, values)``, cut to the shortest run (for :func:`band`)."""
    n = min((len(values) for _, values in series), default=0)
    return (list(series[0][0][:n]) if series else []), [list(values[:n]) for _, values in series]


def label_axes(
    ax: Any, xlabel: str, ylabel: str, title: str, *, legend_loc: str = "best", legend_size: float = 7
) -> None:
    """The study's panel style: axis labels, a small title, a light grid and a legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc=legend_loc, fontsize=legend_size)


def save(fig: Any, path: Path) -> Path:
    """Write ``fig`` as PNG at the study's DPI."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")
    return path
