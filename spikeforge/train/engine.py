"""The training loop: one function, :func:`train`, runs a :class:`Config` end to end.

Per epoch it trains (progress bar with loss, accuracy and samples/s), evaluates (accuracy
of the loss's readout plus the accuracy at every time step), logs metrics and writes
``last.pt`` (and ``best.pt``) atomically. Plots are drawn once, at the end of the run
(``spikeforge report RUN_DIR`` draws them on demand, e.g. during a run): matplotlib is
neither imported nor run per epoch. ``train(cfg, resume=RUN_DIR)`` continues a
run exactly where its last checkpoint left it. Under ``torchrun`` it trains with DDP.

Nothing is lost or overwritten silently: one process owns a run folder at a time (its
lock, see :mod:`.runfolder`); a new run into a folder that holds one needs ``overwrite``;
a checkpoint is written only when every parameter and gradient is finite; an elastic
restart (``torchrun --max-restarts``) resumes from the run's ``last.pt`` by itself; a
resume that changes the config applies or refuses each change and records it.

The loop is built from small pieces: :func:`_build_run` makes the run's
:class:`~.callbacks.TrainContext` (data, model, loss, optimiser, ...), :func:`_start_or_resume`
its :class:`RunState`, :func:`_run_epoch` trains, evaluates, logs and checkpoints one epoch and
:func:`_finish` reports. What only watches the loop (the monitors, a user's per-epoch function)
is a :class:`~.callbacks.Callback`; the engine never asks whether one is there.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Sized
from pathlib import Path
from typing import Any, cast

import torch
import yaml
from torch import nn

from .. import distributed as D
from .. import records as R
from ..errors import SpikeForgeError, UserError
from ..memory import apply_memory
from ..neuron.nodes import materialize
from ..timelayout import set_time_steps
from . import runfolder as RF
from .builders import (
    build_data,
    build_loss_from_config,
    build_model_from_config,
    check_init_from,
    encode_batch,
    encoder_name,
    init_from_state_dict,
)
from .callbacks import CallbackList, TrainContext, build_callbacks
from .checkpoint import find_nonfinite, get_rng_state, save_checkpoint
from .config import Config, config_to_dict
from .logger import MetricsLogger
from .mix import mix_batch
from .optim import build_optimizer, build_scheduler
from .resume import RunClaim, abandon_unstarted_run, best_payload, claim_run_folder, resume_run
from .running_stats import adopt_first_batch_statistics, fresh_batch_norms
from .runtime import autocast as _runtime_autocast
from .runtime import local_rank as _local_rank
from .runtime import resolve_device, seed_everything, torch_settings, use_device

__all__ = ["RunResult", "RunState", "TrainingDiverged", "resolve_device", "train"]

#: ``f(epoch, record)``, called after every epoch (``train(callbacks=...)``)
EpochFunctionType = Callable[[int, dict[str, Any]], None]


class TrainingDiverged(SpikeForgeError, RuntimeError):
    """The loss, a parameter or a gradient became NaN or infinite (no checkpoint holding it is written)."""


@dataclasses.dataclass
class RunResult:
    """What a finished run reports. Accuracies are fractions in [0, 1]."""

    run_dir: Path | None
    test_acc: float
    best_acc: float
    acc_per_step: list[float]
    acc_cumulative: list[float]
    epochs: int
    seconds: float  # wall time of the whole run, over all its sessions (a resume adds its own)
    history: list[dict[str, Any]]


def _autocast(cfg: Config, device: torch.device):
    return _runtime_autocast(cfg.precision, device)


_seed_everything = seed_everything  # the engine seeds through this name; tests/test_monitor_engine.py seeds alike


def train(
    cfg: Config,
    *,
    resume: str | Path | None = None,
    run_dir: str | Path | None = None,
    overwrite: bool = False,
    callbacks: list[EpochFunctionType] | None = None,
    verbose: bool = True,
) -> RunResult:
    """Run ``cfg`` end to end and return its :class:`RunResult`.

    Args:
        cfg: the validated configuration.
        resume: a run folder to continue from its ``last.pt``. ``cfg`` may differ from the
            checkpoint's config only in fields a resume can change (``epochs``, learning rates,
            schedule, ...; see :func:`~.config.resume_changes`): those are applied and recorded in
            ``overrides.jsonl`` and ``config.yaml``; any other change is refused.
        run_dir: an exact folder for a new run (default ``out_dir/NAME-TIMESTAMP``).
        overwrite: replace the run already in ``run_dir`` (without it such a folder is refused).
        callbacks: functions ``f(epoch, record)`` called after every epoch (epoch 0-based).
        verbose: print epoch summaries and the final result (rank 0).

    Process-wide torch settings (``run.threads``, ``run.deterministic``) are restored on return.
    """
    t_start = time.time()
    device = resolve_device(cfg.device, _local_rank())
    with torch_settings(cfg.run.threads, cfg.run.deterministic):
        use_device(device)  # before the process group: NCCL starts on the current device
        env = D.setup(device)
        claim: RunClaim | None = None
        finished = False
        try:
            if resume is None:
                check_init_from(cfg)  # a missing weights file is the first thing said, before any folder
            _autocast(cfg, device)  # fp16 without CUDA is refused before a run folder is made
            claim = claim_run_folder(cfg, env, resume, run_dir, overwrite)
            result = _train(cfg, env, device, claim, callbacks or [], verbose and env.is_main, t_start)
            finished = True
            return result
        except BaseException as exc:
            if claim is not None and claim.lock is not None:
                abandon_unstarted_run(claim)  # a failed start leaves no folder behind
            if env.enabled:
                # _train's frame, kept by the traceback, still holds the DDP wrapper: freed after the
                # group, its Reducer would free the group holding the GIL (see distributed.cleanup).
                # The traceback keeps its lines; the failed frames lose their locals.
                traceback.clear_frames(exc.__traceback__)
            raise
        finally:
            if claim is not None and claim.lock is not None:
                claim.lock.release()
            D.cleanup(synchronize=finished)  # every rank leaves after the main rank's last file


@dataclasses.dataclass
class RunState:
    """Where a run stands: what a resume restored, then updated by every epoch."""

    run_dir: Path | None  # the run folder on the main rank, None on the others
    start_epoch: int = 0  # the first epoch this session trains (0-based)
    best_acc: float = -1.0
    best_epoch: int = -1
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    seconds_before: float = 0.0  # the run's wall time before this session
    last_eval: dict[str, Any] = dataclasses.field(default_factory=dict)  # the latest evaluate() result


def _train(
    cfg: Config,
    env: D.DistEnv,
    device: torch.device,
    claim: RunClaim,
    functions: list[EpochFunctionType],
    verbose: bool,
    t_start: float,
) -> RunResult:
    ctx, callbacks = _build_run(cfg, env, device, claim, functions, verbose)
    state = _start_or_resume(ctx, claim, callbacks)
    if env.enabled:
        ids = [device.index] if device.type == "cuda" else None
        ctx.net = nn.parallel.DistributedDataParallel(ctx.model, device_ids=ids)
    # curves are drawn at the end of the run, not per epoch (see the module docstring)
    logger = MetricsLogger(claim.run_dir, state.history, plots=False) if env.is_main else None
    if verbose:
        _print_start(ctx, state)
    callbacks.on_train_start(ctx)
    for epoch in range(state.start_epoch, cfg.epochs):
        _run_epoch(ctx, state, epoch, callbacks, logger, claim.run_dir, t_start)
    return _finish(ctx, state, claim, logger, t_start)


def _build_run(
    cfg: Config,
    env: D.DistEnv,
    device: torch.device,
    claim: RunClaim,
    functions: list[EpochFunctionType],
    verbose: bool,
) -> tuple[TrainContext, CallbackList]:
    """Seed, then build the data, the model (materialised, memory mode applied), loss, optimiser and callbacks."""
    _seed_everything(cfg.seed)
    if not claim.resume:
        check_init_from(cfg)  # before the data, which can take minutes to index
    info, train_loader, test_loader = build_data(cfg, env.rank, env.world_size)
    for split, loader in (("train", train_loader), ("test", test_loader)):
        if len(cast(Sized, loader.dataset)) == 0:  # found now, not after a training epoch
            raise UserError(
                f"dataset {cfg.data.name!r}: the {split} split is empty (0 samples); check data.root and data.options"
            )
    encoder = encoder_name(cfg, info)
    model = build_model_from_config(cfg, info.num_classes).to(device)
    set_time_steps(model, cfg.T)  # a [B, T, ...] batch reaching a neuron fails with one line, not a wrong T
    loss_fn = build_loss_from_config(cfg)
    # Lazily shaped neuron parameters must exist before the optimiser, checkpoint loading and DDP.
    sample_x, _ = next(iter(torch.utils.data.DataLoader(train_loader.dataset, batch_size=1)))
    materialize(model, encode_batch(sample_x.to(device), encoder, cfg.T))
    if cfg.model.init_from and not claim.resume:
        init_from_state_dict(model, cfg.model.init_from)
    apply_memory(model, cfg.memory, encode_batch(sample_x.to(device), encoder, cfg.T))  # state and RNG untouched
    if cfg.run.sync_bn and env.enabled:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    optimizer = build_optimizer(model, cfg.optim)
    steps_per_epoch = min(len(train_loader), cfg.run.max_steps_per_epoch or len(train_loader))
    scheduler = build_scheduler(optimizer, cfg.schedule, cfg.epochs, steps_per_epoch)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16")
    # Built before a resume loads the weights: the monitor's weight tracker keeps the initialisation as W_0.
    callbacks = build_callbacks(cfg, model, functions)
    # Data order and augmentation differ per rank; the model was built identically on all ranks.
    _seed_everything(cfg.seed + env.rank)
    ctx = TrainContext(
        cfg=cfg,
        env=env,
        device=device,
        info=info,
        train_loader=train_loader,
        test_loader=test_loader,
        encoder=encoder,
        model=model,
        loss_fn=loss_fn,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=scaler,
        autocast=_autocast(cfg, device),
        verbose=verbose,
    )
    return ctx, callbacks


def _start_or_resume(ctx: TrainContext, claim: RunClaim, callbacks: CallbackList) -> RunState:
    """A fresh run writes its config; a resumed one loads ``last.pt`` into the run's objects and callbacks."""
    state = RunState(run_dir=claim.run_dir if ctx.env.is_main else None)
    if claim.resume:
        state.start_epoch, state.best_acc, state.best_epoch, state.history, state.seconds_before = resume_run(
            ctx.cfg,
            ctx.env,
            ctx.device,
            claim.run_dir,
            ctx.model,
            ctx.optimizer,
            ctx.scheduler,
            ctx.scaler,
            callbacks,
            claim.note,
            ctx.verbose,
        )
    elif ctx.env.is_main:
        RF.atomic_write_text(claim.run_dir / RF.CONFIG, yaml.safe_dump(config_to_dict(ctx.cfg), sort_keys=False))
    ctx.start_epoch = state.start_epoch
    return state


