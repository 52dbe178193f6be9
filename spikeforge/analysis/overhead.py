"""Cost of a learnable IMP / threshold in the neuron (Shen et al. Fig 6; docs/methods.md A.1).

Protocol of the official ``etc/speed benchmark/if_backward.py``: input ``x ~ randn(T, N)``
(here ``[T, 1, N]``, so a per-neuron IMP has ``N`` values as there), the graph
``out = node(x)`` then 9 times ``out = out + node(out)`` (10 neuron calls), loss =
``MSE(out, randn)``; the time of ``loss.backward()`` divided by 10 is the cost per neuron
call. We also time the forward chain, report forward + backward, warm up with the full
chain (the official script warms up with one call), take the median over ``repeats``,
and interleave the variants inside every repeat so that drifting machine load hits all
of them alike. On CUDA the device is synchronised around each timed region.

Variants: ``baseline`` (fixed IMP 0 and threshold), ``imp`` (learnable per-neuron IMP),
``threshold`` (learnable per-neuron threshold), ``imp+threshold``.
"""

from __future__ import annotations

import csv
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError, values_checked_as_user_errors
from ..neuron.factory import build_neuron
from ..neuron.nodes import BaseNode
from .plots import new_figure, save_figure

__all__ = ["FULL_NEURONS", "FULL_STEPS", "QUICK_NEURONS", "QUICK_STEPS", "VARIANTS", "run_overhead", "time_neuron"]

