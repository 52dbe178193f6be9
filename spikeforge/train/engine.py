"""The training loop: one function, :func:`train`, runs a :class:`Config` end to end.

Per epoch it trains (progress bar with loss, accuracy and samples/s), evaluates (accuracy
of the loss's readout plus the accuracy at every time step), logs metrics, plots curves and
writes ``last.pt`` (and ``best.pt``) atomically. ``train(cfg, resume=RUN_DIR)`` continues a
run exactly where its last checkpoint left it. Under ``torchrun`` it trains with DDP.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from ..neuron.nodes import materialize
from . import distributed as D
from .builders import build_data, build_loss_from_config, build_model_from_config, encode_batch, encoder_name
from .checkpoint import get_rng_state, load_checkpoint, save_checkpoint, set_rng_state
from .config import Config, ConfigError, config_to_dict
from .logger import MetricsLogger, read_metrics
from .mix import mix_batch
from .optim import build_optimizer, build_scheduler

__all__ = ["RunResult", "TrainingDiverged", "evaluate", "resolve_device", "train"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclasses.dataclass
class RunResult:
    """What a finished run reports. Accuracies are fractions in [0, 1]."""

    run_dir: Path | None
    test_acc: float
    best_acc: float
    acc_per_step: list[float]
    acc_cumulative: list[float]
    epochs: int
    seconds: float
    history: list[dict[str, Any]]


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available; use device: cpu or auto")
    return device


def _autocast(cfg: Config, device: torch.device):
    if cfg.precision == "fp32":
        return contextlib.nullcontext()
    if cfg.precision == "fp16" and device.type != "cuda":
        raise ConfigError("precision fp16 needs a CUDA device; use bf16 or fp32 on CPU")
    dtype = torch.bfloat16 if cfg.precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _new_run_dir(cfg: Config) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(cfg.out_dir) / f"{cfg.name}-{stamp}"
    run_dir, k = base, 1
    while run_dir.exists():
        k += 1
        run_dir = base.with_name(f"{base.name}-{k}")
    return run_dir


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
        pred = loss_fn.readout(out).argmax(-1)
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
    if sums is None:
        raise ValueError("the evaluation set is empty")
    D.all_reduce_sum(sums)
    n = sums[2].item()
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
    callbacks: list[Callable[[int, dict[str, Any]], None]] | None = None,
    verbose: bool = True,
) -> RunResult:
    """Run ``cfg`` end to end and return its :class:`RunResult`.

    Args:
        cfg: the validated configuration.
        resume: a run folder to continue from its ``last.pt`` (its config is ``cfg``).
        run_dir: an exact folder for a new run (default ``out_dir/NAME-TIMESTAMP``).
        callbacks: functions ``f(epoch, record)`` called after every epoch (epoch 0-based).
        verbose: print epoch summaries and the final result (rank 0).
    """
    t_start = time.time()
    if cfg.run.threads is not None:
        torch.set_num_threads(cfg.run.threads)
    device = resolve_device(cfg.device, _local_rank())
    env = D.setup(device)
    try:
        return _train(cfg, env, device, resume, run_dir, callbacks or [], verbose and env.is_main, t_start)
    finally:
        D.cleanup()


def _local_rank() -> int:
    import os

    return int(os.environ.get("LOCAL_RANK", "0"))


def _train(cfg, env, device, resume, run_dir, callbacks, verbose, t_start) -> RunResult:
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if cfg.run.deterministic:
        torch.use_deterministic_algorithms(True)
    _seed_everything(cfg.seed)
    info, train_loader, test_loader = build_data(cfg, env.rank, env.world_size)
    encoder = encoder_name(cfg, info)
    model = build_model_from_config(cfg, info.num_classes).to(device)
    loss_fn = build_loss_from_config(cfg)
    # Lazily shaped neuron parameters must exist before the optimiser, checkpoint loading and DDP.
    sample_x, _ = next(iter(torch.utils.data.DataLoader(train_loader.dataset, batch_size=1)))
    materialize(model, encode_batch(sample_x.to(device), encoder, cfg.T))
    if cfg.run.sync_bn and env.enabled:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    optimizer = build_optimizer(model, cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.schedule, cfg.epochs)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16")
    # Built before a resume loads the weights: the weight tracker's W_0 is the initialisation.
    monitor = _build_monitor(cfg, model)
    # Data order and augmentation differ per rank; the model was built identically on all ranks.
    _seed_everything(cfg.seed + env.rank)

    start_epoch, best_acc, history = 0, -1.0, []
    if resume is not None:
        run_dir = Path(resume)
        ckpt = load_checkpoint(run_dir / "last.pt", map_location=device)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        if monitor is not None and "monitor" in ckpt:
            monitor.load_state_dict(ckpt["monitor"])
        rng = ckpt["rng"][env.rank] if env.rank < len(ckpt["rng"]) else ckpt["rng"][0]
        set_rng_state(rng)
        start_epoch, best_acc = ckpt["epoch"] + 1, ckpt["best_acc"]
        history = [r for r in read_metrics(run_dir) if r["epoch"] <= ckpt["epoch"] + 1]  # records count from 1
        if env.is_main:
            (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))
    elif env.is_main:
        run_dir = Path(run_dir) if run_dir is not None else _new_run_dir(cfg)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    if not env.is_main:
        run_dir = None

    net = model
    if env.enabled:
        ids = [device.index] if device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    logger = MetricsLogger(run_dir, history, plots=cfg.run.plots) if env.is_main else None
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
        measured = monitor.initial(lambda: evaluate(model, test_loader, loss_fn, encoder, cfg.T, device, autocast))
        initial = {f"monitor/{k}": v for k, v in measured.items()}
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
            )
        scheduler.step()
        record: dict[str, Any] = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"], **tr}
        if (epoch + 1) % cfg.run.eval_every == 0 or epoch + 1 == cfg.epochs:
            with monitor.evaluation() if monitor is not None else contextlib.nullcontext():
                ev = evaluate(model, test_loader, loss_fn, encoder, cfg.T, device, autocast)
            record.update(
                {
                    "test/loss": ev["loss"],
                    "test/acc": ev["acc"],
                    "test/acc_step": ev["acc_step"],
                    "test/acc_cum": ev["acc_cum"],
                }
            )
        if monitor is not None:  # every rank: a collective under DDP
            record.update({f"monitor/{k}": v for k, v in monitor.compute().items()})
            record.update(initial)  # the first record only
            initial = {}
        record["time_s"] = time.time() - t0
        is_best = "test/acc" in record and record["test/acc"] > best_acc
        if is_best:
            best_acc = record["test/acc"]
        if env.is_main:
            logger.log(record)
            if monitor is not None and logger._tb is not None:
                monitor.write_histograms(logger._tb, epoch + 1)
        rng_states = _gather_rng(env)
        if env.is_main and cfg.run.checkpoint:
            payload = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "epoch": epoch,
                "best_acc": best_acc,
                "rng": rng_states,
                "config": config_to_dict(cfg),
            }
            if monitor is not None:
                payload["monitor"] = monitor.state_dict()
            save_checkpoint(run_dir / "last.pt", payload)
            if is_best:
                save_checkpoint(
                    run_dir / "best.pt",
                    {"model": payload["model"], "epoch": epoch, "best_acc": best_acc, "config": payload["config"]},
                )
        if verbose:
            _print_epoch(record, cfg.epochs)
        for cb in callbacks:
            cb(epoch, record)

    checksum = D.check_in_sync(model) if env.enabled else None
    if env.is_main and logger is not None:
        logger.close()
        if ev and cfg.run.plots:
            from .plots import plot_step_accuracy

            plot_step_accuracy(
                ev["acc_step"],
                ev["acc_cum"],
                run_dir / "accuracy_per_step.png",
                f"{cfg.name}: loss {cfg.loss.name}, T={cfg.T}",
            )
    history = logger.records if logger is not None else []
    last = next((r for r in reversed(history) if "test/acc" in r), {})
    result = RunResult(
        run_dir=run_dir,
        test_acc=last.get("test/acc", ev.get("acc", float("nan"))),
        best_acc=best_acc,
        acc_per_step=last.get("test/acc_step", ev.get("acc_step", [])),
        acc_cumulative=last.get("test/acc_cum", ev.get("acc_cum", [])),
        epochs=cfg.epochs,
        seconds=time.time() - t_start,
        history=history,
    )
    if verbose:
        _print_result(result, cfg, checksum)
    if env.is_main and run_dir is not None:
        summary = {k: v for k, v in dataclasses.asdict(result).items() if k != "history"}
        summary["run_dir"] = str(run_dir)
        (run_dir / "result.json").write_text(json.dumps(summary, indent=2))
    return result


def _train_epoch(
    cfg, net, loader, loss_fn, optimizer, scaler, encoder, device, autocast, epoch, num_classes, verbose
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
        if not torch.isfinite(loss):
            bar.close()
            raise TrainingDiverged(
                f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                "lower optim.lr, set optim.grad_clip, or check the data"
            )
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.optim.grad_clip is not None:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(net.parameters(), cfg.optim.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        with torch.no_grad():
            pred = loss_fn.readout(out.float()).argmax(-1)
            label = target.argmax(-1) if target.dim() == 2 else target
            b = y.shape[0]
            loss_sum += loss.item() * b
            correct += (pred == label).sum().item()
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
        "train/loss": stats[0].item() / n,
        "train/acc": stats[1].item() / n,
        "train/samples_per_s": stats[2].item() / max(time.time() - t0, 1e-9),
    }


def _build_monitor(cfg: Config, model: nn.Module):
    if not cfg.run.monitor:
        return None
    from ..monitor.training import TrainingMonitor

    return TrainingMonitor(model)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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
    parts = [f"epoch {r['epoch']:>3}/{epochs}", f"train loss {r['train/loss']:.4f} acc {100 * r['train/acc']:5.1f}%"]
    if "test/acc" in r:
        parts.append(f"test loss {r['test/loss']:.4f} acc {100 * r['test/acc']:5.1f}%")
    parts += [f"lr {r['lr']:.2e}", f"{r['train/samples_per_s']:.0f} samples/s", f"{r['time_s']:.1f}s"]
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
