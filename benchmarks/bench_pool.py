"""The CPU kernels' buffer pool: how much a training step keeps in it, and its speed at two pool limits.

Usage::

    .venv/bin/python benchmarks/bench_pool.py [--rounds 3] [--steps 20] [--limits 1024 256]

For two embedded jobs' networks (``digits_convnet`` at the main job's ``[T=4, B=32, 1, 8, 8]``, ``event_convnet``
at ``sim_events_convnet``'s ``[T=8, B=64, 2, 34, 34]``), each in a fresh process per limit, the rounds
interleaved: seconds per training step (forward, TET-style mean loss, backward, AdamW), the most bytes the pool
held between steps (``cached_bytes``) and its hits / misses. A job whose step never asks the pool (every
buffer below ``MIN_BYTES``) cannot be changed by the limit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

JOBS = {
    "digits_convnet": dict(shape=(4, 32, 1, 8, 8), classes=10, threads=1),
    "event_convnet": dict(shape=(8, 64, 2, 34, 34), classes=10, threads=2),
}


def one(job: str, steps: int) -> dict[str, float]:
    import torch

    from spikeforge import materialize
    from spikeforge.models import build_model
    from spikeforge.neuron.ops.cpu import pool

    spec = JOBS[job]
    torch.set_num_threads(int(spec["threads"]))
    torch.manual_seed(0)
    neuron = {"type": "lif", "tau": 2.0, "v_reset": None, "imp": "learn", "surrogate": {"name": "atan"}}
    model = build_model(job, num_classes=spec["classes"], neuron=neuron)
    x = torch.rand(*spec["shape"])
    y = torch.randint(0, int(spec["classes"]), (x.shape[1],))
    materialize(model, x)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    held, times = 0, []
    for i in range(steps + 3):
        t0 = time.perf_counter()
        out = model(x)  # [T, B, K]
        loss = torch.nn.functional.cross_entropy(out.flatten(0, 1), y.repeat(out.shape[0]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 3:  # warm-up steps: kernel build, first page faults
            times.append(time.perf_counter() - t0)
        held = max(held, pool.stats()["cached_bytes"])
    st = pool.stats()
    return {"step_s": statistics.median(times), "held_mib": held / 2**20, "hits": st["hits"], "misses": st["misses"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--limits", type=int, nargs="+", default=[1024, 256])
    ap.add_argument("--jobs", nargs="+", choices=sorted(JOBS), default=sorted(JOBS))
    ap.add_argument("--one", nargs=2, metavar=("JOB", "STEPS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]))))
        return
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    for r in range(args.rounds):
        for job in args.jobs:
            for limit in args.limits if r % 2 == 0 else reversed(args.limits):
                env = dict(os.environ, SPIKEFORGE_CPU_POOL_MB=str(limit))
                cmd = [sys.executable, __file__, "--one", job, str(args.steps)]
                out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
                results.setdefault((job, limit), []).append(json.loads(out.strip().splitlines()[-1]))
    base = args.limits[0]
    head = ("job", "pool MiB", "step ms", f"vs {base}", "held MiB", "hits", "misses")
    print(f"{head[0]:16s} " + " ".join(f"{h:>8s}" for h in head[1:]))
    for job in args.jobs:
        ref = [r["step_s"] for r in results[(job, base)]]
        for limit in args.limits:
            rs = results[(job, limit)]
            ratio = statistics.median(r["step_s"] / b for r, b in zip(rs, ref))
            print(
                f"{job:16s} {limit:8d} {1e3 * statistics.median(r['step_s'] for r in rs):8.2f} {ratio:8.3f} "
                f"{max(r['held_mib'] for r in rs):9.0f} {rs[-1]['hits']:6.0f} {rs[-1]['misses']:6.0f}"
            )


if __name__ == "__main__":
    main()
