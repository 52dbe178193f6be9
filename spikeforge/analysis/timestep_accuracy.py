"""Accuracy of a trained model read out at each time step (Shen et al. Fig 4).

For a model whose output is ``[T, B, K]``, the prediction at step ``t`` alone is
``argmax_k O[t]`` and the running-mean prediction is ``argmax_k mean(O[0..t])``. Under SDT
the accuracy of single steps rises with ``t`` as the membrane potential moves away from
its initial value; a learnable IMP (and LTS) makes the early steps better. The numbers come
from the training engine's own :func:`spikeforge.train.evaluate.evaluate`, so they are exactly
what ``spikeforge eval`` prints.
"""

from __future__ import annotations

import contextlib
import csv
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .plots import new_figure, save_figure

__all__ = ["plot_timestep_accuracy", "run_timestep_accuracy", "timestep_accuracy", "write_timestep_accuracy"]

BASENAME = "timestep_accuracy"


def timestep_accuracy(
    model: nn.Module,
    loader: Any,
    loss_fn: nn.Module,
    encoder: str,
    T: int,
    device: torch.device | str = "cpu",
    autocast: Any = None,
) -> dict[str, Any]:
    """Accuracy per time step of ``model`` over ``loader``.

    Args:
        model: maps ``[T, B, ...]`` to ``[T, B, K]``.
        loader: yields ``(x, y)`` batches before encoding.
        loss_fn: a spikeforge loss (its ``readout`` gives the headline accuracy).
        encoder: ``direct`` | ``poisson`` | ``sequence``.
        T: time steps.
        autocast: a context manager for mixed precision (default none).
    Returns:
        ``{"acc", "loss", "acc_step", "acc_cum", "n", "T", "best_step", "readout"}`` with
        accuracies as fractions; ``acc_step[t]`` uses step ``t`` alone, ``acc_cum[t]`` the
        mean of steps ``0..t``; ``best_step`` is the 1-based step with the best single-step accuracy.
    """
    from ..train.evaluate import evaluate

    res = evaluate(model, loader, loss_fn, encoder, T, torch.device(device), autocast or contextlib.nullcontext())
    steps = res["acc_step"]
    res["T"] = len(steps)
    res["best_step"] = max(range(len(steps)), key=steps.__getitem__) + 1 if steps else None
    res["readout"] = getattr(loss_fn, "readout_name", "mean")
    return res


def plot_timestep_accuracy(res: dict[str, Any], out_png: str | Path, title: str = "") -> Path:
    """Accuracy of each step alone and of the running mean, with the readout accuracy as a reference line."""
    steps = list(range(1, len(res["acc_step"]) + 1))
    fig, axes = new_figure(size=(5.6, 3.8))
    ax = axes[0, 0]
    ax.plot(steps, [100 * a for a in res["acc_step"]], marker="o", label="step t alone")
    ax.plot(steps, [100 * a for a in res["acc_cum"]], marker="s", label="mean of steps 1..t")
    ax.axhline(100 * res["acc"], color="grey", linestyle=":", label=f"readout ({res.get('readout', 'mean')})")
    ax.set_xticks(steps if len(steps) <= 16 else steps[:: max(1, len(steps) // 16)])
    ax.set_xlabel("time step t")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title or "accuracy per time step", fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return save_figure(fig, out_png)


def write_timestep_accuracy(res: dict[str, Any], out_dir: str | Path, title: str = "") -> dict[str, Path]:
    """Write ``timestep_accuracy.csv`` (one row per step), ``.json`` (everything) and ``.png`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {ext: out / f"{BASENAME}.{ext}" for ext in ("csv", "json", "png")}
    with paths["csv"].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t", "acc_step", "acc_cum"])
        for t, (a, c) in enumerate(zip(res["acc_step"], res["acc_cum"]), 1):
            w.writerow([t, f"{a:.6f}", f"{c:.6f}"])
    paths["json"].write_text(json.dumps(res, indent=1, default=str))
    plot_timestep_accuracy(res, paths["png"], title)
    return paths


def run_timestep_accuracy(
    target: str | Path,
    out: str | Path | None = None,
    *,
    which: str = "best",
    overrides: list[str] | None = None,
) -> dict[str, Any]:
    """Evaluate a run folder or checkpoint per time step and write the results.

    Args:
        target: a run folder (its ``best.pt``, or ``last.pt``) or a checkpoint file.
        out: output folder (default: the run folder, i.e. the checkpoint's folder).
        which: ``best`` or ``last`` checkpoint of a run folder.
        overrides: ``key=value`` config overrides (e.g. ``data.root=...``).
    Returns:
        The result of :func:`timestep_accuracy` plus ``checkpoint``, ``dataset``, ``loss`` and ``files``.
    """
    from ..train.engine import _autocast
    from ..train.evaluate import load_trained_model

    model, cfg, info, loader, loss_fn, encoder, device, path = load_trained_model(target, overrides, which)
    res = timestep_accuracy(model, loader, loss_fn, encoder, cfg.T, device, _autocast(cfg, device))
    res.update({"checkpoint": str(path), "dataset": info.name, "loss": cfg.loss.name, "model": cfg.model.name})
    out_dir = Path(out) if out is not None else path.parent
    title = f"{cfg.name}\n{cfg.loss.name.upper()} readout, T={cfg.T} ({path.name})"
    files = write_timestep_accuracy(res, out_dir, title)
    res["files"] = {k: str(v) for k, v in files.items()}
    return res
