"""Who writes a run folder, and how a run continues from it.

:func:`claim_run_folder` picks and locks the folder of a run (rank 0; every rank learns it):
a new timestamped folder, an exact ``--run-dir`` (refused when it already holds a run unless
``overwrite``), a ``--resume`` folder, or, after an elastic restart
(``TORCHELASTIC_RESTART_COUNT > 0``), the folder this job's earlier attempt wrote.
:func:`resume_run` loads ``last.pt`` into a run's objects, applies or refuses each config
change (:func:`~.config.resume_changes`), records what it applied, and makes ``best.pt``
agree with ``last.pt`` after a kill between their writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import sys
from pathlib import Path
from typing import Any, cast

import yaml

from .. import distributed as D
from .. import records as R
from ..errors import RunFolderError, SpikeForgeError
from . import runfolder as RF
from .checkpoint import (
    CheckpointError,
    find_nonfinite,
    load_checkpoint,
    load_model_state,
    save_checkpoint,
    set_rng_state,
)
from .config import Config, config_from_dict, config_to_dict, resume_changes

__all__ = ["RunClaim", "abandon_unstarted_run", "best_payload", "claim_run_folder", "new_run_dir", "resume_run"]


def new_run_dir(cfg: Config) -> Path:
    """A fresh ``out_dir/NAME-TIMESTAMP[-k]`` folder, created here (so two runs never pick the same one)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(cfg.out_dir) / f"{cfg.name}-{stamp}"
    run_dir, k = base, 1
    while True:
        try:
            run_dir.mkdir(parents=True, exist_ok=False)
            return run_dir
        except FileExistsError:
            k += 1
            run_dir = base.with_name(f"{base.name}-{k}")
        except OSError as exc:
            raise RunFolderError(RF.os_error_message(exc, run_dir)) from None


@dataclasses.dataclass
class RunClaim:
    """The run folder this process trains into: whether it resumes, and (rank 0) the held lock."""

    run_dir: Path
    resume: bool
    lock: RF.RunLock | None = None
    note: str = ""
    anchor: Path = Path(".")  # where an elastic job's pointer to this folder lives
    created: bool = False  # the folder did not exist before this run claimed it


def elastic_restart_id() -> str | None:
    """The elastic job id when this is a restarted torchrun group (``TORCHELASTIC_RESTART_COUNT > 0``)."""
    if int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0) > 0:
        return os.environ.get("TORCHELASTIC_RUN_ID")
    return None


def elastic_restarts_left() -> bool:
    """Whether torchrun may still restart this group (``TORCHELASTIC_RESTART_COUNT < TORCHELASTIC_MAX_RESTARTS``)."""
    count = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0)
    return count < int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0") or 0)


def claim_run_folder(cfg: Config, env: D.DistEnv, resume, run_dir, overwrite: bool) -> RunClaim:
    """Rank 0 picks and locks the run folder; every rank learns it (or rank 0's one-line error)."""
    claim: RunClaim | None = None
    error = None
    if env.is_main:
        try:
            claim = _claim_on_main(cfg, resume, run_dir, overwrite)
        except SpikeForgeError as exc:
            error = exc
    if env.enabled:
        shared = D.broadcast_object(
            (str(claim.run_dir), claim.resume) if claim is not None else (None, str(error)), src=0
        )
        if not env.is_main:
            path, flag = cast(tuple, shared)
            if path is None:
                raise RunFolderError(flag)
            return RunClaim(Path(path), bool(flag))
    if error is not None:
        raise error
    assert claim is not None
    return claim


def elastic_anchor(cfg: Config, run_dir) -> Path:
    """Where an elastic job notes its run folder: beside ``--run-dir``, else in ``out_dir``."""
    return Path(run_dir).parent if run_dir is not None else Path(cfg.out_dir)


