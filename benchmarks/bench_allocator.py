"""The allocator set-up (``spikeforge.runtime.tune_allocator``) on and off: whole processes, interleaved.

Every contender is a fresh process, launched with ``SPIKEFORGE_ALLOCATOR=tuned`` (what the CLI
does by default) or ``=system`` (glibc's defaults, i.e. before the set-up existed); every round
runs all of them in a new random order, so machine load hits both alike. Jobs:

* ``main``: ``spikeforge train`` (the embedded default, ``digits_imp_lts``);
* ``sim``: ``spikeforge train sim_events_convnet --set epochs=2`` (``--sim-epochs 2,4`` adds a
  4-epoch run, to see whether the peak RSS grows with the run's length);
* ``sew18`` / ``vgg11_48``: training steps of ``benchmarks/bench_end_to_end.py``'s networks
  (SpikeForge variant, fp32 eager) in a child process that calls ``tune_allocator()`` first; the
  peak RSS after the first few steps and after the last one shows whether it grows with steps;
* ``sj``: the SpikingJelly main-job script (``benchmarks/main_job/sj_digits.py``) as users run it
  (``system``) and with the same glibc settings through glibc's ``MALLOC_*_`` environment
  variables (``tuned``), so the comparison with ``main`` stays fair.

Per process: wall seconds (launch to exit), user and system CPU seconds and peak RSS
(``os.wait4`` of that child), the training seconds the run reports, and whether its metrics
(every logged loss and accuracy; the step losses for the networks) are bit-identical between
``tuned`` and ``system``. Writes ``benchmarks/results/bench_allocator.{json,md}``. Run:
``./run python benchmarks/bench_allocator.py [--jobs main,sim,sew18,vgg11_48,sj] [--repeats 3]``.
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
JOBS = ("main", "sim", "sew18", "vgg11_48", "sj")
MODES = ("system", "tuned")


def glibc_environment() -> dict[str, str]:
    """The set-up of ``tune_allocator`` as glibc's environment variables (read when a process starts)."""
    from spikeforge.runtime import GLIBC_SETTINGS

    return {f"MALLOC_{name.upper()}_": str(value) for name, _, value in GLIBC_SETTINGS}


def command(job: str, tmp: Path, epochs: int, steps: int) -> tuple[list[str], Path | None]:
    """The command line of ``job`` and the run folder it writes (``None``: it prints its result)."""
    if job in ("main", "sim"):
        run_dir = tmp / f"{job}-{time.time_ns()}"
        cmd = [sys.executable, "-m", "spikeforge", "train"]
        if job == "sim":
            cmd += ["sim_events_convnet", "--set", f"epochs={epochs}"]
        cmd += ["--run-dir", str(run_dir), "--set", "run.progress=false", "--set", "run.plots=false"]
        return cmd, run_dir
    if job == "sj":
        return [sys.executable, str(HERE / "main_job" / "sj_digits.py")], None
    return [sys.executable, __file__, "--child", job, "--steps", str(steps)], None


