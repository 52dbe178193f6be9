"""Shared plotting helpers for the analyses and for training-run diagnostics.

Figures are built with :class:`matplotlib.figure.Figure` directly, never through
``pyplot``: no global state, no GUI backend, safe in worker processes and on machines
without a display (``savefig`` renders with the Agg canvas).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import UserError
from ..records import (
    ALL_LAYERS,
    DEAD_FRACTION,
    DEAD_FRACTION_SAMPLE,
    EPOCH,
    FIRING_RATE,
    INIT_PREFIX,
    TRAIN_DEAD_FRACTION,
    WEIGHT_CHANGE,
    monitor_key,
    parse_monitor_key,
)
from ..train.runfolder import read_metrics

__all__ = [
    "DPI",
    "LAYER_METRICS",
    "heatmap",
    "integer_ticks",
    "layer_series",
    "load_metrics_jsonl",
    "new_figure",
    "plot_layer_curves",
    "save_figure",
]

DPI = 150
# The per-layer metrics drawn by default (report, ``analyze layer-curves``); the dead fraction per
# sample first: Rouser's definition (silent while an input is presented), the one shown by default.
LAYER_METRICS = (DEAD_FRACTION_SAMPLE, DEAD_FRACTION, TRAIN_DEAD_FRACTION, FIRING_RATE, WEIGHT_CHANGE)


def new_figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] | None = None, **kwargs: Any):
    """A figure and its axes array (always 2-D, ``[nrows, ncols]``) with constrained layout.

    ``size`` is the whole figure in inches; by default 4.2 x 3.4 per panel.
    """
    fig = Figure(figsize=size or (4.2 * ncols, 3.4 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def save_figure(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Write ``fig`` as PNG (parent folders are created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png")
    return path


def heatmap(
    fig: Figure,
    ax: Axes,
    data: np.ndarray,
    *,
    x_values: Sequence[float] | None = None,
    y_values: Sequence[float] | None = None,
    x_label: str = "",
    y_label: str = "",
    title: str = "",
    cbar_label: str | None = "",
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    max_ticks: int = 7,
) -> Any:
    """Draw ``data[row, col]`` with row 0 at the bottom, ticks labelled by ``x_values``/``y_values``.

    Args:
        data: ``[len(y_values), len(x_values)]``; NaN cells are drawn in light grey.
        cbar_label: colour-bar label; ``None`` draws no colour bar.
        max_ticks: at most this many tick labels per axis (evenly thinned).
    Returns:
        The ``AxesImage``.
    """
    import matplotlib

    cm = matplotlib.colormaps[cmap].with_extremes(bad="#dddddd")
    im = ax.imshow(
        np.ma.masked_invalid(np.asarray(data, dtype=float)),
        origin="lower",
        aspect="auto",
        cmap=cm,
        vmin=vmin,
        vmax=vmax,
        interpolation="nearest",
    )
    for values, set_ticks, set_labels, n in (
        (x_values, ax.set_xticks, ax.set_xticklabels, data.shape[1]),
        (y_values, ax.set_yticks, ax.set_yticklabels, data.shape[0]),
    ):
        if values is None:
            continue
        idx = np.unique(np.linspace(0, n - 1, min(n, max_ticks)).round().astype(int))
        set_ticks(idx)
        set_labels([_short(values[i]) for i in idx])
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title)
    if cbar_label is not None:
        fig.colorbar(im, ax=ax, label=cbar_label)
    return im


def _short(v: float) -> str:
    if isinstance(v, float | np.floating):
        # linspace rounding gives values like -1.49e-08 for 0; a tick label should say 0
        return f"{round(float(v), 6) + 0.0:.3g}"
    return str(v)


def integer_ticks(ax: Axes) -> None:
    """Only whole numbers on the x axis (epochs, time steps)."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