def _claim_on_main(cfg: Config, resume, run_dir, overwrite: bool) -> RunClaim:
    elastic = elastic_restart_id()
    job = os.environ.get("TORCHELASTIC_RUN_ID")
    anchor = elastic_anchor(cfg, run_dir)
    note = ""
    if resume is None and elastic is not None:
        earlier = RF.elastic_run_dir(anchor, elastic)  # this job's own folder from before the restart
        if earlier is not None and (earlier / RF.LAST).is_file():
            resume, note = earlier, f"elastic restart {os.environ.get('TORCHELASTIC_RESTART_COUNT')}: resuming"
        elif earlier is not None:
            run_dir, overwrite = earlier, True  # it stopped before its first checkpoint: start it again
    if resume is not None:
        folder = Path(resume)
        if not folder.is_dir():
            raise RunFolderError(f"--resume {folder}: no such run folder")
        lock = RF.RunLock(folder, tag=job).acquire()
        try:
            if not (folder / RF.LAST).is_file():
                raise RunFolderError(
                    f"--resume {folder}: no {RF.LAST} there, nothing to resume (did the run stop before its first "
                    f"epoch ended, or is run.checkpoint false?); start it again with --run-dir {folder} --overwrite"
                )
            RF.remove_stale_temporaries(folder)
            if job is not None and not elastic_restarts_left():
                RF.forget_elastic_run_dir(anchor, job)  # this is the last attempt: no one reads it later
        except BaseException:
            lock.release()
            raise
        return RunClaim(folder, True, lock, note, anchor)
    created = run_dir is None or not Path(run_dir).exists()
    folder = Path(run_dir) if run_dir is not None else new_run_dir(cfg)
    lock = RF.RunLock(folder, tag=job).acquire()
    try:
        if RF.holds_run(folder):
            if not overwrite:
                state = "a finished run" if (folder / RF.RESULT).is_file() else "a run"
                raise RunFolderError(
                    f"run folder {folder} already holds {state}; continue it with --resume {folder}, "
                    "or replace it with --overwrite"
                )
            RF.clear_run(folder)
        RF.remove_stale_temporaries(folder)
        if job is not None and elastic_restarts_left():
            RF.remember_elastic_run_dir(anchor, job, folder)
        elif job is not None:  # no later attempt reads it: a failure of this one must not leave it behind
            RF.forget_elastic_run_dir(anchor, job)
    except BaseException:
        lock.release()
        raise
    return RunClaim(folder, False, lock, note, anchor, created)


def abandon_unstarted_run(claim: RunClaim) -> None:
    """After a new run failed before recording any epoch (a config error found once the data or the device
    is known, a missing file, Ctrl-C while indexing): remove what its start made (``config.yaml``, the lock)
    and the folder itself when this run created it, so that a start that failed leaves no debris.

    A run that recorded an epoch (``metrics.jsonl`` or ``last.pt`` exists) is kept; so are files in the
    folder that are not the run's own. Called on the main rank while it holds the lock.
    """
    folder = claim.run_dir
    if claim.resume or any((folder / name).exists() for name in (RF.METRICS, RF.LAST)):
        return
    try:
        RF.clear_run(folder)
    except SpikeForgeError:
        return  # cannot write there: nothing to clean either
    if claim.lock is not None:
        claim.lock.release()  # removes RUN/lock
    if claim.created:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty


def best_payload(last: dict[str, Any]) -> dict[str, Any]:
    return {"model": last["model"], "epoch": last["epoch"], "best_acc": last["best_acc"], "config": last["config"]}


