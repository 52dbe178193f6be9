"""Timers and the memory-bandwidth bound.

Timings are wall-clock medians (minima are kept too). Candidates are timed round-robin
(one run of each in turn, in a new random order every round) so that load from other
processes and the after-effects of the previous candidate spread over all of them alike;
compare ratios taken in the same run.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

import torch

__all__ = ["bound_ms", "interleaved_medians", "measure_bandwidth", "measure_fresh_allocation"]


def interleaved_medians(
    fns: dict[str, Callable[[], object]],
    min_repeats: int = 5,
    max_repeats: int = 41,
    budget_s: float = 2.0,
    warmup: int = 1,
    sync: Callable[[], object] = lambda: None,
) -> dict[str, tuple[float, float, int]]:
    """``(median ms, min ms, runs)`` of each function, timed round-robin.

    Each function gets as many runs as fit in ``budget_s`` (judged from its warm-up),
    between ``min_repeats`` and ``max_repeats``: fast ones are sampled often, which keeps
    their medians stable on a busy machine, slow ones are not run for minutes. ``sync``
    waits for the device (``torch.cuda.synchronize`` on a GPU).
    """
    wanted: dict[str, int] = {}
    for name, fn in fns.items():
        took = 0.0
        for _ in range(warmup):
            start = time.perf_counter()
            fn()
            sync()
            took = time.perf_counter() - start
        wanted[name] = max(min_repeats, min(max_repeats, int(budget_s / max(took, 1e-6))))
    times: dict[str, list[float]] = {name: [] for name in fns}
    order, rng = list(fns), random.Random(0)
    while any(len(times[n]) < wanted[n] for n in fns):
        # A new order every round: what ran just before (caches, allocator, thread pool
        # state after another library) shifts a timing by up to ~0.2 ms; this spreads it.
        rng.shuffle(order)
        for name in order:
            fn = fns[name]
            if len(times[name]) < wanted[name]:
                sync()
                start = time.perf_counter()
                fn()
                sync()
                times[name].append(time.perf_counter() - start)
    return {n: (1e3 * statistics.median(ts), 1e3 * min(ts), len(ts)) for n, ts in times.items()}


def measure_bandwidth(nbytes: int = 256 << 20, repeats: int = 15, device: str = "cpu") -> float:
    """Copy bandwidth in GB/s (bytes read + bytes written per second) of ``dst.copy_(src)``, memory already mapped."""
    n = nbytes // 4
    src, dst = torch.randn(n, device=device), torch.empty(n, device=device)
    dst.copy_(src)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    stats = interleaved_medians({"copy": lambda: dst.copy_(src)}, min_repeats=repeats, max_repeats=repeats, sync=sync)
    return 2 * nbytes / (stats["copy"][0] * 1e-3) / 1e9


def measure_fresh_allocation(nbytes: int = 64 << 20, repeats: int = 9) -> dict[str, float]:
    """Milliseconds to fill ``nbytes`` into a new tensor (page faults) and into an existing one."""
    n = nbytes // 4
    kept = torch.empty(n)
    kept.fill_(0.0)
    fns = {"fresh": lambda: torch.empty(n).fill_(1.0), "mapped": lambda: kept.fill_(1.0)}
    return {k: v[0] for k, v in interleaved_medians(fns, min_repeats=repeats, max_repeats=repeats).items()}


def bound_ms(T: int, neurons: int, backward: bool, bandwidth_gbs: float, itemsize: int = 4) -> float:
    """Time to move the bytes a neuron layer must move at the measured bandwidth.

    Forward: read ``x`` and write spikes. Backward: read ``grad_spikes`` and write ``grad_x``.
    Everything else (state, parameters, saved tensors) is extra.
    """
    nbytes = (4 if backward else 2) * itemsize * T * neurons
    return nbytes / (bandwidth_gbs * 1e9) * 1e3
