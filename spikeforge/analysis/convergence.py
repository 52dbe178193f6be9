"""Convergence of SDT, TET, TET-S and LTS at several time-step counts (Shen et al. Fig 5).

Every loss is trained with the same data, model, optimiser, schedule, epochs and seeds; only
``loss.name`` (and ``T``) changes between runs. Each run is an ordinary engine run in
``OUT/runs/T<T>-<loss>-s<seed>/``, so its checkpoints and curves can be inspected and fed
to the other analyses. The loss's own readout gives the test accuracy (time mean for SDT,
TET and TET-S; last step for LTS).

Summary per (T, loss): final and best test accuracy (mean and std over seeds) and the
epochs needed to reach 95% of the best final accuracy at that T, i.e. of the highest
seed-mean final accuracy over the losses. The curve used is the seed mean, and the per-seed
values are reported too.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import records as R
from ..errors import UserError
from .curves import epochs_to_reach, last_finite, mean_std, metric_curve, stack_mean_std
from .jsonio import write_json
from .plots import integer_ticks, new_figure, save_figure
from .sweep import run_one

__all__ = ["LOSSES", "QUICK", "plot_convergence", "run_convergence", "summarize_convergence"]

LOSSES: tuple[str, ...] = ("sdt", "tet", "tet_s", "lts")
LABELS = {"sdt": "SDT", "tet": "TET", "tet_s": "TET-S", "lts": "LTS", "spike_rate": "spike rate"}
COLORS = {"sdt": "#4c72b0", "tet": "#dd8452", "tet_s": "#55a868", "lts": "#c44e52"}
# Quick mode: a budget that shows the ordering on the digits job in a few minutes on a CPU.
QUICK: dict[str, Any] = {"epochs": 4, "seeds": (0, 1), "T": (1, 2, 4)}
FRACTION = 0.95


def _derive(base: dict[str, Any], loss: str, T: int, seed: int, epochs: int | None) -> dict[str, Any]:
    import copy

    raw = copy.deepcopy(base)
    raw["T"] = T
    raw["seed"] = seed
    if epochs is not None:
        raw["epochs"] = epochs
    # options of one loss (TET's lam, ...) do not apply to another: every loss runs with its defaults
    raw["loss"] = {"name": loss}
    raw["name"] = f"{raw.get('name', 'run')}-T{T}-{loss}-s{seed}"
    raw.setdefault("run", {})["progress"] = False
    return raw


def summarize_convergence(
    curves: dict[tuple[int, str], list[list[float]]], fraction: float = FRACTION
) -> list[dict[str, Any]]:
    """One row per (T, loss) from test-accuracy curves ``{(T, loss): [curve per seed]}``.

    Each row: ``T``, ``loss``, ``seeds``, ``final_acc_mean``/``_std``, ``best_acc_mean``/``_std``,
    ``target`` (``fraction`` x the best seed-mean final accuracy at this T), ``epochs_to_target``
    (first epoch where the seed-mean curve reaches the target, ``None`` if never) and
    ``epochs_to_target_per_seed``.
    """
    rows = []
    finals: dict[tuple[int, str], float] = {}
    for key, runs in curves.items():
        mean, _ = stack_mean_std(runs)
        finals[key] = last_finite(mean)
    for (T, loss), runs in curves.items():
        best_final = max((v for (t, _), v in finals.items() if t == T and math.isfinite(v)), default=math.nan)
        target = fraction * best_final
        mean, _ = stack_mean_std(runs)
        final = [last_finite(r) for r in runs]
        best = [max((v for v in r if math.isfinite(v)), default=math.nan) for r in runs]
        rows.append(
            {
                "T": T,
                "loss": loss,
                "seeds": len(runs),
                "final_acc_mean": mean_std(final)[0],
                "final_acc_std": mean_std(final)[1],
                "best_acc_mean": mean_std(best)[0],
                "best_acc_std": mean_std(best)[1],
                "target": target,
                "epochs_to_target": epochs_to_reach(list(mean), target) if math.isfinite(target) else None,
                "epochs_to_target_per_seed": [
                    epochs_to_reach(r, target) if math.isfinite(target) else None for r in runs
                ],
            }
        )
    return rows


def plot_convergence(
    results: dict[tuple[int, str], dict[str, list[list[float]]]], out_png: str | Path, title: str = ""
) -> Path:
    """Test accuracy (top row) and training loss (bottom row) per epoch; one column per T, one line per
    loss, mean over seeds with a +-1 std band."""
    Ts = sorted({T for T, _ in results})
    losses = [loss for loss in LOSSES if any(key[1] == loss for key in results)]
    losses += sorted({loss for _, loss in results} - set(losses))
    fig, axes = new_figure(2, len(Ts), size=(4.0 * len(Ts), 6.4), sharex=True)
    for col, T in enumerate(Ts):
        for row, (metric, scale, ylabel) in enumerate(
            ((R.TEST_ACC, 100.0, "test accuracy (%)"), (R.TRAIN_LOSS, 1.0, "training loss"))
        ):
            ax = axes[row, col]
            for loss in losses:
                if (T, loss) not in results:
                    continue
                mean, std = stack_mean_std(results[(T, loss)][metric])
                x = np.arange(1, len(mean) + 1)
                ok = np.isfinite(mean)
                color = COLORS.get(loss)
                ax.plot(x[ok], scale * mean[ok], marker="o", markersize=3, color=color, label=LABELS.get(loss, loss))
                if len(results[(T, loss)][metric]) > 1:
                    ax.fill_between(x[ok], scale * (mean - std)[ok], scale * (mean + std)[ok], color=color, alpha=0.18)
            ax.grid(alpha=0.3)
            integer_ticks(ax)
            if row == 0:
                ax.set_title(f"T = {T}")
            else:
                ax.set_xlabel("epoch")
            if col == 0:
                ax.set_ylabel(ylabel)
    axes[0, 0].legend(loc="lower right")
    if title:
        fig.suptitle(title)
    return save_figure(fig, out_png)


def run_convergence(
    base: dict[str, Any],
    out_dir: str | Path,
    *,
    Ts: Sequence[int] = (1, 2, 4),
    losses: Sequence[str] = LOSSES,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int | None = None,
    rerun: bool = False,
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Train every (T, loss, seed) from ``base`` and write the comparison into ``out_dir``.

    Args:
        base: a raw config mapping (see :func:`spikeforge.analysis.sweep.load_base_config`).
        out_dir: output folder; runs go to ``out_dir/runs/``.
        Ts, losses, seeds: the grid.
        epochs: epochs per run (default: the base config's).
        rerun: retrain runs whose folder already holds an identical finished run.
        log: progress printer (``None`` for silence).
    Returns:
        ``{"summary": rows, "curves": {...}, "seconds": ..., "files": {...}}``.
    Writes:
        ``convergence.png``, ``convergence_summary.csv``, ``convergence_curves.csv`` and
        ``convergence.json``.
    """
    from ..losses import LOSSES as REGISTERED

    unknown = [loss for loss in losses if loss not in REGISTERED]
    if unknown:
        raise UserError(f"unknown loss {unknown}; choose from {sorted(REGISTERED)}")
    if not Ts or min(Ts) < 1:
        raise UserError(f"--T must be positive integers, got {list(Ts)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    results: dict[tuple[int, str], dict[str, list[list[float]]]] = {}
    long_rows = []
    n_runs = len(Ts) * len(losses) * len(seeds)
    k = 0
    for T in Ts:
        for loss in losses:
            entry: dict[str, list[list[float]]] = {R.TEST_ACC: [], R.TRAIN_LOSS: [], R.TEST_LOSS: []}
            for seed in seeds:
                k += 1
                raw = _derive(base, loss, T, seed, epochs)
                if log is not None:
                    log(f"[{k}/{n_runs}] T={T} loss={loss} seed={seed}")
                records, _, _ = run_one(raw, out / "runs" / f"T{T}-{loss}-s{seed}", rerun=rerun, log=log)
                n_epochs = int(raw.get("epochs") or max((r[R.EPOCH] for r in records), default=0))
                for key in entry:
                    entry[key].append(metric_curve(records, key, n_epochs))
                for e in range(n_epochs):
                    long_rows.append(
                        {
                            "T": T,
                            "loss": loss,
                            "seed": seed,
                            "epoch": e + 1,
                            **{key: entry[key][-1][e] for key in entry},
                        }
                    )
            results[(T, loss)] = entry
    summary = summarize_convergence({key: v[R.TEST_ACC] for key, v in results.items()})
    seconds = time.time() - t0
    files = _write(out, results, summary, long_rows, base, seconds)
    if log is not None:
        log(format_summary(summary))
    return {
        "summary": summary,
        "curves": {f"T{T}/{loss}": v for (T, loss), v in results.items()},
        "seconds": seconds,
        "files": {k: str(v) for k, v in files.items()},
    }


def format_summary(rows: Sequence[dict[str, Any]]) -> str:
    """The summary as an aligned text table."""
    lines = [f"{'T':>3}  {'loss':<6}  {'final acc':>15}  {'best acc':>15}  {'epochs to 95% of best':>21}"]
    for r in rows:
        ep = r["epochs_to_target"]
        lines.append(
            f"{r['T']:>3}  {LABELS.get(r['loss'], r['loss']):<6}  "
            f"{100 * r['final_acc_mean']:7.2f} ± {100 * r['final_acc_std']:4.2f}%  "
            f"{100 * r['best_acc_mean']:7.2f} ± {100 * r['best_acc_std']:4.2f}%  "
            f"{'never' if ep is None else ep:>21}"
        )
    return "\n".join(lines)


def _write(out: Path, results, summary, long_rows, base, seconds) -> dict[str, Path]:
    files = {
        "png": out / "convergence.png",
        "summary_csv": out / "convergence_summary.csv",
        "curves_csv": out / "convergence_curves.csv",
        "json": out / "convergence.json",
    }
    name = base.get("name", "run")
    data = base.get("data", {}).get("name", "?")
    model = base.get("model", {}).get("name", "?")
    plot_convergence(results, files["png"], f"{name}: {model} on {data}, mean ± std over seeds")
    with files["summary_csv"].open("w", newline="") as f:
        fields = [k for k in summary[0] if k != "epochs_to_target_per_seed"] if summary else []
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(summary)
    with files["curves_csv"].open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["T", "loss", "seed", "epoch", R.TEST_ACC, R.TRAIN_LOSS, R.TEST_LOSS])
        w.writeheader()
        w.writerows(long_rows)
    curves = {f"T{T}/{loss}": v for (T, loss), v in results.items()}
    write_json(
        files["json"],
        {"base_config": base, "fraction": FRACTION, "seconds": seconds, "summary": summary, "curves": curves},
    )
    return files
