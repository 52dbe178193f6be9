"""The main job, whole process against whole process: ``spikeforge train`` vs a SpikingJelly script.

Contenders (each a fresh Python process, timed from launch to exit, interleaved in a new
random order every round so machine load hits both alike):

* ``spikeforge``: ``python -m spikeforge train`` with no config, i.e. the embedded default
  ``configs/digits_imp_lts.yaml`` (learnable IMP + LTS), as a user runs it;
* ``spikingjelly``: ``benchmarks/main_job/sj_digits.py``, the same network, data split,
  optimiser, schedule, epochs and thread count written with SpikingJelly 2.0 layers
  (its defaults mirror the SpikeForge config's: epochs, batch size, learning rate, ...;
  ``tests/test_bench_main_job.py`` checks that they do).

Reports the median wall time and the final test accuracy of each round and writes
``benchmarks/results/bench_main_job.{json,md}``. Run: ``./run python benchmarks/bench_main_job.py``
(``--repeats 3`` by default; ``--sj-args`` passes options to the SpikingJelly script).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _spikeforge(tmp: Path, extra: list[str]) -> list[str]:
    run_dir = tmp / f"sf-{time.time_ns()}"
    return [sys.executable, "-m", "spikeforge", "train", "--run-dir", str(run_dir), *extra]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(cmd: list[str]) -> tuple[float, float, float]:
    """``(wall seconds, CPU seconds, test accuracy)`` of one whole process."""
    start, cpu = time.perf_counter(), _cpu_seconds()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    out = proc.stdout.strip().splitlines()
    if "--run-dir" in cmd:
        run_dir = Path(cmd[cmd.index("--run-dir") + 1])
        acc = json.loads((run_dir / "result.json").read_text())["test_acc"]
    else:
        acc = json.loads(out[-1])["test_acc"]
    return seconds, cpu, acc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sf-args", default="", help="extra `spikeforge train` arguments (e.g. '--set epochs=10')")
    parser.add_argument("--sj-args", default="", help="extra arguments of main_job/sj_digits.py")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_main_job", help="results path stem")
    parser.add_argument("--dry-run", action="store_true", help="print the two commands and exit")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        commands = {
            "spikeforge": lambda: _spikeforge(tmp, args.sf_args.split()),
            "spikingjelly": lambda: [sys.executable, str(HERE / "main_job" / "sj_digits.py"), *args.sj_args.split()],
        }
        if args.dry_run:
            for name, make in commands.items():
                print(f"{name}: {' '.join(make())}")
            return 0
        rows: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
        for r in range(args.repeats):
            order = list(commands)
            random.shuffle(order)
            for name in order:
                seconds, cpu, acc = _run(commands[name]())
                rows[name].append((seconds, cpu, acc))
                line = f"round {r + 1} {name:<13} {seconds:6.1f}s (CPU {cpu:5.1f}s)  test acc {100 * acc:.2f}%"
                print(line, flush=True)
    summary = {
        name: {
            "median_s": statistics.median(s for s, _, _ in runs),
            "median_cpu_s": statistics.median(c for _, c, _ in runs),
            "median_acc": statistics.median(a for _, _, a in runs),
            "min_acc": min(a for _, _, a in runs),
            "runs": [{"seconds": s, "cpu_seconds": c, "test_acc": a} for s, c, a in runs],
        }
        for name, runs in rows.items()
    }
    ratio = summary["spikingjelly"]["median_s"] / summary["spikeforge"]["median_s"]
    cpu_ratio = summary["spikingjelly"]["median_cpu_s"] / summary["spikeforge"]["median_cpu_s"]

    def accs(v: dict) -> str:
        return ", ".join(f"{100 * r['test_acc']:.2f}" for r in v["runs"])

    lines = [
        "| contender | median wall time (s) | median CPU time (s) | test accuracy per round (%) |",
        "| --- | ---: | ---: | --- |",
        *(f"| {name} | {v['median_s']:.1f} | {v['median_cpu_s']:.1f} | {accs(v)} |" for name, v in summary.items()),
        "",
        f"SpikingJelly script / spikeforge train: wall time {ratio:.2f}x, CPU time {cpu_ratio:.2f}x "
        f"({args.repeats} interleaved rounds; load average {os.getloadavg()[0]:.1f} at the end).",
    ]
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"repeats": args.repeats, "sf_args": args.sf_args, "sj_args": args.sj_args, "ratio_sj_over_sf": ratio}
    meta["cpu_ratio_sj_over_sf"] = cpu_ratio
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": summary}, indent=2) + "\n")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
