"""What a config needs in memory per training process, computed on a CPU before renting a GPU.

The saved-activation bytes of every block are measured on a small batch (they grow linearly with
the batch; the bytes do not depend on the device) under each memory mode. A training process
holds, besides them, the parameters, their gradients and the optimiser's state, and at its peak
the activations of the block being differentiated (with their gradients): :data:`TRANSIENT`
times the largest block's bytes under mode ``none``. A CUDA process also holds its context and
kernels (:data:`CUDA_CONTEXT`). Under ``checkpoint`` and ``auto`` the backward also rebuilds the
activations of one recomputed block at a time: the largest one's bytes under ``none`` are added.
``largest_batch`` is the largest batch whose total fits the memory.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
from torch import nn

from ..neuron.nodes import materialize
from .auto import optimize
from .measure import OTHER, saved_bytes
from .modes import apply_plan

__all__ = [
    "CUDA_CONTEXT",
    "MemoryEstimate",
    "TRANSIENT",
    "estimate",
    "optimizer_state_factor",
]

#: a CUDA context with PyTorch's kernels loaded (about 0.5-1 GiB); counted once per process
CUDA_CONTEXT = 1 << 30
#: the backward's peak above the saved bytes: a block's activations recomputed or kept, and their gradients
TRANSIENT = 2.0
PLANNED_MODES = ("none", "compress", "checkpoint", "auto")


def optimizer_state_factor(name: str, momentum: float) -> int:
    """Tensors the optimiser keeps per parameter (SGD with momentum: 1, Adam/AdamW: 2)."""
    if name.lower() in ("adam", "adamw"):
        return 2
    return 1 if momentum > 0 else 0


@dataclass
class MemoryEstimate:
    """Bytes per sample (per block and total) for each mode, and the fixed bytes of a process."""

    batch_measured: int
    per_block: dict[str, dict[str, float]] = field(default_factory=dict)  # mode -> block -> bytes per sample
    per_sample: dict[str, float] = field(default_factory=dict)  # mode -> saved bytes per sample
    per_step: dict[str, float] = field(default_factory=dict)  # mode -> saved bytes whatever the batch
    transient_per_sample: float = 0.0
    recompute_per_sample: dict[str, float] = field(default_factory=dict)  # mode -> largest recomputed block
    param_bytes: int = 0
    grad_bytes: int = 0
    optimizer_bytes: int = 0
    auto_recomputed: list[str] = field(default_factory=list)

    @property
    def fixed_bytes(self) -> int:
        return self.param_bytes + self.grad_bytes + self.optimizer_bytes

    def total(self, mode: str, batch: int, cuda: bool = True) -> float:
        """Bytes of a training process at ``batch`` under ``mode``."""
        context = CUDA_CONTEXT if cuda else 0
        fixed = self.fixed_bytes + context + self.per_step[mode]
        return fixed + batch * self.peak_per_sample(mode)

    def peak_per_sample(self, mode: str) -> float:
        """Saved bytes, the backward's transient, and the activations of the block being recomputed."""
        return self.per_sample[mode] + self.transient_per_sample + self.recompute_per_sample.get(mode, 0.0)

    def largest_batch(self, mode: str, memory: int, cuda: bool = True) -> int:
        """The largest batch per process whose :meth:`total` fits ``memory`` bytes (0: not even one sample)."""
        room = memory - self.fixed_bytes - self.per_step[mode] - (CUDA_CONTEXT if cuda else 0)
        per = self.peak_per_sample(mode)
        return max(int(room // per), 0) if per > 0 else 0


def _order(measured):
    """Blocks in the order they saved first (forward order), the rest after."""
    first = list(measured.per_block)
    return lambda k: (first.index(k) if k in first else len(first), k)


def estimate(
    model: nn.Module,
    sample: torch.Tensor,
    *,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    precision: str = "fp32",
    modes: tuple[str, ...] = PLANNED_MODES,
) -> MemoryEstimate:
    """Measure ``model`` on ``sample`` (``[T, b, ...]``, a small batch ``b``) under each of ``modes``.

    ``precision`` ``bf16``/``fp16`` measures under CPU autocast in bfloat16 (2-byte activations like CUDA's
    float16; the two autocast op lists differ in a few ops).
    """
    b = sample.shape[1]
    materialize(model, sample[:, :1])
    cast = torch.autocast("cpu", dtype=torch.bfloat16) if precision in ("bf16", "fp16") else contextlib.nullcontext()
    params = [p for p in model.parameters() if p.requires_grad]
    n_bytes = sum(p.numel() * p.element_size() for p in params)
    est = MemoryEstimate(
        batch_measured=b,
        param_bytes=sum(p.numel() * p.element_size() for p in model.parameters())
        + sum(buf.numel() * buf.element_size() for buf in model.buffers()),
        grad_bytes=n_bytes,
        optimizer_bytes=n_bytes * optimizer_state_factor(optimizer, momentum),
    )
    # Saved bytes at batches b and 2b: the difference is what each sample adds; the rest (autocast's casts of
    # the weights, say) is kept once per step whatever the batch.
    double = torch.cat([sample, sample], dim=1)
    if sample.shape[0] > 1 and sample.stride(0) == 0:  # direct encoding: one step expanded over T, kept so
        double = double[:1].expand(sample.shape[0], *double.shape[1:])
    with cast:
        for mode in modes:
            if mode == "auto":
                plan = optimize(model, sample)
                est.auto_recomputed = list(plan.recomputed)
            else:
                apply_plan(model, mode)
            one, two = saved_bytes(model, sample), saved_bytes(model, double)
            keys = set(one.per_block) | set(two.per_block)
            est.per_block[mode] = {
                k: max(two.per_block.get(k, 0) - one.per_block.get(k, 0), 0) / b for k in sorted(keys, key=_order(one))
            }
            est.per_sample[mode] = max(two.total - one.total, 0) / b
            est.per_step[mode] = max(one.total - b * est.per_sample[mode], 0)
    apply_plan(model, "none")
    none = est.per_block.get("none", {})
    largest = max((v for k, v in none.items() if k != OTHER), default=0.0)
    est.transient_per_sample = TRANSIENT * largest
    # A recomputed block's activations exist again while its gradient is computed, on top of the rest.
    recomputed = {"checkpoint": list(none), "auto": est.auto_recomputed}
    for mode, names in recomputed.items():
        if mode in modes:
            est.recompute_per_sample[mode] = max((none.get(n, 0.0) for n in names if n != OTHER), default=0.0)
    return est