def _run_epoch(
    ctx: TrainContext,
    state: RunState,
    epoch: int,
    callbacks: CallbackList,
    logger: MetricsLogger | None,
    folder: Path,
    t_start: float,
) -> None:
    """Train one epoch, evaluate when due, log the record and write the checkpoints (``folder``: main rank)."""
    cfg = ctx.cfg
    t0 = time.time()
    sampler = ctx.train_loader.sampler
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)
    with callbacks.training_epoch(epoch):
        trained = _train_epoch(ctx, epoch)
    _check_finite(ctx.model, epoch, ctx.train_loader, cfg, state.run_dir if cfg.run.checkpoint else None, ctx.scaler)
    record: dict[str, Any] = {R.EPOCH: epoch + 1, R.LR: ctx.optimizer.param_groups[0]["lr"], **trained}
    if (epoch + 1) % cfg.run.eval_every == 0 or epoch + 1 == cfg.epochs:
        with callbacks.evaluation():
            state.last_eval = ctx.evaluate()
        record.update(_test_record(state.last_eval))
    callbacks.on_epoch_end(epoch, record)  # every rank: a collective under DDP
    record[R.TIME_S] = time.time() - t0
    is_best = R.TEST_ACC in record and record[R.TEST_ACC] > state.best_acc
    if is_best:
        state.best_acc, state.best_epoch = record[R.TEST_ACC], epoch
    if logger is not None:  # the main rank's
        logger.log(record)
        callbacks.on_log(epoch, logger)
    rng_states = _gather_rng(ctx.env)
    if ctx.env.is_main and cfg.run.checkpoint:
        _save_checkpoints(ctx, state, epoch, is_best, rng_states, callbacks, folder, t_start)
    if ctx.verbose:
        _print_epoch(record, cfg.epochs)
    callbacks.on_epoch_done(epoch, record)


