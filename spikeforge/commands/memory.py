"""``spikeforge memory CONFIG [--batch B] [--gpu-mem 24GiB] [--check]``: training memory per process.

Prints the saved-activation bytes per sample of each block under each memory mode (measured on
the CPU at a small batch, :mod:`spikeforge.memory.planner`), the parameter, gradient and
optimiser bytes, and for each mode the bytes at the config's batch per process and the largest
batch that fits ``--gpu-mem``. ``--check`` measures one CPU training step's peak resident memory
at the small batch in a fresh process and says how far the estimate is from it.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys

from ..command_registry import register_command
from ..errors import UserError

__all__ = ["parse_bytes", "run_memory"]

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_bytes(text: str) -> int:
    """``"24GiB"`` -> bytes (``B``, ``KB``/``MB``/``GB`` decimal, ``KiB``/``MiB``/``GiB`` binary)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text)
    unit = m.group(2).upper() if m else ""
    if m is None or unit not in _UNITS:
        raise UserError(f"--gpu-mem: a size like 24GiB or 80GB, got {text!r}")
    return int(float(m.group(1)) * _UNITS[unit])


def _configure(p: argparse.ArgumentParser) -> None:
    """The ``memory`` arguments."""
    p.add_argument("config", help="YAML file or shipped config name")
    p.add_argument("--batch", type=int, default=None, help="batch per process (default: the config's data.batch_size)")
    p.add_argument("--gpu-mem", default="24GiB", help="memory of one GPU (default 24GiB)")
    p.add_argument("--measure-batch", type=int, default=2, help="batch the bytes are measured at (default 2)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    p.add_argument("--check", action="store_true", help="compare with a measured CPU step's peak memory")


def _mib(n: float) -> str:
    return f"{n / 2**20:,.2f}"


def _gib(n: float) -> str:
    return f"{n / 2**30:,.2f} GiB"


def run_memory(args: argparse.Namespace) -> int:
    from ..memory.planner import PLANNED_MODES, estimate
    from ..train.memory_check import build_for_planning

    gpu_mem = parse_bytes(args.gpu_mem)
    if args.measure_batch < 1 or (args.batch is not None and args.batch < 1):
        raise UserError("--batch and --measure-batch must be >= 1")
    cfg, model, sample, _ = build_for_planning(args.config, args.measure_batch, args.set)
    batch = args.batch or cfg.data.batch_size
    est = estimate(model, sample, optimizer=cfg.optim.name, momentum=cfg.optim.momentum, precision=cfg.precision)
    shape = ", ".join(str(s) for s in sample.shape[2:])
    print(
        f"{cfg.name}: {cfg.model.name}, T={cfg.T}, input [T, B, {shape}], precision {cfg.precision}"
        + (" (measured as bf16 on the CPU)" if cfg.precision != "fp32" else "")
        + f"; saved activations measured at batch {est.batch_measured}"
    )
    blocks = list(est.per_block["none"])
    width = max(len(b) for b in blocks) + 2
    print(f"\nsaved activations per sample, MiB\n{'block':{width}s}" + "".join(f"{m:>12s}" for m in PLANNED_MODES))
    for b in blocks:
        print(f"{b:{width}s}" + "".join(f"{_mib(est.per_block[m].get(b, 0.0)):>12s}" for m in PLANNED_MODES))
    print(f"{'total':{width}s}" + "".join(f"{_mib(est.per_sample[m]):>12s}" for m in PLANNED_MODES))
    print(f"auto recomputes {len(est.auto_recomputed)} block(s): {', '.join(est.auto_recomputed) or 'none'}")
    print(
        f"\nparameters + buffers {_mib(est.param_bytes)} MiB, gradients {_mib(est.grad_bytes)} MiB, optimiser "
        f"({cfg.optim.name}) {_mib(est.optimizer_bytes)} MiB; backward peak above the saved bytes "
        f"{_mib(est.transient_per_sample)} MiB per sample; saved once per step whatever the batch (autocast's "
        f"weight casts) {_mib(est.per_step['none'])} MiB; CUDA context 1 GiB"
    )
    print(f"\n{'mode':12s}{'at batch ' + str(batch):>18s}{'fits ' + args.gpu_mem:>14s}{'largest batch':>16s}")
    for m in PLANNED_MODES:
        total = est.total(m, batch)
        fits = "yes" if total <= gpu_mem else "no"
        print(f"{m:12s}{_gib(total):>18s}{fits:>14s}{est.largest_batch(m, gpu_mem):>16d}")
    if args.check:
        _check(args.config, args.measure_batch, args.set)
    return 0


def _check(config: str, batch: int, overrides: list[str]) -> None:
    print(f"\nmeasured: one CPU training step at batch {batch}, peak resident memory above the memory before it")
    for mode in ("none", "auto"):
        cmd = [sys.executable, "-m", "spikeforge.train.memory_check", config, str(batch), mode, *overrides]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise UserError(f"the measured step failed: {done.stderr.strip().splitlines()[-1:]}")
        r = json.loads(done.stdout.strip().splitlines()[-1])
        ratio = r["estimated"] / r["measured"] if r["measured"] > 0 else float("inf")
        print(
            f"  {mode:6s} measured {_mib(r['measured'])} MiB, estimated {_mib(r['estimated'])} MiB "
            f"(estimate / measured = {ratio:.2f})"
        )


register_command(
    "memory",
    help="training memory per process for each memory mode, and the largest batch that fits a GPU",
    description="Measured on the CPU at a small batch from the bytes autograd saves; no GPU needed.",
    configure=_configure,
    handler=run_memory,
)
