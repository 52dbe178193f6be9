"""Tables and the plot of a neuron benchmark run (results as written by ``bench_neuron.py``).

Re-render a saved run::

    .venv/bin/python benchmarks/bench_report.py benchmarks/results/bench_neuron.json --plot docs/bench_neuron.png
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

__all__ = ["markdown_tables", "plot"]

REF, SJ = "spikeforge-torch", "spikingjelly"


def _fused(results: dict) -> tuple[str, str]:
    """The fused backend's column and its learnable IMP + threshold column."""
    name = results.get("fused", "spikeforge-cpu")
    return name, f"{name}+imp+th"


def _fmt(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{a / b:.2f}"


def markdown_tables(results: dict) -> str:
    """One table per mode: milliseconds per library, the bounds, and the headline ratios (``fused``: the
    first column, SpikeForge's fused backend).

    ``bound``: the bytes a layer must move at the copy bandwidth measured once at the start
    (256 MiB tensors); ``copy``: copying those bytes, timed in the same rounds as the
    layers (faster when the previous candidate left part of the data in the cache).
    """
    libs = results["libraries"]
    fused, fused_learn = _fused(results)
    out = []
    for mode in results["modes"]:
        rows = [r for r in results["rows"] if r["mode"] == mode]
        ratios = ["fused / bound", "fused / copy", "SJ / fused", "torch / fused", "IMP+th overhead"]
        head = ["T", "neurons", *libs, "bound", "copy", *ratios]
        lo, hi, budget = results["repeats"]
        out.append(
            f"**{mode}** (ms, median of {lo} to {hi} runs ({budget:g} s per library and case); lower is better)\n"
        )
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for r in rows:
            ms = r["ms"]
            cpu, learn = ms.get(fused), ms.get(fused_learn)
            overhead = "-" if cpu is None or learn is None else f"{100 * (learn / cpu - 1):+.1f}%"
            cells = [
                str(r["T"]),
                f"2^{int(math.log2(r['neurons']))}",
                *(_fmt(ms.get(lib)) for lib in libs),
                _fmt(r["bound_bw_ms"]),
                _fmt(r["bound_ms"]),
                _ratio(cpu, r["bound_bw_ms"]),
                _ratio(cpu, r["bound_ms"]),
                _ratio(ms.get(SJ), cpu),
                _ratio(ms.get(REF), cpu),
                overhead,
            ]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def plot(results: dict, path: str) -> None:
    """Left: forward+backward time per neuron-step against layer size at the largest T; right: speed-ups at 2^20."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mode = results["modes"][-1]
    fused, _ = _fused(results)
    rows = [r for r in results["rows"] if r["mode"] == mode]
    t_plot = 16 if any(r["T"] == 16 for r in rows) else max(r["T"] for r in rows)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    sel = sorted((r for r in rows if r["T"] == t_plot), key=lambda r: r["neurons"])
    for lib in results["libraries"]:
        pts = [(r["neurons"], r["ms"][lib] * 1e6 / (r["neurons"] * r["T"])) for r in sel if lib in r["ms"]]
        if pts:
            left.plot(*zip(*pts), marker="o", label=lib)
    left.plot(
        [r["neurons"] for r in sel],
        [r["bound_bw_ms"] * 1e6 / (r["neurons"] * r["T"]) for r in sel],
        "k--",
        label=f"bound: bytes / {results['bandwidth_gbs']:.0f} GB/s",
    )
    left.set_xscale("log", base=2)
    left.set(yscale="log", xlabel="neurons", ylabel="ns per neuron-step", title=f"{mode}, T={t_plot}")
    left.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 0.08))
    big = max(r["neurons"] for r in rows)
    sel = sorted((r for r in rows if r["neurons"] == big), key=lambda r: r["T"])
    for lib in results["libraries"]:
        if lib == fused:
            continue
        pts = [(r["T"], r["ms"][lib] / r["ms"][fused]) for r in sel if lib in r["ms"] and fused in r["ms"]]
        if pts:
            right.plot(*zip(*pts), marker="o", label=f"{lib} / {fused}")
    right.axhline(1.0, color="k", lw=0.8)
    right.set_xscale("log", base=2)
    right.set(yscale="log", xlabel="T", ylabel="time ratio", title=f"{mode}, 2^{int(math.log2(big))} neurons")
    right.minorticks_off()
    right.set_xticks([r["T"] for r in sel], [str(r["T"]) for r in sel])
    right.legend(fontsize=8)
    m = results["machine"]
    where = m["cpu"] if m.get("device", "cpu") == "cpu" else m["device"]
    fig.suptitle(f"LIF layer on {where} ({m['threads']} CPU threads)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Re-render the tables and the plot of a saved bench_neuron.py run.")
    ap.add_argument("json", help="results written by bench_neuron.py --json")
    ap.add_argument("--markdown", default=None)
    ap.add_argument("--plot", default=None)
    args = ap.parse_args(argv)
    results = json.loads(Path(args.json).read_text())
    tables = markdown_tables(results)
    print(tables)
    if args.markdown:
        Path(args.markdown).write_text(tables)
    if args.plot:
        plot(results, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