def _test_record(ev: dict[str, Any]) -> dict[str, Any]:
    """The record entries of an :func:`.evaluate.evaluate` result."""
    return {
        R.TEST_LOSS: ev["loss"],
        R.TEST_ACC: ev["acc"],
        R.TEST_ACC_STEP: ev["acc_step"],
        R.TEST_ACC_CUM: ev["acc_cum"],
    }


def _save_checkpoints(
    ctx: TrainContext,
    state: RunState,
    epoch: int,
    is_best: bool,
    rng_states: list[dict[str, Any]],
    callbacks: CallbackList,
    folder: Path,
    t_start: float,
) -> None:
    """``last.pt`` (everything an exact resume needs), then ``best.pt`` when this epoch is the best."""
    payload = {
        "model": ctx.model.state_dict(),
        "optimizer": ctx.optimizer.state_dict(),
        "scheduler": ctx.scheduler.state_dict(),
        "scaler": ctx.scaler.state_dict(),
        "epoch": epoch,
        "best_acc": state.best_acc,
        "best_epoch": state.best_epoch,
        "rng": rng_states,
        "config": config_to_dict(ctx.cfg),
        "seconds": state.seconds_before + time.time() - t_start,  # the run's wall time so far
    }
    payload.update(callbacks.state_dict())  # e.g. "monitor": the weight tracker's W_0
    # last.pt first: a kill before best.pt is written is repaired on resume (resume.repair_best)
    save_checkpoint(folder / RF.LAST, payload)
    if is_best:
        save_checkpoint(folder / RF.BEST, best_payload(payload))


