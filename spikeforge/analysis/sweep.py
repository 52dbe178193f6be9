"""The one sweep runner: cached engine runs for the analyses and the reproduction study.

A sweep derives one raw config per grid point (or per study *arm* and seed), trains each through
:func:`spikeforge.train.engine.train` into its own run folder, and reads back what the run
logged. A folder that holds ``result.json`` is a finished run and is read back instead of trained
again (an interrupted sweep continues where it stopped); a folder without it (an interrupted run)
is cleared and trained from scratch, since the engine appends to ``metrics.jsonl``. A run whose
loss diverges is a result, not an error (a fixed threshold can make training fail): its
``result.json`` records ``"diverged": true`` and the last evaluated accuracy.

Two ways to name a run folder:

* :func:`run_one` (the analyses' sweeps): the caller names the folder; a finished run is reused
  only when its ``config.yaml`` is the config asked for.
* :class:`Arm` + :func:`run_arms` (the study): the folder is ``RUNS/<name>-<hash of the config>``,
  so two claims that need the same run share it, and runs can be trained in parallel processes.

Per-run PNG curves are skipped (``run.plots: false``) unless asked for: over hundreds of short
runs the drawing costs more than the training.
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from .. import records as R
from ..errors import UserError
from ..runtime import allocator_status, worker_init
from ..train import runfolder as RF
from ..train.runfolder import CONFIG, RESULT, TEST_ACC, read_metrics, read_result, write_result
from .curves import epochs_to_reach, last_finite, mean_std, metric_curve, stack_mean_std

__all__ = [
    "Arm",
    "ArmResult",
    "arm_dir",
    "epochs_to_reach",
    "last_finite",
    "load_base_config",
    "load_result",
    "mean_std",
    "metric_curve",
    "run_arm",
    "run_arms",
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


def set_threads(threads: int | None) -> None:
    """Use ``threads`` intra-op CPU threads in this process (``None`` leaves PyTorch's default)."""
    if threads is not None:
        import torch

        if threads < 1:
            raise UserError(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(int(threads))


# ------------------------------------------------------------------ one cached run
def is_finished(run_dir: Path, config: dict[str, Any] | None = None) -> bool:
    """``run_dir`` holds a finished run (and, if ``config`` is given, of exactly that resolved config)."""
    run_dir = Path(run_dir)
    if not (run_dir / RESULT).is_file():
        return False
    if config is None:
        return True
    path = run_dir / CONFIG
    return path.is_file() and yaml.safe_load(path.read_text()) == config


def train_run(raw: dict[str, Any], run_dir: Path, *, keep_plots: bool = False) -> float:
    """Train ``raw`` into ``run_dir`` from scratch (a stale folder is cleared first); returns seconds.

    A diverged run still gets its ``result.json`` (``"diverged": true``, the last evaluated accuracy).
    """
    from ..train.config import config_from_dict
    from ..train.engine import TrainingDiverged, train

    run_dir = Path(run_dir)
    if run_dir.exists():  # interrupted or different: the engine appends to metrics.jsonl, so start clean
        # ...unless another process is training into it (two sweeps sharing an output folder): its lock
        # refuses in one line, and nothing of that run is removed. The lock file itself stays while held.
        with RF.RunLock(run_dir):
            for child in run_dir.iterdir():
                if child.name == RF.LOCK:
                    continue
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    raw = copy.deepcopy(raw)
    if not keep_plots:
        raw.setdefault("run", {})["plots"] = False
    cfg = config_from_dict(raw)
    t0 = time.time()
    try:
        train(cfg, run_dir=run_dir, verbose=False)
    except TrainingDiverged as exc:
        accs = [r[TEST_ACC] for r in read_metrics(run_dir) if TEST_ACC in r]
        summary = {
            R.RESULT_DIVERGED: True,
            "message": str(exc),
            R.RESULT_TEST_ACC: accs[-1] if accs else math.nan,
            R.RESULT_BEST_ACC: max(accs) if accs else math.nan,
            R.RESULT_ACC_PER_STEP: [],
            R.RESULT_SECONDS: time.time() - t0,
        }
        write_result(run_dir, summary)
    return time.time() - t0


def run_one(
    raw: dict[str, Any], run_dir: Path, *, rerun: bool = False, log: Callable[[str], None] | None = None
) -> tuple[list[dict[str, Any]], float, bool]:
    """Train ``raw`` into ``run_dir``, or reuse a finished run of the same config there.

    Returns ``(per-epoch records, seconds, reused)``.
    """
    from ..train.config import config_from_dict, config_to_dict

    run_dir = Path(run_dir)
    resolved = config_to_dict(config_from_dict(copy.deepcopy(raw)))
    if not rerun and is_finished(run_dir, resolved):
        return read_metrics(run_dir), 0.0, True
    seconds = train_run(raw, run_dir, keep_plots=True)  # run.plots as the caller set it
    if log is not None:
        result = load_result(run_dir, run_dir.name, reused=False)
        state = "diverged, " if result is not None and result.diverged else ""
        acc = result.test_acc if result is not None else math.nan
        log(f"  {run_dir.name}: {state}test acc {100 * acc:.2f}% in {seconds:.1f}s")
    return read_metrics(run_dir), seconds, False


# ------------------------------------------------------------------ the study's arms
@dataclasses.dataclass(frozen=True)
class Arm:
    """One training run: a readable ``name`` (``digits-lts-T4-imp0-s0``) and its raw config."""

    name: str
    config: dict[str, Any]

    def digest(self) -> str:
        """8 hex digits of the SHA-1 of the config (key order does not matter)."""
        text = json.dumps(self.config, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:8]


@dataclasses.dataclass
class ArmResult:
    """What the analyses need from a finished run (accuracies are fractions)."""

    name: str
    run_dir: Path
    test_acc: float
    best_acc: float
    acc_per_step: list[float]
    history: list[dict[str, Any]]
    seconds: float
    diverged: bool = False
    reused: bool = False

    def curve(self, key: str = TEST_ACC) -> list[float]:
        """``history[*][key]`` by record (NaN where missing)."""
        return [float(r[key]) if isinstance(r.get(key), int | float) else math.nan for r in self.history]


def arm_dir(runs_dir: Path, arm: Arm) -> Path:
    """The run folder of ``arm`` under ``runs_dir``."""
    return Path(runs_dir) / f"{arm.name}-{arm.digest()}"


def load_result(run_dir: Path, name: str, reused: bool = True) -> ArmResult | None:
    """The :class:`ArmResult` of a finished run folder, or ``None`` when it is not finished."""
    res = read_result(run_dir)
    if res is None:
        return None
    return ArmResult(
        name=name,
        run_dir=Path(run_dir),
        test_acc=float(res.get(R.RESULT_TEST_ACC, math.nan)),
        best_acc=float(res.get(R.RESULT_BEST_ACC, math.nan)),
        acc_per_step=list(res.get(R.RESULT_ACC_PER_STEP, [])),
        history=read_metrics(run_dir),
        seconds=float(res.get(R.RESULT_SECONDS, math.nan)),
        diverged=bool(res.get(R.RESULT_DIVERGED, False)),
        reused=reused,
    )


def run_arm(arm: Arm, runs_dir: Path, *, keep_plots: bool = False) -> ArmResult:
    """Train ``arm`` into its run folder, or read it back when it already finished."""
    run_dir = arm_dir(runs_dir, arm)
    done = load_result(run_dir, arm.name)
    if done is not None:
        return done
    raw = copy.deepcopy(arm.config)
    raw.setdefault("name", arm.name)
    train_run(raw, run_dir, keep_plots=keep_plots)
    result = load_result(run_dir, arm.name, reused=False)
    assert result is not None, f"the engine wrote no {RESULT} in {run_dir}"
    return result


def _init_worker(threads: int | None, allocator: str) -> None:
    """A parallel run's process: its threads and its parent's allocator set-up."""
    set_threads(threads)
    worker_init(allocator)


def _run_in_worker(arm: Arm, runs_dir: str, keep_plots: bool) -> ArmResult:
    return run_arm(arm, Path(runs_dir), keep_plots=keep_plots)


def _prepare_data(arms: Sequence[Arm]) -> None:
    """Build each dataset once in this process, so that parallel workers never race to generate it."""
    from ..data.registry import build_dataset

    seen: set[tuple[str, str]] = set()
    for arm in arms:
        data = arm.config.get("data", {})
        key = (data.get("name", "digits"), json.dumps(data.get("options", {}), sort_keys=True))
        if key in seen:
            continue
        seen.add(key)
        build_dataset(key[0], "test", root=data.get("root"), T=arm.config.get("T"), **data.get("options", {}))


def run_arms(
    arms: Sequence[Arm],
    runs_dir: Path,
    *,
    jobs: int = 1,
    threads: int | None = None,
    keep_plots: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, ArmResult]:
    """Run every arm (duplicates by run folder once) and return ``{arm name: result}``.

    Args:
        arms: the arms; two arms with the same config and name share one run.
        runs_dir: parent of the run folders.
        jobs: runs trained at the same time, each in its own process (1 = in this process).
        threads: PyTorch threads per run (default: the CPU count divided by ``jobs``).
        keep_plots: let the engine draw its per-run PNGs.
        log: called with one line per finished run.
    """
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    unique: dict[Path, Arm] = {}
    by_name: dict[str, Path] = {}
    for arm in arms:
        d = arm_dir(runs_dir, arm)
        if by_name.setdefault(arm.name, d) != d:
            raise UserError(f"two different configs share the arm name {arm.name!r}")
        unique.setdefault(d, arm)
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    results: dict[str, ArmResult] = {}
    todo = []
    for d, arm in unique.items():
        loaded = load_result(d, arm.name)
        if loaded is None:
            todo.append(arm)
        else:
            results[arm.name] = loaded
    if log is not None and results:
        log(f"reusing {len(results)} finished runs; training {len(todo)}")
    if todo:
        _prepare_data(todo)

    def report(res: ArmResult, i: int) -> None:
        results[res.name] = res
        if log is not None:
            state = "diverged, " if res.diverged else ""
            log(f"[{i}/{len(todo)}] {res.name}: {state}test acc {100 * res.test_acc:.2f}% in {res.seconds:.1f}s")

    if jobs <= 1:
        set_threads(threads)
        for i, arm in enumerate(todo, 1):
            report(run_arm(arm, runs_dir, keep_plots=keep_plots), i)
    elif todo:
        ctx = multiprocessing.get_context("spawn")  # no forked torch/OpenMP state in the workers
        status = allocator_status()  # spawned workers start with glibc's defaults: repeat this process's set-up
        allocator = status.mode if status is not None and status.applied else "system"
        with cf.ProcessPoolExecutor(
            jobs, mp_context=ctx, initializer=_init_worker, initargs=(threads, allocator)
        ) as pool:
            futures = [pool.submit(_run_in_worker, arm, str(runs_dir), keep_plots) for arm in todo]
            for i, fut in enumerate(cf.as_completed(futures), 1):
                report(fut.result(), i)
    return results
