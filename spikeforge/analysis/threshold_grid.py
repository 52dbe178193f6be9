"""Threshold grid search, fixed vs learned thresholds (Rouser Fig 2, Fig 4 and the Fig 6 ablation).

For every initial threshold of a grid, the same network is trained twice from the same
seed: once with the threshold *fixed* at that value (the SLAYER baseline) and once with a
*learned* per-neuron threshold initialised there (Rouser). Everything else (data, model,
weights' initialisation, optimiser, epochs) is identical. The monitor is on, so every epoch
records the test accuracy and, per neuron layer, the dead-neuron fractions (a neuron is dead
for an input when it does not spike while that input is presented, Rouser's definition: per
test sample, the default shown; over the whole test set; per training batch), the firing rate
and the mean learned threshold; the per-sample fraction is measured before training too.

The default task is embedded (:data:`DEFAULT_CONFIG`): scikit-learn's 8x8 digits, flattened
and direct-encoded, into a Rouser-style dense CUBA-LIF net ``64-128-128-10`` with a spiking
output trained on the spike-rate MSE loss. Any config can be swept instead (``--config``,
e.g. a Rouser NMNIST / SHD config): its ``neuron`` section (or the model's default neuron)
gets ``v_threshold`` set per grid point.
"""

from __future__ import annotations

import copy
import csv
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import records as R
from ..errors import UserError
from ..neuron.presets import neuron_preset
from .curves import epochs_to_reach, last_finite, mean_std, metric_curve, stack_mean_std
from .jsonio import write_json
from .plots import integer_ticks, new_figure, save_figure
from .sweep import run_one

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_INITS",
    "layer_names",
    "plot_threshold_grid",
    "run_threshold_grid",
    "threshold_neuron",
]

DEFAULT_INITS: tuple[float, ...] = (0.25, 1.0, 1.25, 2.0, 4.0)
MODES = ("fixed", "learned")

# The embedded task. Rouser's Table II neuron (CUBA, retained fractions 0.75/0.97, hard
# reset, detached as in SLAYER; spikeforge.neuron.presets), Adam, spike-rate MSE loss on a spiking
# output. The weights start at 0.3x Kaiming so that the grid spans silent (dead) and
# saturated regimes; thresholds get their own, larger learning rate (Rouser's Fig 6b
# ablation uses 10x the weights' rate) so that they move within a few epochs.
DEFAULT_CONFIG: dict[str, Any] = {
    "name": "threshold_grid_digits",
    "description": "Rouser-style dense CUBA net 64-128-128-10 on flattened sklearn digits, spike-rate loss",
    "seed": 0,
    "device": "auto",
    "T": 16,
    "epochs": 8,
    "model": {"name": "spiking_mlp", "options": {"sizes": [64, 128, 128, 10], "weight_scale": 0.3}},
    "neuron": neuron_preset("slayer_cuba"),
    "data": {"name": "digits", "batch_size": 64},
    "loss": {"name": "spike_rate"},
    "optim": {"name": "adam", "lr": 0.005, "weight_decay": 0.0, "neuron_lr": 0.1},
    "schedule": {"name": "constant"},
    "run": {"monitor": True, "progress": False},
}


def threshold_neuron(neuron: dict[str, Any], init: float, learned: bool) -> dict[str, Any]:
    """``neuron`` with its threshold fixed at ``init`` or learned from ``init`` (other keys kept)."""
    out = dict(neuron)
    if learned:
        out["v_threshold"] = "learn"
        out["v_threshold_init"] = float(init)
    else:
        out["v_threshold"] = float(init)
        out.pop("v_threshold_init", None)
        out.pop("threshold_sharing", None)
    return out


def _base_neuron(raw: dict[str, Any]) -> dict[str, Any]:
    """The config's neuron section, or the model's default neuron when the section is empty."""
    if raw.get("neuron"):
        return dict(raw["neuron"])
    from ..models.registry import model_info

    return dict(model_info(raw.get("model", {}).get("name", "digits_convnet")).default_neuron)


def _derive(base: dict[str, Any], init: float, learned: bool, seed: int, epochs: int | None) -> dict[str, Any]:
    raw = copy.deepcopy(base)
    raw["neuron"] = threshold_neuron(_base_neuron(raw), init, learned)
    raw["seed"] = seed
    if epochs is not None:
        raw["epochs"] = epochs
    raw.setdefault("run", {}).update({"monitor": True, "progress": False})
    raw["name"] = f"{raw.get('name', 'run')}-th{init:g}-{'learned' if learned else 'fixed'}-s{seed}"
    return raw


