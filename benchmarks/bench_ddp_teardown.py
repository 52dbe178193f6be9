"""How often a two-rank gloo DDP job aborts or hangs at exit, by teardown order.

Each run is ``torchrun --standalone --nproc_per_node=2`` of a bare script (no SpikeForge code on
the path it measures): create the process group, wrap a ``Linear`` in DDP, take three steps, one
last all-reduce, ``destroy_process_group``, exit. Two orders are varied:

* ``torch._dynamo`` imported ``after`` the group (what a plain script gets: DDP imports it on
  construction) or ``before`` it (what ``spikeforge.distributed.init_process_group`` does);
* the DDP wrapper ``dropped`` before the last all-reduce (what the engine does) or ``kept`` until
  after ``destroy_process_group`` (its Reducer then frees the group while holding the GIL).

A run counts as aborted when torchrun fails and a rank printed ``terminate called``, and as hung
when it is still running after ``--hang-s`` seconds (it is then killed with its workers). It also
records whether gloo's threads were still running after ``destroy_process_group`` (the group kept
alive), from ``/proc/self/task`` (Linux). The leak is deterministic; the abort and the hang are
races at exit and need a busy machine to show: ``--jobs`` runs that many jobs at once (the cases
alternate, so they share the load alike).

Run: ``./run python benchmarks/bench_ddp_teardown.py [--runs 20 --jobs 2]``;
writes ``benchmarks/results/bench_ddp_teardown.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

SCRIPT = """
import glob, os, sys
import torch
if sys.argv[1] == "before":
    import torch._dynamo  # noqa: F401
import torch.distributed as dist
dist.init_process_group("gloo")
torch.set_num_threads(1)
net = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(30, 20))
for _ in range(3):
    net(torch.rand(8, 30)).sum().backward()
if sys.argv[2] == "dropped":
    del net
dist.all_reduce(torch.zeros(1))
dist.destroy_process_group()
if sys.argv[2] == "kept":
    del net  # the Reducer holds the last reference to the group
if os.environ["RANK"] == "1":
    names = [open(p).read().strip() for p in glob.glob("/proc/self/task/*/comm")]
    print("GLOO_THREADS_LEFT", sum("gloo" in n for n in names), flush=True)
"""


def one_run(script: Path, case: tuple[str, str], hang_s: float) -> tuple[str, int]:
    """(outcome: ok / aborted / hung, gloo threads left on rank 1 after destroy_process_group) of one job."""
    with subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script), *case],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    ) as job:
        try:
            stdout, stderr = job.communicate(timeout=hang_s)
        except subprocess.TimeoutExpired:
            # torchrun passes SIGTERM on to its workers (each in a session of its own), whose default
            # action ends even a rank stuck in C++ holding the GIL
            job.send_signal(signal.SIGTERM)
            job.communicate(timeout=120)
            return "hung", -1
    if job.returncode != 0:
        if "terminate called" not in stderr:
            raise RuntimeError(f"run failed for another reason:\n{stderr[-2000:]}")
        outcome = "aborted"
    else:
        outcome = "ok"
    left = [int(line.split()[1]) for line in stdout.splitlines() if line.startswith("GLOO_THREADS_LEFT")]
    return outcome, (left[0] if left else -1)


CASES = [("after", "dropped"), ("before", "dropped"), ("before", "kept")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20, help="runs per case (the cases alternate)")
    ap.add_argument("--jobs", type=int, default=2, help="torchrun jobs at once (load makes the races show)")
    ap.add_argument("--hang-s", type=float, default=60.0, help="a job still running after this long is hung")
    args = ap.parse_args()
    counts = {case: {"runs": 0, "aborted": 0, "hung": 0, "gloo_threads_left": []} for case in CASES}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        script = Path(tmp) / "bare_ddp.py"
        script.write_text(SCRIPT)
        cases = [case for _ in range(args.runs) for case in CASES]
        for case, (outcome, left) in zip(cases, pool.map(lambda c: one_run(script, c, args.hang_s), cases)):
            c = counts[case]
            c["runs"] += 1
            c["aborted"] += int(outcome == "aborted")
            c["hung"] += int(outcome == "hung")
            if left >= 0:
                c["gloo_threads_left"].append(left)
        summary = (f"{'/'.join(k)}: {c['aborted']} aborted, {c['hung']} hung of {c['runs']}" for k, c in counts.items())
        print("  ".join(summary))
    RESULTS.mkdir(exist_ok=True)
    import torch

    payload = {
        "torch": torch.__version__,
        "jobs_at_once": args.jobs,
        "hang_s": args.hang_s,
        "counts": [{"dynamo_imported": k[0], "ddp_wrapper": k[1], **c} for k, c in counts.items()],
    }
    (RESULTS / "bench_ddp_teardown.json").write_text(json.dumps(payload, indent=2))
    lines = [
        f"# Two-rank gloo DDP teardown (torch {torch.__version__}, {args.jobs} jobs at once)",
        "",
        "| torch._dynamo imported | DDP wrapper before destroy | runs | aborted at exit | hung (> "
        f"{args.hang_s:.0f} s) | gloo threads left after destroy (rank 1) |",
        "|---|---|---|---|---|---|",
    ]
    for (order, wrapper), c in counts.items():
        left = sorted(set(c["gloo_threads_left"]))
        lines.append(
            f"| {order} the group | {wrapper} | {c['runs']} | {c['aborted']} | {c['hung']} | "
            f"{', '.join(map(str, left)) or '-'} |"
        )
    (RESULTS / "bench_ddp_teardown.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
