"""How often a two-rank gloo DDP job aborts at exit, with ``torch._dynamo`` imported before or after the group.

Each run is ``torchrun --standalone --nproc_per_node=2`` of a bare script (no SpikeForge code on
the path it measures): create the process group, wrap a ``Linear`` in DDP, take three steps, one
last all-reduce, ``destroy_process_group``, exit. ``after`` is what a plain script gets (DDP imports
``torch._dynamo`` on construction, after the group exists); ``before`` is what
``spikeforge.train.distributed.init_process_group`` does. A run counts as aborted when torchrun
fails and a rank printed ``terminate called``. It also records whether gloo's threads were still
running after ``destroy_process_group`` (the group kept alive), from ``/proc/self/task`` (Linux).
The leak is deterministic; the abort is a race at exit and needs a busy machine to show:
``--jobs`` runs that many jobs at once (both orders share the load alike).

Run: ``./run python benchmarks/bench_ddp_teardown.py [--runs 20 --jobs 2]``;
writes ``benchmarks/results/bench_ddp_teardown.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
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
del net
dist.all_reduce(torch.zeros(1))
dist.destroy_process_group()
if os.environ["RANK"] == "1":
    names = [open(p).read().strip() for p in glob.glob("/proc/self/task/*/comm")]
    print("GLOO_THREADS_LEFT", sum("gloo" in n for n in names), flush=True)
"""


def one_run(script: Path, order: str) -> tuple[bool, int]:
    """(aborted, gloo threads left on rank 1 after destroy_process_group) of one torchrun job."""
    out = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script), order],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    aborted = out.returncode != 0 and "terminate called" in out.stderr
    if out.returncode != 0 and not aborted:
        raise RuntimeError(f"run failed for another reason:\n{out.stderr[-2000:]}")
    left = [int(line.split()[1]) for line in out.stdout.splitlines() if line.startswith("GLOO_THREADS_LEFT")]
    return aborted, (left[0] if left else -1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20, help="runs per order (they alternate)")
    ap.add_argument("--jobs", type=int, default=2, help="torchrun jobs at once (load makes the race show)")
    args = ap.parse_args()
    counts = {order: {"runs": 0, "aborted": 0, "gloo_threads_left": []} for order in ("after", "before")}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        script = Path(tmp) / "bare_ddp.py"
        script.write_text(SCRIPT)
        orders = [order for _ in range(args.runs) for order in counts]  # alternating
        for order, (aborted, left) in zip(orders, pool.map(lambda o: one_run(script, o), orders)):
            c = counts[order]
            c["runs"] += 1
            c["aborted"] += int(aborted)
            c["gloo_threads_left"].append(left)
        print("  ".join(f"{o}: {c['aborted']}/{c['runs']} aborted" for o, c in counts.items()))
    RESULTS.mkdir(exist_ok=True)
    import torch

    payload = {"torch": torch.__version__, "jobs_at_once": args.jobs, "counts": counts}
    (RESULTS / "bench_ddp_teardown.json").write_text(json.dumps(payload, indent=2))
    lines = [
        f"# Two-rank gloo DDP teardown (torch {torch.__version__}, {args.jobs} jobs at once)",
        "",
        "| torch._dynamo imported | runs | aborted at exit | gloo threads left after destroy (rank 1) |",
        "|---|---|---|---|",
    ]
    for order, c in counts.items():
        left = sorted(set(c["gloo_threads_left"]))
        lines.append(f"| {order} the group | {c['runs']} | {c['aborted']} | {', '.join(map(str, left))} |")
    (RESULTS / "bench_ddp_teardown.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