FULL_NEURONS = (2**8, 2**12, 2**16, 2**20)
FULL_STEPS = (2, 4, 8, 16, 32)
QUICK_NEURONS = (2**8, 2**12, 2**14)
QUICK_STEPS = (2, 4, 8)
VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "imp": {"imp": "learn"},
    "threshold": {"v_threshold": "learn"},
    "imp+threshold": {"imp": "learn", "v_threshold": "learn"},
}
CALLS = 10


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _chain(node: BaseNode, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = node(x)
    for _ in range(CALLS - 1):
        out = out + node(out)
    return F.mse_loss(out, y)


def time_neuron(node: BaseNode, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """One timed run of the 10-call chain: ``(forward_ms, backward_ms)`` per neuron call.

    Args:
        node: the neuron (its parameters already created).
        x: ``[T, 1, N]`` input with ``requires_grad``; y: target of the same shape.
    """
    device = x.device
    x.grad = None
    node.zero_grad(set_to_none=True)
    _sync(device)
    t0 = time.perf_counter()
    loss = _chain(node, x, y)
    _sync(device)
    t1 = time.perf_counter()
    loss.backward()
    _sync(device)
    t2 = time.perf_counter()
    return (t1 - t0) * 1e3 / CALLS, (t2 - t1) * 1e3 / CALLS


def run_overhead(
    out_dir: str | Path,
    quick: bool = True,
    *,
    neurons: Sequence[int] | None = None,
    steps: Sequence[int] | None = None,
    variants: Sequence[str] = tuple(VARIANTS),
    neuron: dict[str, Any] | None = None,
    backend: str = "torch",
    repeats: int | None = None,
    warmup: int = 2,
    device: str = "cpu",
    threads: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Time neuron forward/backward with and without learnable IMP / threshold; write CSV, JSON and PNGs.

    Args:
        out_dir: output folder (created).
        quick: small default grids (``N`` in 2^8, 2^12, 2^14; ``T`` in 2, 4, 8; 5 repeats), well under
            a minute on a CPU; otherwise the paper's grids (``N`` in 2^8..2^20, ``T`` in 2..32; 11 repeats).
        neurons, steps: override the grids.
        variants: subset of :data:`VARIANTS`; ``baseline`` is always included (overheads are relative to it).
        neuron: ``build_neuron`` mapping (default ``{"type": "if"}``: SpikingJelly's default IF, hard reset).
        backend: the neuron ``backend`` argument, passed through (``"torch"``, ``"auto"``, a fused one).
        repeats: timed runs per point (median reported).
        warmup: untimed runs of the full chain per point and variant.
        device: ``"cpu"`` or ``"cuda"``.
        threads: ``torch.set_num_threads`` during the run (restored after).
    Returns:
        ``{"rows": [...], "files": [...], ...}``; each row: ``T``, ``neurons``, ``variant``,
        ``fwd_ms``, ``bwd_ms``, ``fwd_bwd_ms`` (medians per neuron call), ``bwd_ms_min``,
        ``fwd_bwd_ms_min`` (fastest run), ``bwd_overhead_pct`` and ``fwd_bwd_overhead_pct`` (of the
        medians, vs ``baseline`` at the same point).
    Files: ``imp_overhead.csv``, ``imp_overhead.json``, ``imp_overhead.png`` (overhead % vs
    neurons, one line per T), ``imp_overhead_times.png`` (ms per call vs neurons).
    """
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise UserError(f"unknown overhead variants {unknown}; choose from {list(VARIANTS)}")
    variants = ["baseline", *[v for v in variants if v != "baseline"]]
    neurons = tuple(neurons or (QUICK_NEURONS if quick else FULL_NEURONS))
    steps = tuple(steps or (QUICK_STEPS if quick else FULL_STEPS))
    repeats = repeats or (5 if quick else 11)
    cfg = dict(neuron or {"type": "if"})
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' requested but CUDA is not available")
    # the user's neuron mapping and backend, checked once on one step of one neuron before any timing
    with values_checked_as_user_errors("neuron: "), torch.no_grad():
        build_neuron(cfg, feature_shape=(1,), backend=backend).to(dev)(torch.zeros(1, 1, 1, device=dev))
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(seed)
    rows: list[dict[str, Any]] = []
    try:
        for T in steps:
            for N in neurons:
                x = torch.randn(T, 1, N, generator=gen).to(dev).requires_grad_(True)
                y = torch.randn(T, 1, N, generator=gen).to(dev)
                nodes = {
                    v: build_neuron(cfg, **VARIANTS[v], feature_shape=(N,), backend=backend).to(dev) for v in variants
                }
                for v in variants:
                    for _ in range(warmup):
                        time_neuron(nodes[v], x, y)
                times: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
                for r in range(repeats):
                    # rotate the order so no variant is always first after a pause
                    order = variants[r % len(variants) :] + variants[: r % len(variants)]
                    for v in order:
                        times[v].append(time_neuron(nodes[v], x, y))
                base = None
                for v in variants:
                    fwd = statistics.median(t[0] for t in times[v])
                    bwd = statistics.median(t[1] for t in times[v])
                    both = statistics.median(t[0] + t[1] for t in times[v])
                    row = {"T": T, "neurons": N, "variant": v, "fwd_ms": fwd, "bwd_ms": bwd, "fwd_bwd_ms": both}
                    # the minimum is the least disturbed run: a useful second opinion on a busy machine
                    row["bwd_ms_min"] = min(t[1] for t in times[v])
                    row["fwd_bwd_ms_min"] = min(t[0] + t[1] for t in times[v])
                    if base is None:
                        base = row
                    row["bwd_overhead_pct"] = 100.0 * (bwd / base["bwd_ms"] - 1.0)
                    row["fwd_bwd_overhead_pct"] = 100.0 * (both / base["fwd_bwd_ms"] - 1.0)
                    rows.append(row)
    finally:
        torch.set_num_threads(old_threads)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "device": str(dev),
        "backend": backend,
        "neuron": cfg,
        "repeats": repeats,
        "warmup": warmup,
        "threads": torch.get_num_threads() if threads is None else threads,
        "torch": torch.__version__,
    }
    fields = ["device", "backend", "T", "neurons", "variant", "fwd_ms", "bwd_ms", "fwd_bwd_ms"]
    fields += ["bwd_ms_min", "fwd_bwd_ms_min", "bwd_overhead_pct", "fwd_bwd_overhead_pct", "repeats"]
    with open(out_dir / "imp_overhead.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for row in rows:
            w.writerow({**row, "device": meta["device"], "backend": backend, "repeats": repeats})
    _plot_overhead(rows, variants, out_dir / "imp_overhead.png", meta)
    _plot_times(rows, variants, out_dir / "imp_overhead_times.png", meta)
    files = [str(out_dir / n) for n in ("imp_overhead.csv", "imp_overhead.json", "imp_overhead.png")]
    files.append(str(out_dir / "imp_overhead_times.png"))
    result = {**meta, "neurons": list(neurons), "steps": list(steps), "rows": rows, "files": files}
    (out_dir / "imp_overhead.json").write_text(json.dumps(result, indent=1))
    return result


def _series(rows: list[dict[str, Any]], variant: str, T: int, key: str) -> tuple[np.ndarray, np.ndarray]:
    pts = sorted((r["neurons"], r[key]) for r in rows if r["variant"] == variant and r["T"] == T)
    return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


def _log2_axis(ax: Any, neurons: Sequence[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(set(neurons)), [f"$2^{{{int(np.log2(n))}}}$" for n in sorted(set(neurons))])
    ax.set_xlabel("neurons N")
    ax.grid(alpha=0.3)


def _plot_overhead(rows: list[dict[str, Any]], variants: list[str], path: Path, meta: dict[str, Any]) -> None:
    others = [v for v in variants if v != "baseline"] or ["baseline"]
    steps = sorted({r["T"] for r in rows})
    neurons = [r["neurons"] for r in rows]
    fig, axes = new_figure(2, len(others), size=(4.4 * len(others), 6.6), sharey="row")
    for col, v in enumerate(others):
        for row_i, (key, what) in enumerate((("bwd_overhead_pct", "backward"), ("fwd_bwd_overhead_pct", "fwd+bwd"))):
            ax = axes[row_i, col]
            for T in steps:
                xs, ys = _series(rows, v, T, key)
                ax.plot(xs, ys, marker="o", markersize=3, label=f"T={T}")
            ax.axhline(0.0, color="black", linewidth=0.8)
            _log2_axis(ax, neurons)
            ax.set_title(f"{v}: {what} time vs baseline")
            if col == 0:
                ax.set_ylabel("overhead (%)")
    axes[0, -1].legend(fontsize=7)
    fig.suptitle(
        f"learnable IMP / threshold overhead ({meta['device']}, backend {meta['backend']}, median of {meta['repeats']})"
    )
    save_figure(fig, path)


def _plot_times(rows: list[dict[str, Any]], variants: list[str], path: Path, meta: dict[str, Any]) -> None:
    steps = sorted({r["T"] for r in rows})
    neurons = [r["neurons"] for r in rows]
    fig, axes = new_figure(1, 2, size=(10.0, 4.0))
    styles = ["-", "--", ":", "-."]
    for ax, key, what in ((axes[0, 0], "bwd_ms", "backward"), (axes[0, 1], "fwd_bwd_ms", "forward + backward")):
        for i, T in enumerate(steps):
            colour = f"C{i}"
            for j, v in enumerate(variants):
                xs, ys = _series(rows, v, T, key)
                ax.plot(
                    xs,
                    ys,
                    styles[j % len(styles)],
                    color=colour,
                    marker="o",
                    markersize=2.5,
                    label=f"T={T}, {v}" if len(variants) > 1 else f"T={T}",
                )
        _log2_axis(ax, neurons)
        ax.set_yscale("log")
        ax.set_ylabel("ms per neuron call")
        ax.set_title(f"{what} ({meta['device']}, backend {meta['backend']})")
    axes[0, 1].legend(fontsize=6, ncol=2)
    save_figure(fig, path)
