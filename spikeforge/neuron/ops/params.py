"""Broadcast neuron parameters (threshold, initial potential) in the form kernels read.

A parameter broadcastable to one step ``[B, *features]`` (``M`` neurons when flattened)
becomes a contiguous vector ``values`` of length ``mid`` read as
``values[(m // inner) % mid]`` for flat neuron index ``m``:

=====================  ==================  =========================
parameter shape        ``mid``             ``inner``
=====================  ==================  =========================
float or ``()``        1                   1
``features``           ``prod(features)``  1
``(C, 1, ..., 1)``     ``C``               ``prod(features[1:])``
``[B, *features]``     ``M``               1
=====================  ==================  =========================

Any other broadcast pattern whose non-broadcast dims are adjacent fits the same form;
the rest are expanded to ``[M]``. ``values`` is an autograd view of (a state-dtype cast
of) the caller's tensor, so a kernel's gradient of shape ``[mid]`` flows back through
PyTorch's own reshape/expand/cast, which does the reduction over shared elements.
"""

from __future__ import annotations

import dataclasses
import math

import torch

__all__ = ["ParamLayout", "initial_current", "param_layout"]


@dataclasses.dataclass
class ParamLayout:
    """``values``: ``[mid]`` contiguous, state dtype; element of neuron ``m`` is ``values[(m // inner) % mid]``."""

    values: torch.Tensor
    mid: int
    inner: int


def param_layout(
    p: float | torch.Tensor, step_shape: torch.Size, dtype: torch.dtype, device: torch.device
) -> ParamLayout:
    """Lay out a threshold or initial potential for a kernel.

    Args:
        p: a float, or a tensor broadcastable to ``step_shape``.
        step_shape: ``[B, *features]``.
        dtype: the state dtype.
        device: the input's device (for float parameters).
    """
    if not isinstance(p, torch.Tensor):
        return ParamLayout(torch.full((1,), float(p), dtype=dtype, device=device), 1, 1)
    nd = len(step_shape)
    extra, kept = p.shape[: max(0, p.dim() - nd)], p.shape[max(0, p.dim() - nd) :]
    shape = (1,) * (nd - len(kept)) + tuple(kept)
    # (torch.broadcast_shapes would do, but costs tens of microseconds per call)
    if any(d != 1 for d in extra) or any(s not in (1, n) for s, n in zip(shape, step_shape)):
        raise ValueError(f"neuron parameter of shape {tuple(p.shape)} does not broadcast to a step {tuple(step_shape)}")
    p = p.to(dtype)
    if extra:
        p = p.reshape(kept)
    real = [d for d in range(nd) if shape[d] != 1]
    if not real:
        return ParamLayout(p.reshape(1), 1, 1)
    first, last = real[0], real[-1]
    if all(shape[d] == step_shape[d] for d in range(first, last + 1)):
        mid = math.prod(step_shape[first : last + 1])
        inner = math.prod(step_shape[last + 1 :])
        return ParamLayout(p.reshape(mid).contiguous(), mid, inner)
    m = math.prod(step_shape)
    return ParamLayout(p.expand(step_shape).reshape(m), m, 1)


def initial_current(
    i_init: float | torch.Tensor | None, step_shape: torch.Size, dtype: torch.dtype, device: torch.device
) -> torch.Tensor | None:
    """CUBA's ``I[-1]`` as a contiguous ``[M]`` state-dtype tensor, or ``None`` for zeros."""
    if i_init is None or (not isinstance(i_init, torch.Tensor) and float(i_init) == 0.0):
        return None
    m = math.prod(step_shape)
    if not isinstance(i_init, torch.Tensor):
        return torch.full((m,), float(i_init), dtype=dtype, device=device)
    return i_init.to(dtype).expand(step_shape).reshape(m).contiguous()