def _finish(
    ctx: TrainContext, state: RunState, claim: RunClaim, logger: MetricsLogger | None, t_start: float
) -> RunResult:
    """Check the ranks agree, draw the plots, and report and record the result."""
    cfg, env = ctx.cfg, ctx.env
    checksum = D.check_in_sync(ctx.model) if env.enabled else None
    if env.is_main and logger is not None:
        logger.close()
        _draw_plots(cfg, logger.records, state.last_eval, claim.run_dir)
    history = logger.records if logger is not None else []
    ev = state.last_eval
    last: dict[str, Any] = next((r for r in reversed(history) if R.TEST_ACC in r), {})
    result = RunResult(
        run_dir=state.run_dir,
        test_acc=last.get(R.TEST_ACC, ev.get("acc", float("nan"))),
        best_acc=state.best_acc,
        acc_per_step=last.get(R.TEST_ACC_STEP, ev.get("acc_step", [])),
        acc_cumulative=last.get(R.TEST_ACC_CUM, ev.get("acc_cum", [])),
        epochs=cfg.epochs,
        # a resume that trained nothing (the run had finished) keeps the run's total
        seconds=state.seconds_before + (time.time() - t_start if state.start_epoch < cfg.epochs else 0.0),
        history=history,
    )
    if ctx.verbose:
        _print_result(result, cfg, checksum)
    if env.is_main and state.run_dir is not None:
        summary = {k: v for k, v in dataclasses.asdict(result).items() if k != "history"}
        summary["run_dir"] = str(state.run_dir)
        RF.write_result(state.run_dir, summary)
        if os.environ.get("TORCHELASTIC_RUN_ID"):
            RF.forget_elastic_run_dir(claim.anchor, os.environ["TORCHELASTIC_RUN_ID"])
    return result


def _draw_plots(cfg: Config, records: list[dict[str, Any]], last_eval: dict[str, Any], folder: Path) -> None:
    """``curves.png`` and ``accuracy_per_step.png`` at the end of the run, when ``run.plots`` is on."""
    if not cfg.run.plots:
        return
    from .plots import plot_curves, plot_step_accuracy

    plot_curves(records, folder / RF.CURVES_PNG)
    if last_eval:
        plot_step_accuracy(
            last_eval["acc_step"],
            last_eval["acc_cum"],
            folder / RF.STEP_ACCURACY_PNG,
            f"{cfg.name}: loss {cfg.loss.name}, T={cfg.T}",
        )