def layer_names(records: Sequence[dict[str, Any]], metric: str = R.DEAD_FRACTION) -> list[str]:
    """Neuron layers with a ``monitor/<layer>/<metric>`` key, in first-seen order (``all`` excluded)."""
    names: list[str] = []
    for r in records:
        for k in r:
            parsed = R.parse_monitor_key(k)
            if parsed is not None and parsed[1] == metric:
                layer = parsed[0]
                if layer != R.ALL_LAYERS and "/" not in layer and layer not in names:
                    names.append(layer)
    return names


def run_threshold_grid(
    base: dict[str, Any],
    out_dir: str | Path,
    *,
    inits: Sequence[float] = DEFAULT_INITS,
    modes: Sequence[str] = MODES,
    seeds: Sequence[int] = (0,),
    epochs: int | None = None,
    rerun: bool = False,
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Train fixed- and learned-threshold runs for every init and write the comparison.

    Args:
        base: raw config mapping (default task: :data:`DEFAULT_CONFIG`).
        out_dir: output folder; runs go to ``out_dir/runs/th<init>-<mode>-s<seed>/``.
        inits: initial (and, for ``fixed``, constant) thresholds.
        modes: ``fixed`` and/or ``learned``.
        seeds: seeds; each (init, seed) pair starts fixed and learned runs from the same weights.
        epochs: epochs per run (default: the base config's).
        rerun: retrain runs whose folder already holds an identical finished run.
    Returns:
        ``{"layers", "summary", "curves", "seconds", "files"}``; ``curves[f"{init}/{mode}"]`` maps
        ``test/acc`` and ``<layer>/dead_fraction`` (also ``train_dead_fraction``, ``firing_rate``,
        ``threshold_mean``) to one curve per seed.
    Writes:
        ``threshold_grid_accuracy.png``, ``threshold_grid_dead.png``, ``threshold_grid_thresholds.png``
        (learned runs), ``threshold_grid_summary.csv``, ``threshold_grid_curves.csv`` and
        ``threshold_grid.json``.
    """
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise UserError(f"modes must be a subset of {list(MODES)}, got {list(modes)}")
    if not inits or any(not math.isfinite(v) for v in inits):
        raise UserError(f"--inits must be finite numbers, got {list(inits)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    histories: dict[tuple[float, str], list[list[dict[str, Any]]]] = {}
    n_runs, k = len(inits) * len(modes) * len(seeds), 0
    for init in inits:
        for mode in modes:
            for seed in seeds:
                k += 1
                raw = _derive(base, init, mode == "learned", seed, epochs)
                if log is not None:
                    log(f"[{k}/{n_runs}] threshold {init:g} {mode} seed={seed}")
                records, _, _ = run_one(raw, out / "runs" / f"th{init:g}-{mode}-s{seed}", rerun=rerun, log=log)
                histories.setdefault((float(init), mode), []).append(records)
    n_epochs = max(int(r[R.EPOCH]) for runs in histories.values() for recs in runs for r in recs)
    layers = layer_names([r for runs in histories.values() for recs in runs for r in recs])
    curves = _curves(histories, layers, n_epochs)
    summary = _summary(curves, layers)
    seconds = time.time() - t0
    files = _write(out, base, curves, summary, layers, n_epochs, seconds)
    if log is not None:
        log(format_summary(summary, layers))
    return {
        "layers": layers,
        "summary": summary,
        "curves": {f"{init:g}/{mode}": c for (init, mode), c in curves.items()},
        "seconds": seconds,
        "files": {k: str(v) for k, v in files.items()},
    }


# the dead fraction shown by default (summary, figure): per sample, as Rouser defines it
DEAD = R.DEAD_FRACTION_SAMPLE
CURVE_METRICS = (DEAD, R.DEAD_FRACTION, R.TRAIN_DEAD_FRACTION, R.FIRING_RATE, R.THRESHOLD_MEAN)
# the per-layer values of the summary table: the curves' final values and the dead fraction before training
SUMMARY_METRICS = (DEAD, R.initial_metric(DEAD), R.DEAD_FRACTION, R.TRAIN_DEAD_FRACTION, R.THRESHOLD_MEAN)


def _curves(histories, layers, n_epochs) -> dict[tuple[float, str], dict[str, list[list[float]]]]:
    """``{(init, mode): {name: one curve per seed}}``; names are ``test/acc`` and ``<layer>/<metric>``."""
    out = {}
    for key, runs in histories.items():
        c: dict[str, list[list[float]]] = {R.TEST_ACC: [metric_curve(r, R.TEST_ACC, n_epochs) for r in runs]}
        for layer in [*layers, R.ALL_LAYERS]:  # epoch 0: before training (one value per run)
            first = [r[0].get(R.monitor_key(layer, R.initial_metric(DEAD)), math.nan) if r else math.nan for r in runs]
            if any(math.isfinite(v) for v in first):
                c[f"{layer}/{R.initial_metric(DEAD)}"] = [[v] for v in first]
        for layer in [*layers, R.ALL_LAYERS]:
            for metric in CURVE_METRICS:
                name = f"{layer}/{metric}"
                values = [metric_curve(r, R.monitor_key(layer, metric), n_epochs) for r in runs]
                if any(math.isfinite(v) for curve in values for v in curve):
                    c[name] = values
        out[key] = c
    return out


def _summary(curves, layers) -> list[dict[str, Any]]:
    """One row per (init, mode): final/best accuracy, epochs to 95% of the best final accuracy of the grid,
    final dead fraction per layer."""
    finals = {key: last_finite(stack_mean_std(c[R.TEST_ACC])[0]) for key, c in curves.items()}
    best_final = max((v for v in finals.values() if math.isfinite(v)), default=math.nan)
    rows = []
    for (init, mode), c in sorted(curves.items()):
        mean_acc, _ = stack_mean_std(c[R.TEST_ACC])
        final = [last_finite(r) for r in c[R.TEST_ACC]]
        best = [max((v for v in r if math.isfinite(v)), default=math.nan) for r in c[R.TEST_ACC]]
        row: dict[str, Any] = {
            "init": init,
            "mode": mode,
            "seeds": len(c[R.TEST_ACC]),
            "final_acc_mean": mean_std(final)[0],
            "final_acc_std": mean_std(final)[1],
            "best_acc_mean": mean_std(best)[0],
            "epochs_to_95pct_of_best": epochs_to_reach(list(mean_acc), 0.95 * best_final)
            if math.isfinite(best_final)
            else None,
        }
        for layer in [*layers, R.ALL_LAYERS]:
            for metric in SUMMARY_METRICS:
                key = f"{layer}/{metric}"
                if key in c:
                    row[f"final_{key}"] = mean_std([last_finite(r) for r in c[key]])[0]
        rows.append(row)
    return rows


def format_summary(rows: Sequence[dict[str, Any]], layers: Sequence[str]) -> str:
    """The summary as a text table: accuracy and final dead fraction per sample per layer."""
    head = f"{'init':>5}  {'mode':<8}  {'final acc':>9}  {'best acc':>8}  {'ep->95%':>7}  " + "  ".join(
        f"{'dead ' + la:>{max(10, len(la) + 5)}}" for la in layers
    )
    lines = [head]
    for r in rows:
        ep = r["epochs_to_95pct_of_best"]
        dead = "  ".join(
            f"{100 * r.get(f'final_{la}/{DEAD}', math.nan):>{max(10, len(la) + 5) - 1}.1f}%" for la in layers
        )
        lines.append(
            f"{r['init']:>5g}  {r['mode']:<8}  {100 * r['final_acc_mean']:8.2f}%  {100 * r['best_acc_mean']:7.2f}%  "
            f"{'never' if ep is None else ep:>7}  {dead}"
        )
    return "\n".join(lines)


STYLE = {"fixed": {"linestyle": "--", "marker": "s"}, "learned": {"linestyle": "-", "marker": "o"}}


def plot_threshold_grid(
    curves: dict[tuple[float, str], dict[str, list[list[float]]]],
    layers: Sequence[str],
    out_dir: str | Path,
    title: str = "",
) -> dict[str, Path]:
    """Three figures: accuracy vs epoch (one panel per init), dead fraction per layer (one panel per
    init, one colour per layer) and the learned thresholds' mean per layer."""
    out = Path(out_dir)
    inits = sorted({init for init, _ in curves})
    ncols = min(len(inits), 5)
    nrows = math.ceil(len(inits) / ncols)
    files = {}

    def panels():
        fig, axes = new_figure(nrows, ncols, size=(3.4 * ncols, 3.0 * nrows + 0.5), sharey=True)
        for ax in axes.flat[len(inits) :]:
            ax.set_visible(False)
        return fig, axes

    def band(ax, runs, scale=100.0, **style):
        mean, std = stack_mean_std(runs)
        x = np.arange(1, len(mean) + 1)
        ok = np.isfinite(mean)
        (line,) = ax.plot(x[ok], scale * mean[ok], markersize=3, **style)
        if len(runs) > 1:
            ax.fill_between(
                x[ok], scale * (mean - std)[ok], scale * (mean + std)[ok], color=line.get_color(), alpha=0.15
            )

    fig, axes = panels()
    for i, init in enumerate(inits):
        ax = axes.flat[i]
        for mode in MODES:
            if (init, mode) in curves:
                color = "#c44e52" if mode == "learned" else "#4c72b0"
                band(ax, curves[(init, mode)][R.TEST_ACC], color=color, label=f"{mode} threshold", **STYLE[mode])
        ax.set_title(f"threshold init {init:g}")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        integer_ticks(ax)
    axes[0, 0].set_ylabel("test accuracy (%)")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside right upper")
    if title:
        fig.suptitle(title)
    files["accuracy_png"] = save_figure(fig, out / "threshold_grid_accuracy.png")

    colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]
    fig, axes = panels()
    for i, init in enumerate(inits):
        ax = axes.flat[i]
        for j, layer in enumerate(layers):
            for mode in MODES:
                c = curves.get((init, mode), {})
                if f"{layer}/{DEAD}" in c:
                    band(
                        ax,
                        c[f"{layer}/{DEAD}"],
                        color=colors[j % len(colors)],
                        label=f"{layer} ({mode})",
                        **STYLE[mode],
                    )
        ax.set_title(f"threshold init {init:g}")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        integer_ticks(ax)
    axes[0, 0].set_ylabel("dead neurons per sample (%)")
    fig.legend(*_layer_mode_legend(layers, colors), loc="outside right upper", fontsize="small")
    fig.suptitle(
        (title + "\n" if title else "") + "dead neurons per sample, per layer: solid learned, dashed fixed threshold"
    )
    files["dead_png"] = save_figure(fig, out / "threshold_grid_dead.png")

    learned = [(init, c) for (init, mode), c in sorted(curves.items()) if mode == "learned"]
    if learned and any(f"{la}/{R.THRESHOLD_MEAN}" in c for _, c in learned for la in layers):
        fig, axes = new_figure(1, len(layers), size=(3.4 * len(layers), 3.2), sharey=False)
        cmap = __import__("matplotlib").colormaps["viridis"]
        for j, layer in enumerate(layers):
            ax = axes[0, j]
            for k, (init, c) in enumerate(learned):
                if f"{layer}/{R.THRESHOLD_MEAN}" in c:
                    band(
                        ax,
                        c[f"{layer}/{R.THRESHOLD_MEAN}"],
                        scale=1.0,
                        color=cmap(k / max(len(learned) - 1, 1)),
                        marker="o",
                        label=f"init {init:g}",
                    )
            ax.set_title(layer)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            integer_ticks(ax)
        axes[0, 0].set_ylabel("mean learned threshold")
        axes[0, -1].legend(loc="best", fontsize="small")
        files["thresholds_png"] = save_figure(fig, out / "threshold_grid_thresholds.png")
    return files


def _layer_mode_legend(layers: Sequence[str], colors: Sequence[str]) -> tuple[list[Any], list[str]]:
    """One entry per layer (its colour) and one per mode (its line style): short where a full cross product is long."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colors[j % len(colors)], linewidth=2) for j in range(len(layers))]
    labels = list(layers)
    for mode in MODES:
        handles.append(Line2D([], [], color="grey", linestyle=STYLE[mode]["linestyle"], marker=STYLE[mode]["marker"]))
        labels.append(f"{mode} threshold")
    return handles, labels


def _write(out, base, curves, summary, layers, n_epochs, seconds) -> dict[str, Path]:
    title = f"{base.get('model', {}).get('name', '?')} on {base.get('data', {}).get('name', '?')}"
    files = plot_threshold_grid(curves, layers, out, title)
    files["summary_csv"] = out / "threshold_grid_summary.csv"
    files["curves_csv"] = out / "threshold_grid_curves.csv"
    files["json"] = out / "threshold_grid.json"
    fields: list[str] = []
    for r in summary:
        fields += [k for k in r if k not in fields]
    with files["summary_csv"].open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(summary)
    # the epoch-0 values (one per run) are in the summary and the JSON, not in the per-epoch CSV
    metrics = sorted({m for c in curves.values() for m in c if f"/{R.INIT_PREFIX}" not in m})
    with files["curves_csv"].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["init", "mode", "seed", "epoch", *metrics])
        for (init, mode), c in sorted(curves.items()):
            for s in range(len(c[R.TEST_ACC])):
                for e in range(n_epochs):
                    w.writerow([init, mode, s, e + 1, *(_fmt(c[m][s][e]) if m in c else "" for m in metrics)])
    grid = {f"{init:g}/{mode}": c for (init, mode), c in curves.items()}
    write_json(
        files["json"], {"base_config": base, "layers": layers, "seconds": seconds, "summary": summary, "curves": grid}
    )
    return files


def _fmt(v: float) -> str:
    return "" if not math.isfinite(v) else f"{v:.6g}"
