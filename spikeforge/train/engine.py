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
"""

from __future__ import annotations

import contextlib
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
from .checkpoint import (
    find_nonfinite,
    get_rng_state,
    save_checkpoint,
    set_rng_state,
)
from .config import Config, config_to_dict
from .logger import MetricsLogger
from .mix import mix_batch
from .optim import build_optimizer, build_scheduler
from .resume import RunClaim, abandon_unstarted_run, best_payload, claim_run_folder, resume_run
from .running_stats import adopt_first_batch_statistics, calibrated, fresh_batch_norms
from .runtime import autocast as _runtime_autocast
from .runtime import local_rank as _local_rank
from .runtime import resolve_device, seed_everything, torch_settings, use_device

__all__ = ["RunResult", "TrainingDiverged", "evaluate", "resolve_device", "train"]


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


_seed_everything = seed_everything  # the name analyses and tests import


@torch.no_grad()
def evaluate(
    model: nn.Module, loader, loss_fn: nn.Module, encoder: str, T: int, device: torch.device, autocast
) -> dict[str, Any]:
    """Loss, readout accuracy and per-step accuracies over ``loader`` (summed over ranks).

    ``acc_step[t]`` uses the output at step ``t`` alone; ``acc_cum[t]`` the mean of steps
    ``0..t`` (so ``acc_cum[-1]`` is the mean readout).
    """
    model.eval()
    sums = None
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast:
            out = model(encode_batch(x, encoder, T))
            loss = loss_fn(out, y)
        out = out.float()
        Tn = out.shape[0]
        pred = cast(Callable[[torch.Tensor], torch.Tensor], loss_fn.readout)(out).argmax(-1)
        step_pred = out.argmax(-1)  # [T, B]
        cum = out.cumsum(0) / torch.arange(1, Tn + 1, device=out.device).view(-1, 1, 1)
        batch = torch.cat(
            [
                torch.stack([loss.float() * y.shape[0], (pred == y).sum().float(), y.new_tensor(y.shape[0]).float()]),
                (step_pred == y).sum(1).float(),
                (cum.argmax(-1) == y).sum(1).float(),
            ]
        )
        sums = batch.double() if sums is None else sums + batch.double()
    if sums is None:  # an empty shard (fewer samples than ranks) still takes part in the reduction
        sums = torch.zeros(3 + 2 * T, dtype=torch.float64, device=device)
    D.all_reduce_sum(sums)
    n = sums[2].item()
    if n == 0:
        raise UserError("the evaluation set is empty")
    Tn = (len(sums) - 3) // 2
    return {
        "loss": sums[0].item() / n,
        "acc": sums[1].item() / n,
        "acc_step": [v / n for v in sums[3 : 3 + Tn].tolist()],
        "acc_cum": [v / n for v in sums[3 + Tn :].tolist()],
        "n": int(n),
    }


def train(
    cfg: Config,
    *,
    resume: str | Path | None = None,
    run_dir: str | Path | None = None,
    overwrite: bool = False,
    callbacks: list[Callable[[int, dict[str, Any]], None]] | None = None,
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


def _train(cfg, env, device, claim, callbacks, verbose, t_start) -> RunResult:
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
    # Built before a resume loads the weights: the weight tracker's W_0 is the initialisation.
    monitor = _build_monitor(cfg, model)
    # Data order and augmentation differ per rank; the model was built identically on all ranks.
    _seed_everything(cfg.seed + env.rank)

    start_epoch, best_acc, best_epoch, history, seconds_before = 0, -1.0, -1, [], 0.0
    run_dir: Path | None = claim.run_dir
    if claim.resume:
        start_epoch, best_acc, best_epoch, history, seconds_before = resume_run(
            cfg, env, device, claim.run_dir, model, optimizer, scheduler, scaler, monitor, claim.note, verbose
        )
    elif env.is_main:
        RF.atomic_write_text(claim.run_dir / RF.CONFIG, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    if not env.is_main:
        run_dir = None

    net = model
    if env.enabled:
        ids = [device.index] if device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    # curves are drawn at the end of the run, not per epoch (see the module docstring)
    logger = MetricsLogger(claim.run_dir, history, plots=False) if env.is_main else None
    autocast = _autocast(cfg, device)
    if verbose:
        n_params = sum(p.numel() for p in model.parameters())
        print(
            f"[spikeforge] run {run_dir}  model {cfg.model.name} ({n_params:,} params)  data {cfg.data.name}  "
            f"T={cfg.T}  loss {cfg.loss.name}  device {device}" + (f"  world {env.world_size}" if env.enabled else ""),
            flush=True,
        )
        if start_epoch:
            print(f"[spikeforge] resumed after epoch {start_epoch}", flush=True)

    initial: dict[str, Any] = {}
    if monitor is not None and start_epoch == 0:
        # epoch 0: the untrained model's activity (dead neurons before training, Rouser Fig 4); the
        # RNG is restored so that a monitored run trains exactly as an unmonitored one
        rng = get_rng_state()
        # batch norms with statistics of the data, not their initial (0, 1) (train/running_stats.py)
        # (in full precision: statistics only)
        with calibrated(model, _model_inputs(test_loader, encoder, cfg.T, device, CALIBRATION_BATCHES)):
            measured = monitor.initial(lambda: evaluate(model, test_loader, loss_fn, encoder, cfg.T, device, autocast))
        initial = {RF.MONITOR_PREFIX + k: v for k, v in measured.items()}
        set_rng_state(rng)

    ev: dict[str, Any] = {}
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.time()
        sampler = train_loader.sampler
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        with monitor.train_epoch() if monitor is not None else contextlib.nullcontext():
            tr = _train_epoch(
                cfg,
                net,
                train_loader,
                loss_fn,
                optimizer,
                scaler,
                encoder,
                device,
                autocast,
                epoch,
                info.num_classes,
                verbose,
                scheduler,
            )
        _check_finite(model, epoch, train_loader, cfg, run_dir if cfg.run.checkpoint else None, scaler)
        record: dict[str, Any] = {RF.EPOCH: epoch + 1, RF.LR: optimizer.param_groups[0]["lr"], **tr}
        if (epoch + 1) % cfg.run.eval_every == 0 or epoch + 1 == cfg.epochs:
            with monitor.evaluation() if monitor is not None else contextlib.nullcontext():
                ev = evaluate(model, test_loader, loss_fn, encoder, cfg.T, device, autocast)
            record.update(
                {
                    RF.TEST_LOSS: ev["loss"],
                    RF.TEST_ACC: ev["acc"],
                    RF.TEST_ACC_STEP: ev["acc_step"],
                    RF.TEST_ACC_CUM: ev["acc_cum"],
                }
            )
        if monitor is not None:  # every rank: a collective under DDP
            record.update({RF.MONITOR_PREFIX + k: v for k, v in monitor.compute().items()})
            record.update(initial)  # the first record only
            initial = {}
        record[RF.TIME_S] = time.time() - t0
        is_best = RF.TEST_ACC in record and record[RF.TEST_ACC] > best_acc
        if is_best:
            best_acc, best_epoch = record[RF.TEST_ACC], epoch
        if logger is not None:  # the main rank's
            logger.log(record)
            if monitor is not None:
                logger.add_histograms(monitor.write_histograms, epoch + 1)
        rng_states = _gather_rng(env)
        if env.is_main and cfg.run.checkpoint:
            payload = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "epoch": epoch,
                "best_acc": best_acc,
                "best_epoch": best_epoch,
                "rng": rng_states,
                "config": config_to_dict(cfg),
                "seconds": seconds_before + time.time() - t_start,  # the run's wall time so far
            }
            if monitor is not None:
                payload["monitor"] = monitor.state_dict()
            # last.pt first: a kill before best.pt is written is repaired on resume (resume.repair_best)
            save_checkpoint(claim.run_dir / RF.LAST, payload)
            if is_best:
                save_checkpoint(claim.run_dir / RF.BEST, best_payload(payload))
        if verbose:
            _print_epoch(record, cfg.epochs)
        for cb in callbacks:
            cb(epoch, record)

    checksum = D.check_in_sync(model) if env.enabled else None
    if env.is_main and logger is not None:
        logger.close()
        if cfg.run.plots:
            from .plots import plot_curves

            plot_curves(logger.records, claim.run_dir / RF.CURVES_PNG)
        if ev and cfg.run.plots:
            from .plots import plot_step_accuracy

            plot_step_accuracy(
                ev["acc_step"],
                ev["acc_cum"],
                claim.run_dir / RF.STEP_ACCURACY_PNG,
                f"{cfg.name}: loss {cfg.loss.name}, T={cfg.T}",
            )
    history = logger.records if logger is not None else []
    last: dict[str, Any] = next((r for r in reversed(history) if RF.TEST_ACC in r), {})
    result = RunResult(
        run_dir=run_dir,
        test_acc=last.get(RF.TEST_ACC, ev.get("acc", float("nan"))),
        best_acc=best_acc,
        acc_per_step=last.get(RF.TEST_ACC_STEP, ev.get("acc_step", [])),
        acc_cumulative=last.get(RF.TEST_ACC_CUM, ev.get("acc_cum", [])),
        epochs=cfg.epochs,
        # a resume that trained nothing (the run had finished) keeps the run's total
        seconds=seconds_before + (time.time() - t_start if start_epoch < cfg.epochs else 0.0),
        history=history,
    )
    if verbose:
        _print_result(result, cfg, checksum)
    if env.is_main and run_dir is not None:
        summary = {k: v for k, v in dataclasses.asdict(result).items() if k != "history"}
        summary["run_dir"] = str(run_dir)
        RF.write_result(run_dir, summary)
        if os.environ.get("TORCHELASTIC_RUN_ID"):
            RF.forget_elastic_run_dir(claim.anchor, os.environ["TORCHELASTIC_RUN_ID"])
    return result


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


def _train_epoch(
    cfg, net, loader, loss_fn, optimizer, scaler, encoder, device, autocast, epoch, num_classes, verbose, scheduler
) -> dict[str, float]:
    from tqdm.auto import tqdm

    net.train()
    total = len(loader) if cfg.run.max_steps_per_epoch is None else min(len(loader), cfg.run.max_steps_per_epoch)
    bar = tqdm(
        total=total,
        desc=f"epoch {epoch + 1}/{cfg.epochs}",
        leave=False,
        dynamic_ncols=True,
        disable=not (verbose and cfg.run.progress and sys.stderr.isatty()),
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
            x, target = mix_batch(x, y, num_classes, cfg.augment.mixup, cfg.augment.cutmix, cfg.augment.mix_prob)
        with autocast:
            out = net(encode_batch(x, encoder, cfg.T))
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
            pred = loss_fn.readout(out.float()).argmax(-1)
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
        RF.TRAIN_LOSS: stats[0].item() / n,
        RF.TRAIN_ACC: stats[1].item() / n,
        RF.TRAIN_SAMPLES_PER_S: stats[2].item() / max(time.time() - t0, 1e-9),
    }


#: test batches whose statistics the fresh batch norms get for the monitor's epoch-0 measurement
CALIBRATION_BATCHES = 20


def _model_inputs(loader, encoder: str, T: int, device: torch.device, limit: int):
    """The model inputs ``[T, B, ...]`` of the first ``limit`` batches of ``loader``, one at a time."""
    for i, (x, _) in enumerate(loader):
        if i >= limit:
            return
        yield encode_batch(x.to(device, non_blocking=True), encoder, T)


def _build_monitor(cfg: Config, model: nn.Module):
    if not cfg.run.monitor:
        return None
    from ..monitor.training import TrainingMonitor

    return TrainingMonitor(model, record_v=cfg.run.monitor_membrane)


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
    parts = [f"epoch {r[RF.EPOCH]:>3}/{epochs}", f"train loss {r[RF.TRAIN_LOSS]:.4f} acc {100 * r[RF.TRAIN_ACC]:5.1f}%"]
    if RF.TEST_ACC in r:
        parts.append(f"test loss {r[RF.TEST_LOSS]:.4f} acc {100 * r[RF.TEST_ACC]:5.1f}%")
    parts += [f"lr {r[RF.LR]:.2e}", f"{r[RF.TRAIN_SAMPLES_PER_S]:.0f} samples/s", f"{r[RF.TIME_S]:.1f}s"]
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
