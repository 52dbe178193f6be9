"""torch.distributed plumbing: environment, process group, sharded evaluation, sync checks.

Launch with ``torchrun --nproc_per_node=N -m spikeforge train CONFIG``: torchrun sets
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; the process group uses NCCL on CUDA and gloo
on CPU. Nothing here is home-made beyond reading those variables.

Collectives go through :func:`all_reduce` (:func:`all_reduce_sum`), :func:`all_gather_tensor`
and :func:`broadcast_object`: NCCL only accepts tensors on the current CUDA device, so a CPU
tensor (a counter, a checksum) is staged on :func:`backend_device` and copied back; under
gloo everything stays on the CPU. Nothing else in SpikeForge (the engine, the monitors) calls
``torch.distributed`` collectives on tensors directly.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "DistEnv",
    "Reduction",
    "all_gather_tensor",
    "all_reduce",
    "all_reduce_dict",
    "all_reduce_sum",
    "backend_device",
    "broadcast_object",
    "check_in_sync",
    "cleanup",
    "init_process_group",
    "is_initialized",
    "setup",
]


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
        store = _restart_store(env)
        if store is None:
            init_process_group(backend)
        else:
            init_process_group(backend, store=store, rank=env.rank, world_size=env.world_size)
    return env


def init_process_group(backend: str, **kwargs: Any) -> None:
    """``torch.distributed.init_process_group(backend, **kwargs)``, with ``torch._dynamo`` imported first.

    DDP imports ``torch._dynamo`` when it is constructed. Imported after the process group exists,
    it keeps the group alive past ``destroy_process_group`` (torch 2.13): gloo's worker and socket
    threads still run at interpreter exit, where a peer closing its sockets aborts the process with
    ``terminate called without an active exception`` (5 of 23 two-rank runs of a bare DDP script
    on a busy machine, 0 of 80 with this order; ``benchmarks/bench_ddp_teardown.py``). Use this
    instead of the torch function when starting a group by hand.
    """
    import torch._dynamo  # noqa: F401

    dist.init_process_group(backend=backend, **kwargs)


def _restart_store(env: DistEnv):
    """After an elastic restart, the agent's store still holds the previous attempt's keys (the ranks' addresses):
    a rank that reads one before its peer rewrites it connects to a dead process. A prefix per attempt avoids it."""
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    if attempt in ("", "0") or os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    import datetime

    store = dist.TCPStore(
        os.environ["MASTER_ADDR"],
        int(os.environ["MASTER_PORT"]),
        env.world_size,
        is_master=False,
        timeout=datetime.timedelta(minutes=10),
    )
    return dist.PrefixStore(f"/spikeforge/attempt_{attempt}", store)


def cleanup(synchronize: bool = False) -> None:
    """Destroy the process group (no-op without one).

    ``synchronize=True`` (a run that finished on this rank) first waits for every rank. The main
    rank still draws the plots and writes ``result.json`` after the last collective; a rank that
    leaves meanwhile and then fails in its own exit (as gloo ranks did before
    :func:`init_process_group` fixed the import order) makes torchrun SIGTERM the main rank before
    those files exist. After a failure no rank waits: the others may never get here, and torchrun
    stops them when one rank exits with an error.

    Drop every ``DistributedDataParallel`` wrapper before calling this. A wrapper still alive keeps
    the gloo group alive, and frees it later from its Reducer while holding the GIL (torch 2.13;
    pytorch/pytorch#56297). The group's destructor joins its worker threads; a worker that still
    held the last reference to the final collective's work needs the GIL to drop that work's
    Python objects. Each thread waits for the other and the rank never exits (a two-rank test
    under load: 13 of 238 runs hung with the wrapper kept, 0 of 120 with it dropped first).
    Freed while the group is registered, the Reducer only drops one reference, and
    ``destroy_process_group`` frees the group with the GIL released.
    """
    if not is_initialized():
        return
    if synchronize:
        all_reduce(torch.zeros(1))  # a barrier on the backend's device (plain dist.barrier guesses GPU 0 under NCCL)
    dist.destroy_process_group()


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def backend_device() -> torch.device:
    """Where a collective's tensors must live: the current CUDA device under NCCL, else the CPU (gloo)."""
    if is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _staged(t: torch.Tensor) -> torch.Tensor:
    """``t`` itself when it is on the backend's device, else a copy there (contiguous either way)."""
    device = backend_device()
    if t.device == device and t.is_contiguous():
        return t
    return t.detach().to(device).contiguous()


#: how a tensor merges over ranks
Reduction = Literal["sum", "min", "max"]

_REDUCE_OPS = {"sum": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN, "max": dist.ReduceOp.MAX}


def all_reduce(t: torch.Tensor, op: Reduction = "sum") -> torch.Tensor:
    """Reduce ``t`` over ranks in place (identity without a process group); ``t`` may live on any device."""
    if is_initialized():
        buf = _staged(t)
        dist.all_reduce(buf, op=_REDUCE_OPS[op])
        if buf is not t:
            t.copy_(buf)
    return t


def all_reduce_dict(tensors: Mapping[str, torch.Tensor], op: Reduction = "sum") -> dict[str, torch.Tensor]:
    """Every named tensor reduced over ranks in ONE collective; returns new tensors (float64), by name.

    The tensors (any shapes, devices and dtypes) are flattened into one float64 buffer in the
    mapping's order, reduced with ``op`` and cut back into their shapes on their own devices.
    Every rank must pass the same names with the same shapes in the same order (a name is a
    tensor's identity here, never its position). Without a process group the tensors come back
    as float64 copies.
    """
    if not tensors:
        return {}
    device = backend_device() if is_initialized() else next(iter(tensors.values())).device
    flat = torch.cat([t.detach().to(device, torch.float64).reshape(-1) for t in tensors.values()])
    all_reduce(flat, op)
    out: dict[str, torch.Tensor] = {}
    offset = 0
    for name, t in tensors.items():
        out[name] = flat[offset : offset + t.numel()].view(t.shape).to(t.device)
        offset += t.numel()
    return out


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over ranks in place (identity without a process group); ``t`` may live on any device."""
    return all_reduce(t, "sum")


def all_gather_tensor(t: torch.Tensor) -> list[torch.Tensor]:
    """Every rank's ``t`` (same shape on all ranks), on ``t``'s device; ``[t]`` without a process group."""
    if not is_initialized():
        return [t]
    buf = _staged(t)
    gathered = [torch.empty_like(buf) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, buf)
    return [g.to(t.device) for g in gathered]


def broadcast_object(obj: object, src: int = 0) -> object:
    """Rank ``src``'s ``obj`` on every rank (``obj`` itself without a process group)."""
    if not is_initialized():
        return obj
    box = [obj]
    # object collectives stage their bytes on the current CUDA device themselves under NCCL
    dist.broadcast_object_list(box, src=src, device=backend_device())
    return box[0]


@torch.no_grad()
def check_in_sync(model: nn.Module) -> float:
    """Raise if the ranks' parameters differ; returns the parameter checksum (sum of all elements, float64)."""
    checksum = torch.zeros((), dtype=torch.float64)
    for p in model.parameters():
        checksum += p.detach().double().sum().cpu()
    if is_initialized():
        values = [g.item() for g in all_gather_tensor(checksum)]
        if any(v != values[0] for v in values):
            raise RuntimeError(f"ranks hold different parameters after training: checksums {values}")
    return checksum.item()
