"""Training memory of whole networks: SpikeForge's memory modes against SpikingJelly 2.0's memopt.

Usage::

    .venv/bin/python benchmarks/bench_memory_training.py [--nets sew18,vgg11_48,vgg11_128] [--rounds 2]
        [--batch-scale 1.0]

Every variant starts from the same weights and runs the same batch (random data, SGD step,
cross-entropy on the time-averaged logits); the variants are run interleaved, round after round,
because the machine is shared. Per variant:

* ``saved MiB``: bytes autograd keeps for the backward, each storage once (``saved_tensors_hooks``);
  for SpikeForge after its packing. SpikingJelly's checkpoints keep their (compressed) inputs outside
  autograd's saved tensors: they are added (each checkpointed block's input, as bits when binary).
* ``held MiB``: resident memory the forward adds and holds until the backward (``VmRSS`` after the
  forward minus before it, freed memory returned with ``malloc_trim`` first), the same method for all.
* ``peak MiB``: the step's peak resident memory above the memory before it (``VmHWM`` reset through
  ``/proc/self/clear_refs``).
* ``step s``: median step time over the rounds, and its ratio to SpikeForge's default.

Variants: SpikeForge ``none`` (the default), ``compress``, ``checkpoint``, ``auto``; the same network
with SpikingJelly's neurons (``sj``); SpikingJelly's ``optimize_memory`` level 1 on it (``sj memopt L1``:
its level 2-4 searches measure CUDA memory and raise without CUDA); and SpikingJelly's building blocks
as its tutorial applies them, ``checkpoint_module`` on every block with a ``BitSpikeCompressor`` where
the block's input is binary (``sj blocks``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from bench_end_to_end import with_spikingjelly_neurons
from torch import nn

from spikeforge.memory import apply_plan, blocks, optimize
from spikeforge.memory.measure import SavedBytes
from spikeforge.memory.spikes import SavedSpikes, SpikeMarks
from spikeforge.models import build_model
from spikeforge.neuron import materialize

NETS = {
    # name: (model, options, T, batch, input shape, direct-encoded)
    "sew18": ("sew_resnet18_cifar", {}, 4, 32, (3, 32, 32), True),
    "vgg11_48": ("vgg11_48", {"T": 10}, 10, 8, (2, 48, 48), False),
    "vgg11_128": ("vgg11_128", {}, 16, 2, (2, 128, 128), False),
}
SF_MODES = ("none", "compress", "checkpoint", "auto")
SJ_VARIANTS = ("sj", "sj memopt L1", "sj blocks")


def _rss(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def _trim() -> None:
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def build(net: str, batch_scale: float) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    name, options, T, batch, shape, direct = NETS[net]
    batch = max(1, round(batch * batch_scale))
    torch.manual_seed(0)
    model = build_model(name, num_classes=10, **options)
    if direct:
        x = torch.rand(1, batch, *shape).expand(T, batch, *shape)
    else:
        x = (torch.rand(T, batch, *shape) < 0.1).float()
    materialize(model, x[:, :1])
    return model, x, torch.randint(0, 10, (batch,))


def _binary_inputs(model: nn.Module, x: torch.Tensor) -> dict[str, bool]:
    """Which blocks get a strictly 0/1 input (SpikingJelly's own test before compressing)."""
    found: dict[str, bool] = {}
    handles = [
        m.register_forward_pre_hook(
            lambda mod, args, n=n: found.__setitem__(n, bool(((args[0] == 0) | (args[0] == 1)).all()))
        )
        for n, m in blocks(model)
    ]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return found


def make_variant(variant: str, base: nn.Module, x: torch.Tensor) -> tuple[nn.Module, Callable[[], None]]:
    model = copy.deepcopy(base)
    model.train()
    reset: Callable[[], None] = lambda: None  # noqa: E731
    if variant in SF_MODES:
        if variant == "auto":
            optimize(model, x)
        else:
            apply_plan(model, variant)
        return model, reset
    from spikingjelly.activation_based import functional

    binary = _binary_inputs(model, x)
    block_names = [n for n, _ in blocks(model)]
    block_types = tuple({type(m) for _, m in blocks(model)})
    if variant != "sj":
        _count_payloads(model, binary)
    model = with_spikingjelly_neurons(model)
    reset = lambda: functional.reset_net(model)  # noqa: E731
    if variant == "sj memopt L1":
        from spikingjelly.activation_based.memopt import optimize_memory

        def example(m: nn.Module) -> object:
            out = m(x)
            functional.reset_net(m)
            return out

        optimize_memory(model, block_types, example, level=1, checkpoint_budget="memory", compress=True)
    elif variant == "sj blocks":
        from spikingjelly.activation_based.memopt import BitSpikeCompressor, checkpoint_module

        for name in block_names:
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            compressor = BitSpikeCompressor() if binary[name] else None
            setattr(parent, child, checkpoint_module(getattr(parent, child), compressor=compressor))
    return model, reset


PAYLOAD: list[int] = [0]


def _count_payloads(model: nn.Module, binary: dict[str, bool]) -> None:
    """SpikingJelly's checkpoints keep each block's input outside autograd's saved tensors (bits when binary,
    else the tensor): count it, once per training forward of the block."""
    for name, m in blocks(model):

        def hook(mod: nn.Module, args: tuple, bits: bool = binary[name]) -> None:
            t = args[0]
            PAYLOAD[0] += (t.numel() + 7) // 8 if bits else t.numel() * t.element_size()

        m.register_forward_pre_hook(hook)


def _saved_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes in autograd's saved tensors of one forward (SpikeForge's packing included)."""
    result = SavedBytes()
    seen: set[int] = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}

    def meter(t: torch.Tensor) -> None:
        s = t.untyped_storage()
        if s.data_ptr() not in seen:
            seen.add(s.data_ptr())
            result.total += s.nbytes()

    PAYLOAD[0] = 0
    plan = getattr(model, "_spikeforge_memory", None)
    if plan is not None and plan._session is not None:
        plan._session.meter = meter
        try:
            out = model(x)
        finally:
            plan._session.meter = None
    else:
        with SavedSpikes(SpikeMarks(), compress=False, meter=meter):
            out = model(x)
    del out
    return result.total + PAYLOAD[0]


def measure(model: nn.Module, reset: Callable[[], None], x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    saved = _saved_bytes(model, x)
    reset()
    model.zero_grad(set_to_none=True)
    _trim()
    Path("/proc/self/clear_refs").write_text("5")
    before = _rss("VmRSS")
    t0 = time.perf_counter()
    out = model(x)
    held = _rss("VmRSS") - before
    F.cross_entropy(out.mean(0), y).backward()
    opt.step()
    seconds = time.perf_counter() - t0
    peak = _rss("VmHWM") - before
    reset()
    del out
    return {"saved": saved, "held": held, "peak": peak, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nets", default="sew18,vgg11_48,vgg11_128")
    p.add_argument("--variants", default=",".join(SF_MODES + SJ_VARIANTS))
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--batch-scale", type=float, default=1.0, help="batch = the issue's batch x this (at least 1)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    variants = args.variants.split(",")
    for net in args.nets.split(","):
        base, x, y = build(net, args.batch_scale)
        models = {}
        for v in variants:
            print(f"[{net}] preparing {v}", file=sys.stderr, flush=True)
            models[v] = make_variant(v, base, x)
        results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
        for _ in range(args.rounds):
            for v in variants:  # interleaved: every round runs every variant once
                results[v].append(measure(*models[v], x, y))
                print(f"[{net}] {v}: {results[v][-1]}", file=sys.stderr, flush=True)
        name, _, T, _, _, _ = NETS[net]
        print(f"\n{net} ({name}), T={T}, batch {x.shape[1]}, {args.rounds} rounds interleaved, {args.threads} threads")
        print("| variant | saved MiB | held MiB | peak MiB | step s | time vs none | bytes vs none |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        ref_t = statistics.median(r["seconds"] for r in results["none"]) if "none" in results else None
        ref_h = statistics.median(r["held"] for r in results["none"]) if "none" in results else None
        for v in variants:
            rs = results[v]
            t = statistics.median(r["seconds"] for r in rs)
            held = statistics.median(r["held"] for r in rs)
            ratio_t = f"{t / ref_t:.2f}x" if ref_t else "-"
            ratio_b = f"{ref_h / held:.1f}x fewer" if ref_h and held > 0 else "-"
            print(
                f"| {v} | {rs[0]['saved'] / 2**20:,.1f} | {held / 2**20:,.1f} | "
                f"{statistics.median(r['peak'] for r in rs) / 2**20:,.1f} | {t:.2f} | {ratio_t} | {ratio_b} |"
            )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
