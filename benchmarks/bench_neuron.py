"""Benchmark one multi-step LIF layer: SpikeForge's backends against SpikingJelly, snnTorch, Norse.

Usage::

    .venv/bin/python benchmarks/bench_neuron.py            # T in 4 8 16 32, 2^12 / 2^16 / 2^20 neurons
    .venv/bin/python benchmarks/bench_neuron.py --quick    # T=16, 2^16 and 2^20 neurons, fewer repeats

Input ``[T, 16, neurons/16]`` float32; forward is timed under ``torch.no_grad()``,
forward+backward with a fixed random ``grad_spikes``. The bound of every case
(``bound_bw_ms``) is the bytes a layer must move (read ``x``, write spikes; in the backward
read ``grad_spikes``, write ``grad_x``) at the copy bandwidth measured at the start
(``bench_timing.bound_ms``); ``bound_ms`` is copying those bytes (``x`` and
``grad_spikes`` into buffers) timed in the same rounds as the layers.
Libraries that are not installed are skipped and listed. Results go to ``--json`` (and
``--markdown``, ``--plot`` when given).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
from bench_libs import available_libraries
from bench_report import markdown_tables, plot
from bench_timing import bound_ms, interleaved_medians, measure_bandwidth, measure_fresh_allocation

BATCH = 16
BOUND = "copy"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _case_fns(
    libs, T: int, neurons: int, backward: bool, device: torch.device, dtype: torch.dtype = torch.float32
) -> dict:
    """One zero-argument callable per library running the layer once on the same input."""
    gen = torch.Generator().manual_seed(T * neurons)
    features = neurons // BATCH
    x = (torch.randn(T, BATCH, features, generator=gen) * 0.6 + 0.5).to(device, dtype)
    grad = torch.randn(T, BATCH, features, generator=gen).to(device, dtype)
    fns = {}
    for lib in libs:
        layer = lib.make(features, device)
        if backward:
            xg = x.clone().requires_grad_()

            def run(layer=layer, xg=xg):
                layer(xg).backward(grad)
                xg.grad = None
                if isinstance(layer, torch.nn.Module):
                    layer.zero_grad(set_to_none=True)

        else:

            def run(layer=layer):
                with torch.no_grad():
                    layer(x)

        fns[lib.name] = run
    # The bound, measured in the same rounds: copying x (and grad) moves exactly the bytes
    # a layer must move (read x, write spikes; read grad_spikes, write grad_x).
    dst_x, dst_g = torch.empty_like(x), torch.empty_like(grad)
    fns[BOUND] = (lambda: (dst_x.copy_(x), dst_g.copy_(grad))) if backward else (lambda: dst_x.copy_(x))
    return fns


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="T=16, 2^16 and 2^20 neurons, 5 repeats")
    ap.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32], help="values of T")
    ap.add_argument("--log2-neurons", type=int, nargs="+", default=[12, 16, 20], help="layer sizes as powers of 2")
    ap.add_argument("--min-repeats", type=int, default=5, help="runs per library and case, at least")
    ap.add_argument("--max-repeats", type=int, default=41, help="runs per library and case, at most")
    ap.add_argument("--budget", type=float, default=2.0, help="seconds per library and case that set the runs")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's)")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (SpikeForge's triton backend)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="input dtype of every layer")
    ap.add_argument("--libraries", nargs="+", default=None, help="only these columns (e.g. spikeforge-cpu)")
    ap.add_argument("--json", default="benchmarks/results/bench_neuron.json")
    ap.add_argument("--markdown", default=None, help="also write the tables to this file")
    ap.add_argument("--plot", default=None, help="also save the plot (PNG) here")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.log2_neurons, args.max_repeats = [16], [16, 20], 15
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    libs, missing = available_libraries(device)
    if args.libraries:
        unknown = set(args.libraries) - {lib.name for lib in libs}
        if unknown:
            ap.error(f"unknown or unavailable libraries {sorted(unknown)}; available: {[lib.name for lib in libs]}")
        libs = [lib for lib in libs if lib.name in args.libraries]
    for line in missing:
        print(f"[skip] {line}", file=sys.stderr)
    machine = {
        "cpu": _cpu_name(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }
    print(f"machine: {machine}", file=sys.stderr)
    bandwidth = measure_bandwidth(device=args.device)
    alloc = measure_fresh_allocation() if device.type == "cpu" else {"fresh": float("nan"), "mapped": float("nan")}
    fill = f"64 MiB fill: fresh {alloc['fresh']:.1f} ms, mapped {alloc['mapped']:.1f} ms"
    print(f"copy bandwidth {bandwidth:.1f} GB/s; {fill}")

    rows = []
    start = time.perf_counter()
    modes = ["forward", "forward+backward"]
    for mode in modes:
        for T in args.steps:
            for log2n in args.log2_neurons:
                neurons = 1 << log2n
                fns = _case_fns(libs, T, neurons, mode != "forward", device, dtype)
                stats = interleaved_medians(fns, args.min_repeats, args.max_repeats, args.budget, sync=sync)
                copy = stats.pop(BOUND)
                row = {"mode": mode, "T": T, "neurons": neurons, "bound_ms": copy[0], "bound_ms_min": copy[1]}
                row["bound_bw_ms"] = bound_ms(T, neurons, mode != "forward", bandwidth, dtype.itemsize)
                row["ms"] = {k: v[0] for k, v in stats.items()}
                row["ms_min"] = {k: v[1] for k, v in stats.items()}
                row["runs"] = {k: v[2] for k, v in stats.items()}
                rows.append(row)
                print(f"{mode:16s} T={T:2d} 2^{log2n}: " + ", ".join(f"{k} {v[0]:.3g}" for k, v in stats.items()))
    machine["load_average_end"] = os.getloadavg()
    results = {
        "machine": machine,
        "bandwidth_gbs": bandwidth,
        "fill_64mib_ms": alloc,
        "repeats": [args.min_repeats, args.max_repeats, args.budget],
        "batch": BATCH,
        "dtype": args.dtype,
        "modes": modes,
        "libraries": [lib.name for lib in libs],
        "fused": f"spikeforge-{'triton' if device.type == 'cuda' else 'cpu'}",
        "versions": {lib.name: lib.version for lib in libs},
        "notes": {lib.name: lib.note for lib in libs},
        "skipped": missing,
        "seconds": time.perf_counter() - start,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "rows": rows,
    }
    tables = markdown_tables(results)
    print("\n" + tables)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(tables)
    if args.plot:
        plot(results, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