def run_one(cmd: list[str], mode: str, job: str, run_dir: Path | None) -> dict:
    """Run one process to its end; its times, peak RSS and what it computed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["SPIKEFORGE_ALLOCATOR"] = mode
    if job == "sj" and mode == "tuned":  # the script knows nothing of SpikeForge: glibc reads these at start
        env.update(glibc_environment())
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=HERE.parent)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (not every child's so far)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} ({mode}) failed:\n{stderr[-3000:]}")
    row = {
        "wall_s": wall,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,  # KiB on Linux
    }
    if run_dir is not None:
        result = json.loads((run_dir / "result.json").read_text())
        row.update(train_s=result["seconds"], test_acc=result["test_acc"])
        metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        row["metrics"] = [{k: v for k, v in m.items() if "time" not in k and "per_s" not in k} for m in metrics]
    else:
        last = json.loads(stdout.strip().splitlines()[-1])
        last.setdefault("metrics", [last.get("test_acc")])
        row.update({("train_s" if k == "seconds" else k): v for k, v in last.items()})
    return row


def child(net: str, steps: int) -> None:
    """Training steps of one end-to-end network in this process; prints one JSON line."""
    import torch

    from spikeforge.runtime import tune_allocator

    status = tune_allocator()  # first, as the CLI does
    sys.path.insert(0, str(HERE))
    from bench_end_to_end import make_step

    torch.manual_seed(0)
    step, *_ = make_step("spikeforge", net, 8, torch.device("cpu"))
    losses, times, rss = [], [], {}
    t0 = time.perf_counter()
    for i in range(1, steps + 1):
        start = time.perf_counter()
        losses.append(step())
        times.append(time.perf_counter() - start)
        if i in (3, steps):
            rss[f"peak_rss_after_{i}_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - t0,
                "step_ms": 1000 * statistics.median(times[1:]),  # the first step warms up
                "metrics": losses,
                "applied": status.applied,
                **rss,
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default=",".join(JOBS), help=f"comma-separated, from {','.join(JOBS)}")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (each runs every contender once)")
    parser.add_argument("--sim-epochs", default="2", help="comma-separated epochs of the sim job (e.g. 2,4)")
    parser.add_argument("--steps", type=int, default=12, help="training steps of sew18 / vgg11_48")
    parser.add_argument("--seed", type=int, default=0, help="of the random order of each round")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_allocator")
    parser.add_argument("--child", choices=("sew18", "vgg11_48"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.steps)
        return 0
    jobs = [j for j in args.jobs.split(",") if j]
    unknown = sorted(set(jobs) - set(JOBS))
    if unknown:
        parser.error(f"unknown jobs {unknown}; choose from {list(JOBS)}")
    contenders = []  # (label, job, epochs)
    for job in jobs:
        if job == "sim":
            contenders += [(f"sim_events_convnet epochs={e}", job, int(e)) for e in args.sim_epochs.split(",")]
        else:
            contenders.append(
                ({"main": "digits_imp_lts (main job)", "sj": "SpikingJelly main-job script"}.get(job, job), job, 0)
            )
    rows: dict[str, dict[str, list[dict]]] = {label: {m: [] for m in MODES} for label, _, _ in contenders}
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(1, args.repeats + 1):
            order = [(c, m) for c in contenders for m in MODES]
            rng.shuffle(order)
            for (label, job, epochs), mode in order:
                cmd, run_dir = command(job, Path(tmp), epochs, args.steps)
                row = run_one(cmd, mode, job, run_dir)
                rows[label][mode].append(row)
                print(
                    f"[round {round_}] {label} {mode}: wall {row['wall_s']:.1f}s, user {row['user_s']:.1f}s, "
                    f"sys {row['sys_s']:.1f}s, peak RSS {row['peak_rss_mib']:.0f} MiB",
                    flush=True,
                )
    report = summarise(rows, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"rows": rows, "summary": report[0]}, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(report[1])
    print(report[1])
    return 0


def _median(rows: list[dict], key: str) -> float:
    values = [r[key] for r in rows if key in r]
    return statistics.median(values) if values else float("nan")


def summarise(rows: dict[str, dict[str, list[dict]]], args: argparse.Namespace) -> tuple[dict, str]:
    """Medians per contender and mode, the tuned/system ratios, and whether the metrics are identical."""
    summary: dict[str, dict] = {}
    lines = [
        f"Medians of {args.repeats} interleaved rounds; `system`: glibc's defaults, `tuned`: "
        "`spikeforge.runtime.tune_allocator` (the SpikingJelly script: the same settings as `MALLOC_*_` variables).",
        "",
        "| job | allocator | wall s | training s | user s | sys s | sys/user | peak RSS MiB | metrics |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for label, by_mode in rows.items():
        same = all(
            a.get("metrics") == b.get("metrics") for a in by_mode["tuned"] for b in by_mode["system"]
        )  # every run of either mode computed the same numbers
        entry: dict = {"identical_metrics": same}
        for mode in MODES:
            r = by_mode[mode]
            med = {k: _median(r, k) for k in ("wall_s", "train_s", "user_s", "sys_s", "peak_rss_mib", "step_ms")}
            med.update({k: _median(r, k) for k in r[0] if k.startswith("peak_rss_after")} if r else {})
            entry[mode] = med
            lines.append(
                f"| {label} | {mode} | {med['wall_s']:.1f} | {med['train_s']:.1f} | {med['user_s']:.1f} | "
                f"{med['sys_s']:.1f} | {med['sys_s'] / med['user_s']:.0%} | {med['peak_rss_mib']:.0f} | "
                f"{'bit-identical' if same else 'DIFFERENT'} |"
            )
        s, t = entry["system"], entry["tuned"]
        entry["speedup_train"] = s["train_s"] / t["train_s"]
        entry["speedup_wall"] = s["wall_s"] / t["wall_s"]
        entry["rss_growth_mib"] = t["peak_rss_mib"] - s["peak_rss_mib"]
        summary[label] = entry
    lines += [
        "",
        "| job | training speed-up | wall speed-up | peak RSS tuned - system |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, e in summary.items():
        lines.append(
            f"| {label} | {e['speedup_train']:.2f}x | {e['speedup_wall']:.2f}x | {e['rss_growth_mib']:+.0f} MiB |"
        )
    steps = [(label, e) for label, e in summary.items() if "peak_rss_after_3_mib" in e["tuned"]]
    if steps:
        lines += ["", f"| network | allocator | peak RSS after 3 steps MiB | after {args.steps} steps MiB | step ms |"]
        lines += ["| --- | --- | ---: | ---: | ---: |"]
        for label, e in steps:
            for mode in MODES:
                m = e[mode]
                lines.append(
                    f"| {label} | {mode} | {m['peak_rss_after_3_mib']:.0f} | "
                    f"{m[f'peak_rss_after_{args.steps}_mib']:.0f} | {m['step_ms']:.0f} |"
                )
    load = os.getloadavg()
    lines += ["", f"CPUs: {os.cpu_count()}; load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"]
    return summary, "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
