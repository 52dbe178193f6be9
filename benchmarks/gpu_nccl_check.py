"""Two ranks on two GPUs through SpikeForge's own device and process-group setup (run by ``gpu_check.sh``).

Run with ``torchrun --nproc_per_node 2 benchmarks/gpu_nccl_check.py --out FILE.json``. Each rank
resolves ``device: cuda`` to ``cuda:LOCAL_RANK``, makes it current and starts NCCL the way the
training engine does (``spikeforge.device.use_device`` before ``distributed.setup``), then checks
an all-reduce, a broadcast and a Triton neuron layer on its own GPU. Rank 0 writes what it saw.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON written by rank 0")
    args = parser.parse_args(argv)

    from spikeforge import LIFNode
    from spikeforge import distributed as D
    from spikeforge.device import resolve_device, use_device
    from spikeforge.train.runtime import local_rank

    device = resolve_device("cuda", local_rank())
    use_device(device)
    env = D.setup(device)
    try:
        assert env.world_size == 2, f"expected 2 ranks, got {env.world_size}"
        assert torch.cuda.current_device() == device.index
        total = torch.tensor([float(env.rank + 1)], device=device)
        D.all_reduce_sum(total)
        token = torch.tensor([42.0 if env.rank == 0 else 0.0], device=device)
        torch.distributed.broadcast(token, src=0)
        x = torch.randn(8, 4, 1024, device=device, generator=torch.Generator(device).manual_seed(env.rank))
        spikes = LIFNode(tau=3.7, backend="triton").to(device)(x)
        reference = LIFNode(tau=3.7, backend="torch").to(device)(x)
        seen = {
            "rank": env.rank,
            "device": str(device),
            "gpu": torch.cuda.get_device_name(device),
            "all_reduce_sum": total.item(),
            "broadcast": token.item(),
            "triton_equals_reference": bool(torch.equal(spikes, reference)),
        }
        gathered: list = [None, None]
        torch.distributed.all_gather_object(gathered, seen)
        ok = len({s["device"] for s in gathered}) == 2 and all(
            s["all_reduce_sum"] == 3.0 and s["broadcast"] == 42.0 and s["triton_equals_reference"] for s in gathered
        )
        if env.rank == 0:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"ok": ok, "ranks": gathered}, indent=2) + "\n")
            print(f"nccl check: {'ok' if ok else 'FAILED'} {gathered}")
        return 0 if ok else 1
    finally:
        D.cleanup(synchronize=True)


if __name__ == "__main__":
    raise SystemExit(main())
