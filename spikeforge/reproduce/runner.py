"""Run the study's training arms: one engine run per (arm, seed), resumable, optionally in parallel.

An :class:`Arm` is a name and a raw config. Its run folder is ``RUNS/<name>-<hash>``, where
the hash covers the whole config, so two claims that need the same run share it, and a
quick and a full study can live in the same output folder. A folder that holds
``result.json`` is finished and is read back instead of trained again; a folder without it
(an interrupted run) is cleared and trained from scratch. A run whose loss diverges is a
result too: its ``result.json`` records ``"diverged": true`` and the last evaluated accuracy.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..train.runfolder import RESULT, TEST_ACC

__all__ = ["Arm", "ArmResult", "arm_dir", "load_result", "run_arm", "run_arms", "set_threads"]


@dataclasses.dataclass(frozen=True)
class Arm:
    """One training run: a readable ``name`` (``digits-T4-imp0-s0``) and its raw config."""

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
        """``history[*][key]`` by epoch (NaN where missing)."""
        return [float(r[key]) if isinstance(r.get(key), int | float) else math.nan for r in self.history]


def arm_dir(runs_dir: Path, arm: Arm) -> Path:
    """The run folder of ``arm`` under ``runs_dir``."""
    return Path(runs_dir) / f"{arm.name}-{arm.digest()}"


def set_threads(threads: int | None) -> None:
    """Intra-op CPU threads for this process (``None``: leave PyTorch's default)."""
    if threads is not None:
        import torch

        torch.set_num_threads(max(1, int(threads)))


@contextlib.contextmanager
def _quiet_engine(keep_plots: bool) -> Iterator[None]:
    """Skip the engine's per-epoch ``curves.png`` and final ``accuracy_per_step.png``.

    The engine redraws ``curves.png`` after every epoch (about 0.5 s on a busy CPU); over the
    hundreds of short evaluation epochs of a study that is several minutes of matplotlib, more
    than the training itself. The study draws its own figures, so the per-run ones are
    skipped unless asked for. (The engine has no option for this; the patch is undone on exit.)
    """
    if keep_plots:
        yield
        return
    from ..train import plots

    saved = plots.plot_curves, plots.plot_step_accuracy
    plots.plot_curves = lambda *a, **k: None
    plots.plot_step_accuracy = lambda *a, **k: None
    try:
        yield
    finally:
        plots.plot_curves, plots.plot_step_accuracy = saved


def load_result(run_dir: Path, name: str, reused: bool = True) -> ArmResult | None:
    """The :class:`ArmResult` of a finished run folder, or ``None`` when it is not finished."""
    from ..train.runfolder import read_metrics

    path = Path(run_dir) / RESULT
    if not path.is_file():
        return None
    res = json.loads(path.read_text())
    return ArmResult(
        name=name,
        run_dir=Path(run_dir),
        test_acc=float(res.get("test_acc", math.nan)),
        best_acc=float(res.get("best_acc", math.nan)),
        acc_per_step=list(res.get("acc_per_step", [])),
        history=read_metrics(run_dir),
        seconds=float(res.get("seconds", math.nan)),
        diverged=bool(res.get("diverged", False)),
        reused=reused,
    )


def run_arm(arm: Arm, runs_dir: Path, *, keep_plots: bool = False) -> ArmResult:
    """Train ``arm`` into its run folder, or read it back when it already finished."""
    from .data import ensure_registered

    ensure_registered()  # in a worker process too: the study's extra dataset lives in this package
    run_dir = arm_dir(runs_dir, arm)
    done = load_result(run_dir, arm.name)
    if done is not None:
        return done
    if run_dir.exists():  # interrupted: the engine appends to metrics.jsonl, so start clean
        shutil.rmtree(run_dir)
    from ..train.config import config_from_dict
    from ..train.engine import TrainingDiverged, train
    from ..train.runfolder import read_metrics

    raw = copy.deepcopy(arm.config)
    raw.setdefault("name", arm.name)
    cfg = config_from_dict(raw)
    t0 = time.time()
    with _quiet_engine(keep_plots):
        try:
            train(cfg, run_dir=run_dir, verbose=False)
        except TrainingDiverged as exc:
            records = read_metrics(run_dir)
            accs = [r[TEST_ACC] for r in records if TEST_ACC in r]
            summary = {
                "diverged": True,
                "message": str(exc),
                "test_acc": accs[-1] if accs else math.nan,
                "best_acc": max(accs) if accs else math.nan,
                "acc_per_step": [],
                "seconds": time.time() - t0,
            }
            (run_dir / RESULT).write_text(json.dumps(summary, indent=2))
    result = load_result(run_dir, arm.name, reused=False)
    assert result is not None, f"the engine wrote no result.json in {run_dir}"
    return result


def _worker_init(threads: int | None) -> None:
    set_threads(threads)


def _run_in_worker(arm: Arm, runs_dir: str, keep_plots: bool) -> ArmResult:
    return run_arm(arm, Path(runs_dir), keep_plots=keep_plots)


def _prepare_data(arms: Sequence[Arm]) -> None:
    """Build each dataset once in this process, so that parallel workers never race to generate it."""
    from ..data.registry import build_dataset
    from .data import ensure_registered

    ensure_registered()
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
            raise ValueError(f"two different configs share the arm name {arm.name!r}")
        unique.setdefault(d, arm)
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    todo = [a for d, a in unique.items() if not (d / RESULT).is_file()]
    results: dict[str, ArmResult] = {}
    for d, arm in unique.items():
        if (d / RESULT).is_file():
            loaded = load_result(d, arm.name)
            assert loaded is not None
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
        with cf.ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_worker_init, initargs=(threads,)) as pool:
            futures = [pool.submit(_run_in_worker, arm, str(runs_dir), keep_plots) for arm in todo]
            for i, fut in enumerate(cf.as_completed(futures), 1):
                report(fut.result(), i)
    return results
