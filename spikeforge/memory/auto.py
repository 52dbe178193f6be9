"""``auto``: which blocks to recompute, from measured bytes and measured time.

Every block saves ``compress`` bytes when it is kept and ``checkpoint`` bytes (its packed input)
when it is recomputed; recomputing costs about its forward time again in the backward. Blocks are
taken in order of bytes freed per second of recomputation (large, cheap early layers first) while
the added time stays within ``max_overhead`` of the measured step, or, when a ``budget`` of saved
bytes is given, until the saved bytes fit it whatever the time.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import UserError
from .measure import saved_bytes, time_step
from .modes import MemoryPlan, apply_plan, blocks

__all__ = ["DEFAULT_MAX_OVERHEAD", "optimize"]

#: the step time ``auto`` may add, as a fraction of the measured step (the target is <= 1.2x; margin for noise)
DEFAULT_MAX_OVERHEAD = 0.15


def optimize(
    model: nn.Module,
    sample_input: torch.Tensor,
    budget: int | None = None,
    max_overhead: float = DEFAULT_MAX_OVERHEAD,
    repeats: int = 2,
) -> MemoryPlan:
    """Put the ``auto`` memory mode on ``model``, measured on ``sample_input`` (``[T, B, ...]``, a small batch).

    Args:
        model: the network (its lazily shaped neuron parameters created, :func:`spikeforge.materialize`).
        sample_input: a model input; bytes and times are measured on it (the model's state is put back).
        budget: saved-activation bytes for ``sample_input`` to fit; ``None``: as few as ``max_overhead`` allows.
        max_overhead: step time the recomputation may add, as a fraction of the step (ignored with a ``budget``).
        repeats: training steps timed (the fastest counts).

    Returns:
        The plan on the model; ``plan.details`` holds the measurements (bytes per block for both choices,
        block and step times, the predicted saved bytes and added time).
    """
    if max_overhead < 0:
        raise UserError(f"max_overhead must be >= 0, got {max_overhead}")
    names = [n for n, _ in blocks(model)]
    apply_plan(model, "compress")
    kept = saved_bytes(model, sample_input)
    step, block_time = time_step(model, sample_input, repeats)
    apply_plan(model, "checkpoint")
    recomputed = saved_bytes(model, sample_input)
    gain = {n: kept.per_block.get(n, 0) - recomputed.per_block.get(n, 0) for n in names}
    order = sorted(names, key=lambda n: gain[n] / max(block_time[n], 1e-9), reverse=True)
    chosen: list[str] = []
    total, added = kept.total, 0.0
    for n in order:
        if gain[n] <= 0:
            continue
        if budget is not None:
            if total <= budget:
                break
        elif added + block_time[n] > max_overhead * step:
            continue
        chosen.append(n)
        total -= gain[n]
        added += block_time[n]
    plan = apply_plan(model, "auto", [n for n in names if n in chosen])
    plan.details = {
        "compress_bytes": kept.per_block,
        "checkpoint_bytes": recomputed.per_block,
        "block_seconds": block_time,
        "step_seconds": step,
        "predicted_bytes": total,
        "predicted_overhead": added / step if step > 0 else 0.0,
    }
    return plan