def _print_start(ctx: TrainContext, state: RunState) -> None:
    cfg = ctx.cfg
    n_params = sum(p.numel() for p in ctx.model.parameters())
    world = f"  world {ctx.env.world_size}" if ctx.env.enabled else ""
    print(
        f"[spikeforge] run {state.run_dir}  model {cfg.model.name} ({n_params:,} params)  data {cfg.data.name}  "
        f"T={cfg.T}  loss {cfg.loss.name}  device {ctx.device}" + world,
        flush=True,
    )
    if state.start_epoch:
        print(f"[spikeforge] resumed after epoch {state.start_epoch}", flush=True)


#: an fp16 loss scale below this means the gradients overflow even unscaled: every step is skipped
MIN_LOSS_SCALE = 2.0**-24


def _check_finite(
    model: nn.Module, epoch: int, loader, cfg: Config, run_dir: Path | None, scaler: torch.amp.GradScaler | None = None
) -> None:
    """Stop before logging or checkpointing a model holding NaN/inf (spiking layers hide it: NaN >= v_th is False).

    With an fp16 loss scaler on, non-finite gradients are a step the scaler skipped (it lowers its
    scale and leaves them in ``.grad``), not divergence; a scale that collapsed is.
    """
    scaling = scaler is not None and scaler.is_enabled()
    if scaling and cast(torch.amp.GradScaler, scaler).get_scale() < MIN_LOSS_SCALE:
        scale = cast(torch.amp.GradScaler, scaler).get_scale()
        raise TrainingDiverged(
            f"the fp16 loss scale fell to {scale:g} at epoch {epoch + 1}: the gradients overflow at every step; "
            "lower optim.lr, set optim.grad_clip, or train in bf16"
        )
    bad = find_nonfinite(dict(model.named_parameters()))
    kind = "parameter"
    if bad is None and not scaling:
        grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
        bad, kind = find_nonfinite(grads), "gradient of"
    if bad is None:
        bad, kind = find_nonfinite(dict(model.named_buffers())), "buffer"
    if bad is None:
        return
    name, count, numel = bad
    others = sum(
        1
        for n, t in [*model.named_parameters(), *model.named_buffers()]
        if n != name and t.is_floating_point() and not bool(torch.isfinite(t).all())
    )
    also = f", and {others} more tensors do" if others else ""
    steps = len(loader) if cfg.run.max_steps_per_epoch is None else min(len(loader), cfg.run.max_steps_per_epoch)
    kept = ""
    if run_dir is not None:
        kept = f"; {RF.LAST} keeps epoch {epoch}, the last good one" if epoch else "; no checkpoint was written"
    raise TrainingDiverged(
        f"{kind} {name!r} holds {count} non-finite values (of {numel}){also}, "
        f"at epoch {epoch + 1}, step {steps}{kept}; "
        "lower optim.lr or the warm-up, set optim.grad_clip, or check the data"
    )


