"""Training memory: spike-compressed saved activations and exact recomputation (see docs/memory.md).

from spikeforge.memory import optimize, apply_memory
optimize(model, sample_input)            # mode "auto": measured per block
apply_memory(model, "compress", sample)  # or "none" / "checkpoint" / "auto"
"""

from __future__ import annotations

import torch
from torch import nn

from .auto import DEFAULT_MAX_OVERHEAD, optimize
from .measure import SavedBytes, saved_bytes, time_step
from .modes import MODES, MemoryPlan, apply_plan, blocks, check_mode, memory_plan, remove_plan
from .recompute import recomputing

__all__ = [
    "DEFAULT_MAX_OVERHEAD",
    "MODES",
    "MemoryPlan",
    "SavedBytes",
    "apply_memory",
    "apply_plan",
    "blocks",
    "memory_plan",
    "optimize",
    "recomputing",
    "remove_plan",
    "saved_bytes",
    "time_step",
]


def apply_memory(model: nn.Module, mode: str, sample_input: torch.Tensor | None = None) -> MemoryPlan:
    """Put memory ``mode`` on ``model``; ``auto`` measures on ``sample_input`` (see :func:`optimize`)."""
    check_mode(mode)
    if mode == "auto":
        if sample_input is None:
            raise ValueError("memory mode 'auto' measures the model: give a sample_input")
        return optimize(model, sample_input)
    return apply_plan(model, mode)
