"""Bytes per neuron-step that each neuron layer allocates and saves for backward.

Usage::

    .venv/bin/python benchmarks/bench_memory.py [--steps 16] [--log2-neurons 16]

For one LIF layer (the configurations of ``bench_libs.py``) on ``[T, 16, N/16]`` float32:

* ``saved``: bytes of the tensors autograd keeps for the backward (counted once per
  storage through ``torch.autograd.graph.saved_tensors_hooks``), excluding the input;
  ``keeps x`` says whether the input itself is kept.
* ``alloc fwd`` / ``alloc bwd``: bytes PyTorch ops allocate during the forward / the
  backward (``torch.profiler``, sum of the ops' positive self memory usage);
* ``pooled fwd`` / ``pooled bwd``: bytes ``spikeforge-cpu`` takes from its buffer pool
  instead (its spikes and ``grad_x``: reused memory, no page faults after the first step).

Everything is divided by ``T * N``.
"""

from __future__ import annotations

import argparse
import sys

import torch
from bench_libs import available_libraries
from torch.profiler import ProfilerActivity, profile

BATCH = 16


def _allocated(fn) -> int:
    """Bytes PyTorch ops allocate (and do not free themselves) while ``fn`` runs: the sum of
    the ops' positive self memory usage in ``torch.profiler``, i.e. the outputs they create."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    return sum(max(k.self_cpu_memory_usage, 0) for k in prof.key_averages())


def _pooled() -> int:
    from spikeforge.neuron.ops.cpu import pool as cpu_pool

    st = cpu_pool.stats()
    return st["hits"] + st["misses"]


def measure(lib, T: int, neurons: int) -> dict[str, float]:
    features = neurons // BATCH
    layer = lib.make(features, torch.device("cpu"))
    x = (torch.randn(T, BATCH, features) * 0.6 + 0.5).requires_grad_()
    grad = torch.randn(T, BATCH, features)
    for _ in range(2):  # warm up (pool, lazy builds)
        layer(x).backward(grad)
        x.grad = None
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    out: list[torch.Tensor] = []
    pooled_before = _pooled()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        alloc_fwd = _allocated(lambda: out.append(layer(x)))
    pooled_fwd = _pooled() - pooled_before
    alloc_bwd = _allocated(lambda: out[0].backward(grad))
    pooled_bwd = _pooled() - pooled_before - pooled_fwd
    x_ptr = x.untyped_storage().data_ptr()
    saved = sum(n for ptr, n in storages.items() if ptr != x_ptr)
    per = T * neurons
    # a pooled buffer holds T*N float32 values here (spikes in the forward, grad_x in the backward)
    return {
        "saved": saved / per,
        "keeps x": float(x_ptr in storages),
        "alloc fwd": alloc_fwd / per,
        "alloc bwd": alloc_bwd / per,
        "pooled fwd": 4.0 * pooled_fwd,
        "pooled bwd": 4.0 * pooled_bwd,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--log2-neurons", type=int, default=20)
    args = ap.parse_args(argv)
    libs, missing = available_libraries(torch.device("cpu"))
    for line in missing:
        print(f"[skip] {line}", file=sys.stderr)
    cols = ["saved", "keeps x", "alloc fwd", "alloc bwd", "pooled fwd", "pooled bwd"]
    print(f"bytes per neuron-step, LIF, T={args.steps}, 2^{args.log2_neurons} neurons, float32\n")
    print("| layer | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for lib in libs:
        m = measure(lib, args.steps, 1 << args.log2_neurons)
        cells = [("yes" if m["keeps x"] else "no") if c == "keeps x" else f"{m[c]:.1f}" for c in cols]
        print(f"| {lib.name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