def _train_epoch(ctx: TrainContext, epoch: int) -> dict[str, float]:
    """One epoch over the training set (at most ``run.max_steps_per_epoch`` steps): loss, accuracy, samples/s."""
    from tqdm.auto import tqdm

    cfg, net, loader, loss_fn = ctx.cfg, ctx.net, ctx.train_loader, ctx.loss_fn
    optimizer, scaler, scheduler, device = ctx.optimizer, ctx.scaler, ctx.scheduler, ctx.device
    net.train()
    total = len(loader) if cfg.run.max_steps_per_epoch is None else min(len(loader), cfg.run.max_steps_per_epoch)
    bar = tqdm(
        total=total,
        desc=f"epoch {epoch + 1}/{cfg.epochs}",
        leave=False,
        dynamic_ncols=True,
        disable=not (ctx.verbose and cfg.run.progress and sys.stderr.isatty()),
        file=sys.stderr,
    )
    loss_sum = correct = seen = 0.0
    t0 = time.time()
    mixing = cfg.augment.mixup > 0 or cfg.augment.cutmix > 0
    # a fresh run's batch norms start their running statistics from the first batch (train/running_stats.py)
    fresh_norms = fresh_batch_norms(net) if epoch == 0 else []
    for step, (x, y) in enumerate(loader):
        if step >= total:
            break
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        target = y
        if mixing:
            x, target = mix_batch(
                x, y, ctx.info.num_classes, cfg.augment.mixup, cfg.augment.cutmix, cfg.augment.mix_prob
            )
        with ctx.autocast:
            out = net(encode_batch(x, ctx.encoder, cfg.T))
            loss = loss_fn(out, target)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.optim.grad_clip is not None:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(net.parameters(), cfg.optim.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()  # once per iteration (build_scheduler counts steps_per_epoch)
        if fresh_norms:
            adopt_first_batch_statistics(fresh_norms)
            fresh_norms = []
        with torch.no_grad():
            pred = cast(Callable[[torch.Tensor], torch.Tensor], loss_fn.readout)(out.float()).argmax(-1)
            label = target.argmax(-1) if target.dim() == 2 else target
            b = y.shape[0]
            # The step's one host sync, once its backward and update are queued: blocking on the loss before
            # backward would leave the GPU idle while the host queues it.
            step_loss, step_correct = torch.stack([loss.detach().float(), (pred == label).sum().float()]).tolist()
        if not math.isfinite(step_loss):
            bar.close()
            raise TrainingDiverged(
                f"loss became {step_loss} at epoch {epoch + 1}, step {step + 1}; "
                "lower optim.lr, set optim.grad_clip, or check the data"
            )
        loss_sum += step_loss * b
        correct += step_correct
        seen += b
        bar.update(1)
        bar.set_postfix(
            loss=f"{loss_sum / seen:.4f}",
            acc=f"{100 * correct / seen:.1f}%",
            sps=f"{seen / max(time.time() - t0, 1e-9):.0f}",
        )
    bar.close()
    stats = torch.tensor([loss_sum, correct, seen], dtype=torch.float64)
    D.all_reduce_sum(stats)
    n = max(stats[2].item(), 1.0)
    return {
        R.TRAIN_LOSS: stats[0].item() / n,
        R.TRAIN_ACC: stats[1].item() / n,
        R.TRAIN_SAMPLES_PER_S: stats[2].item() / max(time.time() - t0, 1e-9),
    }


def _gather_rng(env: D.DistEnv) -> list[dict[str, Any]]:
    """Every rank's RNG state, gathered on all ranks (rank 0 writes them)."""
    state = get_rng_state()
    if not env.enabled:
        return [state]
    import torch.distributed as dist

    gathered: list[Any] = [None] * env.world_size
    dist.all_gather_object(gathered, state)
    return gathered


def _print_epoch(r: dict[str, Any], epochs: int) -> None:
    parts = [f"epoch {r[R.EPOCH]:>3}/{epochs}", f"train loss {r[R.TRAIN_LOSS]:.4f} acc {100 * r[R.TRAIN_ACC]:5.1f}%"]
    if R.TEST_ACC in r:
        parts.append(f"test loss {r[R.TEST_LOSS]:.4f} acc {100 * r[R.TEST_ACC]:5.1f}%")
    parts += [f"lr {r[R.LR]:.2e}", f"{r[R.TRAIN_SAMPLES_PER_S]:.0f} samples/s", f"{r[R.TIME_S]:.1f}s"]
    print("  ".join(parts), flush=True)


def _print_result(res: RunResult, cfg: Config, checksum: float | None) -> None:
    if math.isnan(res.test_acc):
        return
    print(
        f"[spikeforge] final test accuracy {100 * res.test_acc:.2f}% (best {100 * res.best_acc:.2f}%) "
        f"after {res.epochs} epochs in {res.seconds:.1f}s",
        flush=True,
    )
    header = "  t:        " + " ".join(f"{t + 1:>6}" for t in range(len(res.acc_per_step)))
    alone = "  step t:   " + " ".join(f"{100 * a:5.1f}%" for a in res.acc_per_step)
    cum = "  mean 1..t:" + " ".join(f"{100 * a:5.1f}%" for a in res.acc_cumulative)
    print("[spikeforge] test accuracy per time step:\n" + "\n".join([header, alone, cum]), flush=True)
    if checksum is not None:
        print(f"[spikeforge] ranks in sync: parameter checksum {checksum:.10g}", flush=True)
    if res.run_dir is not None:
        print(f"[spikeforge] run folder: {res.run_dir}", flush=True)
