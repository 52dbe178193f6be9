"""Shared machinery of the training sweeps (convergence, threshold grid).

A sweep derives one config per grid point from a base config (a YAML mapping plus
``--set`` overrides), trains each through the engine's :func:`spikeforge.train.engine.train`
into its own run folder under ``OUT/runs/``, and reads back the per-epoch records. A run
whose folder already holds a ``result.json`` and the same ``config.yaml`` is reused, so an
interrupted sweep continues where it stopped.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

__all__ = [
    "epochs_to_reach",
    "load_base_config",
    "mean_std",
    "metric_curve",
    "run_one",
    "set_path",
    "set_threads",
    "stack_mean_std",
]


def load_base_config(config: str | Path | None, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The raw mapping of ``config`` (a YAML path or a shipped config name; ``None`` = the default
    digits job) with ``key=value`` overrides applied (not yet validated)."""
    from ..train.config import apply_overrides, read_yaml, resolve_config_path

    return apply_overrides(read_yaml(resolve_config_path(str(config) if config is not None else None)), list(overrides))


def set_path(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """``raw["a"]["b"] = value`` for ``dotted = "a.b"``, creating sections as needed."""
    *parents, leaf = dotted.split(".")
    node = raw
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value


def run_one(
    raw: dict[str, Any], run_dir: Path, *, rerun: bool = False, log: Callable[[str], None] | None = None
) -> tuple[list[dict[str, Any]], float, bool]:
    """Train ``raw`` into ``run_dir`` (or reuse a finished identical run there).

    A run whose loss diverges is a result, not an error (a fixed threshold can make training
    fail): its records stop at the last finished epoch and the sweep goes on.

    Returns ``(per-epoch records, seconds, reused)``.
    """
    from ..train import runfolder as RF
    from ..train.config import config_from_dict, config_to_dict
    from ..train.engine import TrainingDiverged, train
    from ..train.runfolder import read_metrics

    cfg = config_from_dict(copy.deepcopy(raw))
    resolved = config_to_dict(cfg)
    if not rerun and (run_dir / RF.RESULT).is_file() and (run_dir / RF.CONFIG).is_file():
        previous = yaml.safe_load((run_dir / RF.CONFIG).read_text())
        records = read_metrics(run_dir)
        if previous == resolved and len(records) == cfg.epochs:
            return records, 0.0, True
    if run_dir.exists():
        # a stale or different run: start it afresh (the engine appends to metrics.jsonl)
        for name in (RF.METRICS, RF.RESULT):
            (run_dir / name).unlink(missing_ok=True)
    t0 = time.time()
    try:
        result = train(cfg, run_dir=run_dir, overwrite=True, verbose=False)
    except TrainingDiverged as exc:
        if log is not None:
            log(f"  {run_dir.name}: diverged ({exc})")
        return read_metrics(run_dir), time.time() - t0, False
    seconds = time.time() - t0
    if log is not None:
        log(f"  {run_dir.name}: test acc {100 * result.test_acc:.2f}% in {seconds:.1f}s")
    return result.history, seconds, False


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation, ignoring NaNs (``(nan, nan)`` when empty)."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std())


def epochs_to_reach(curve: Sequence[float], target: float, epochs: Sequence[int] | None = None) -> int | None:
    """The first epoch at which ``curve`` reaches ``target`` (``None`` if it never does).

    Args:
        curve: one value per evaluated epoch (NaN for epochs without a value).
        target: the level to reach (``>=``).
        epochs: the epoch number of each value (default ``1, 2, ...``).
    """
    epochs = list(epochs) if epochs is not None else list(range(1, len(curve) + 1))
    for e, v in zip(epochs, curve):
        if v is not None and math.isfinite(v) and v >= target:
            return int(e)
    return None


def metric_curve(records: Sequence[dict[str, Any]], key: str, epochs: int) -> list[float]:
    """``records[*][key]`` placed by epoch (1..epochs), NaN where missing."""
    curve = [math.nan] * epochs
    for r in records:
        e = int(r.get("epoch", 0))
        if 1 <= e <= epochs and isinstance(r.get(key), int | float):
            curve[e - 1] = float(r[key])
    return curve


def stack_mean_std(curves: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over runs at every epoch (NaN-aware; NaN where no run has a value)."""
    arr = np.asarray(curves, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # all-NaN columns are expected
        return np.nanmean(arr, axis=0), np.nanstd(arr, axis=0)


def set_threads(threads: int | None) -> None:
    """Use ``threads`` intra-op CPU threads (``None`` leaves PyTorch's default)."""
    if threads is not None:
        import torch

        if threads < 1:
            raise ValueError(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