# ---------------------------------------------------------------------- per-layer curves over epochs
def load_metrics_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a ``metrics.jsonl`` file (the run folder's one reader: a torn final line is skipped)."""
    return read_metrics(path)


def layer_series(
    records: Iterable[Mapping[str, Any]], metric: str, x_key: str = EPOCH
) -> dict[str, tuple[list[float], list[float]]]:
    """Collect ``{layer: (xs, ys)}`` for every key ``[<prefix>/]<layer>/<metric>`` in ``records``.

    The layer is the path component just before ``metric`` (module paths use dots, keys use
    slashes), so ``"monitor/layer1.0.sn1/dead_fraction"`` belongs to ``layer1.0.sn1``.
    Records without ``x_key`` and non-finite values are skipped.
    """
    pattern = re.compile(rf"^(?:.*/)?([^/]+)/{re.escape(metric)}$")
    series: dict[str, tuple[list[float], list[float]]] = {}
    for rec in records:
        if x_key not in rec:
            continue
        for key, value in rec.items():
            m = pattern.match(key)
            if m is None or not isinstance(value, int | float) or not math.isfinite(value):
                continue
            xs, ys = series.setdefault(m.group(1), ([], []))
            xs.append(float(rec[x_key]))
            ys.append(float(value))
    return series


def plot_layer_curves(
    records: Sequence[Mapping[str, Any]],
    metric: str,
    out_png: str | Path,
    *,
    x_key: str = EPOCH,
    title: str | None = None,
    percent: bool | None = None,
) -> dict[str, tuple[list[float], list[float]]]:
    """One curve per layer of ``metric`` over epochs (Rouser Figs 3-5).

    Args:
        records: per-epoch metric dicts, e.g. the lines of ``metrics.jsonl``; the monitor's
            keys look like ``"monitor/<layer>/<metric>"`` (any prefix is accepted).
        metric: the key suffix: ``"dead_fraction"``, ``"firing_rate"``, ``"weight_change"``, ...
        out_png: where to write the PNG.
        percent: show values x100 with a ``%`` axis; default for fractions (``dead_fraction``,
            ``dead_fraction_sample``, ...) and rates (``*_rate``).
    Returns:
        The plotted series ``{layer: (epochs, values)}``.
    Raises:
        ValueError: no record has a key for ``metric``.
    """
    series = layer_series(records, metric, x_key)
    if not series:
        raise UserError(f"no '<layer>/{metric}' values with an '{x_key}' in the {len(records)} records")
    if percent is None:
        percent = "_fraction" in metric or metric.endswith("_rate")
    scale = 100.0 if percent else 1.0
    fig, axes = new_figure(size=(6.4, 4.0))
    ax = axes[0, 0]
    for layer, (xs, ys) in series.items():
        order = np.argsort(xs, kind="stable")
        style = {"color": "black", "linestyle": "--"} if layer == ALL_LAYERS else {}
        ax.plot(np.asarray(xs)[order], np.asarray(ys)[order] * scale, marker="o", markersize=3, label=layer, **style)
    ax.set_xlabel(x_key)
    integer_ticks(ax)
    ax.set_ylabel(f"{metric} (%)" if percent else metric)
    ax.set_title(title or f"{metric} per layer")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", ncol=1 if len(series) <= 8 else 2)
    save_figure(fig, out_png)
    return series


def with_epoch0(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` with an epoch-0 record in front, made from the first record's ``init_<metric>`` keys.

    With the monitor on, the engine measures the untrained model's activity and logs it in the
    first epoch's record as ``monitor/<layer>/init_<metric>`` (Rouser's Fig 4 starts at epoch 0);
    this turns those keys into ``{"epoch": 0, "monitor/<layer>/<metric>": ...}`` so that the
    per-layer curves start before training. Records without such keys are returned unchanged.
    """
    records = list(records)
    initial: dict[str, Any] = {}
    for key, value in (records[0] if records else {}).items():
        parsed = parse_monitor_key(key)
        if parsed is not None and parsed[1].startswith(INIT_PREFIX):
            initial[monitor_key(parsed[0], parsed[1].removeprefix(INIT_PREFIX))] = value
    return [{EPOCH: 0, **initial}, *records] if initial else records
