"""torch.distributed plumbing: environment, process group, sharded evaluation, sync checks.

Launch with ``torchrun --nproc_per_node=N -m spikeforge train CONFIG``: torchrun sets
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; the process group uses NCCL on CUDA and gloo
on CPU. Nothing here is home-made beyond reading those variables.
"""

from __future__ import annotations

import dataclasses
import os

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistEnv", "all_reduce_sum", "check_in_sync", "cleanup", "setup"]


@dataclasses.dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: torch.device | None = None) -> DistEnv:
    """Read torchrun's variables and start the process group when ``WORLD_SIZE > 1``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    env = DistEnv(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))
    if env.enabled and not dist.is_initialized():
        backend = "nccl" if (device is not None and device.type == "cuda") else "gloo"
        dist.init_process_group(backend=backend)
    return env


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over ranks (identity without a process group)."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


@torch.no_grad()
def check_in_sync(model: nn.Module) -> float:
    """Raise if the ranks' parameters differ; returns the parameter checksum (sum of all elements, float64)."""
    checksum = torch.zeros((), dtype=torch.float64)
    for p in model.parameters():
        checksum += p.detach().double().sum().cpu()
    if dist.is_available() and dist.is_initialized():
        gathered = [torch.zeros_like(checksum) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, checksum)
        values = [g.item() for g in gathered]
        if any(v != values[0] for v in values):
            raise RuntimeError(f"ranks hold different parameters after training: checksums {values}")
    return checksum.item()