def resume_run(
    cfg: Config,
    env: D.DistEnv,
    device,
    run_dir: Path,
    model,
    optimizer,
    scheduler,
    scaler,
    callbacks,
    note: str,
    verbose: bool,
):
    """Load ``RUN/last.pt`` into the run's objects; apply or refuse config changes; repair best.pt.

    Returns ``(start_epoch, best_acc, best_epoch, history, seconds_before)``: ``seconds_before`` is the run's
    wall time before this session (a finished run's total from ``result.json`` when nothing is left to train).
    """
    path = run_dir / RF.LAST
    ckpt = load_checkpoint(path, map_location=device)
    for key in ("model", "optimizer", "scheduler", "scaler", "epoch", "best_acc", "rng"):
        if key not in ckpt:
            raise CheckpointError(f"{path}: not a SpikeForge training checkpoint (no {key!r})")
    bad = find_nonfinite(ckpt["model"])
    if bad is not None:
        raise CheckpointError(
            f"{path} holds {bad[1]} non-finite values in {bad[0]!r}: it cannot be resumed; start a new run"
        )
    applied, refused = resume_changes(normalized_config(ckpt.get("config"), cfg), config_to_dict(cfg))
    if refused:
        key, old, new = refused[0]
        more = f" (and {len(refused) - 1} more: {', '.join(k for k, _, _ in refused[1:])})" if len(refused) > 1 else ""
        raise RunFolderError(
            f"--resume {run_dir}: cannot change {key} ({old!r} -> {new!r}){more} in a run in progress, it would no "
            "longer match its checkpoint; start a new run for it"
        )
    load_model_state(model, ckpt["model"], path)
    fresh = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    try:
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: its optimiser state does not fit this model ({exc})") from None
    if any(k.startswith(("optim.", "schedule.", "epochs")) for k in applied):
        reapply_hyperparameters(optimizer, scheduler, fresh)
    if callbacks is not None:
        callbacks.load_state_dict(ckpt)  # each callback's entry of the checkpoint (the monitor's "monitor")
    rng = ckpt["rng"][env.rank] if env.rank < len(ckpt["rng"]) else ckpt["rng"][0]
    set_rng_state(rng)
    epoch, best_acc = ckpt["epoch"], ckpt["best_acc"]
    best_epoch = ckpt.get("best_epoch", -1)
    history = [r for r in RF.read_metrics(run_dir) if r[R.EPOCH] <= epoch + 1]  # records count from 1
    seconds_before = _seconds_before(run_dir, ckpt, history, cfg.epochs)
    if env.is_main:
        _report_lost_records(run_dir, history, epoch + 1)
        RF.write_records(run_dir, history)
        best_epoch = repair_best(run_dir, ckpt, best_epoch, verbose)
        if applied:
            RF.atomic_write_text(run_dir / RF.CONFIG, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
            RF.record_overrides(run_dir, epoch + 1, applied)
        if verbose:
            if note:
                print(f"[spikeforge] {note} {run_dir} after epoch {epoch + 1}", flush=True)
            for key, (old, new) in applied.items():
                print(f"[spikeforge] --resume: {key} {old!r} -> {new!r} (recorded in {RF.OVERRIDES})", flush=True)
    return epoch + 1, best_acc, best_epoch, history, seconds_before


def _seconds_before(run_dir: Path, ckpt: dict[str, Any], history: list[dict[str, Any]], epochs: int) -> float:
    """The run's wall time before this session: the finished run's total, else the checkpoint's count (a
    checkpoint from before it was recorded: the epochs' own times)."""
    result = RF.read_result(run_dir) if ckpt["epoch"] + 1 >= epochs else None
    if result is not None and isinstance(result.get("seconds"), int | float):
        return float(result["seconds"])
    if isinstance(ckpt.get("seconds"), int | float):
        return float(ckpt["seconds"])
    return float(sum(r.get(R.TIME_S, 0.0) for r in history))


def _report_lost_records(run_dir: Path, history: list[dict[str, Any]], last_epoch: int) -> None:
    """Say in one line when epochs the checkpoint holds have no metrics record (a torn or lost line)."""
    have = {r.get(R.EPOCH) for r in history}
    lost = [e for e in range(1, last_epoch + 1) if e not in have]
    if not lost:
        return
    which = f"epoch {lost[0]}" if len(lost) == 1 else f"epochs {', '.join(map(str, lost))}"
    print(
        f"[spikeforge] warning: {run_dir / RF.METRICS} has no record of {which} (a line torn or lost in a crash); "
        f"{RF.LAST} holds epoch {last_epoch}, so the run resumes after it and {which} stays without metrics",
        file=sys.stderr,
        flush=True,
    )


def normalized_config(raw: Any, cfg: Config) -> dict[str, Any]:
    """A checkpoint's config with the fields this version added filled with their defaults."""
    if not isinstance(raw, dict):
        return config_to_dict(cfg)
    try:
        return config_to_dict(config_from_dict(raw))
    except SpikeForgeError:
        return raw


def reapply_hyperparameters(optimizer, scheduler, fresh: list[dict[str, Any]]) -> None:
    """Put the config's hyper-parameters back after loading an optimiser state (which restores the old ones)."""
    for i, (group, new) in enumerate(zip(optimizer.param_groups, fresh)):
        for key in ("weight_decay", "momentum", "betas", "nesterov"):
            if key in new and key in group:
                group[key] = new[key]
        scheduler.base_lrs[i] = new["lr"]
        group["initial_lr"] = new["lr"]
        group["lr"] = new["lr"] * scheduler.lr_lambdas[i](scheduler.last_epoch)
    scheduler._last_lr = [g["lr"] for g in optimizer.param_groups]


def repair_best(run_dir: Path, ckpt: dict[str, Any], best_epoch: int, verbose: bool) -> int:
    """Make best.pt agree with last.pt after a kill between their writes (only last.pt's epoch can be missing)."""
    path = run_dir / RF.BEST
    best = None
    if path.is_file():
        try:
            best = load_checkpoint(path)
        except CheckpointError:
            best = None  # damaged: rebuilt below when last.pt is the best epoch
    if best_epoch < 0:  # a checkpoint from before best_epoch was recorded: infer it
        stale = best is None or best.get("best_acc") != ckpt["best_acc"]
        best_epoch = ckpt["epoch"] if stale or best is None else int(best.get("epoch", -1))
    if best_epoch == ckpt["epoch"] and ckpt["best_acc"] >= 0 and (best is None or best.get("epoch") != best_epoch):
        save_checkpoint(path, best_payload(ckpt))
        if verbose:
            print(f"[spikeforge] {RF.BEST} was older than {RF.LAST} (interrupted write): rewritten", flush=True)
    return best_epoch
