"""What every fused backend does around its kernels: flatten the call, then shape the result.

A backend's custom op sees ``x`` as a contiguous ``[T, M]`` tensor
(``M = B * prod(features)``), parameters as ``[mid]`` vectors (:mod:`.params`) and returns
``spikes [T, M], v [M]``, then ``i [M]`` for CUBA and ``v_seq [T, M]`` with ``record_v``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch

from ..reference import Dynamics, NeuronOutput, state_dtype
from .params import ParamLayout, initial_current, param_layout
from .spec import KernelSpec, kernel_spec

__all__ = ["FlatCall", "flatten_call", "unflatten_result"]


@dataclasses.dataclass
class FlatCall:
    """One neuron call in kernel form.

    Attributes:
        x: ``[T, M]`` contiguous input.
        spec: the encoded dynamics.
        theta, v0: thresholds and initial potentials (``values [mid]`` + layout).
        i0: CUBA's initial current ``[M]`` or ``None`` (zeros).
        state_dtype: float32 for half/bfloat16 inputs, else the input dtype.
    """

    x: torch.Tensor
    spec: KernelSpec
    theta: ParamLayout
    v0: ParamLayout
    i0: torch.Tensor | None
    state_dtype: torch.dtype


def flatten_call(
    x: torch.Tensor,
    dyn: Dynamics,
    v_threshold: float | torch.Tensor,
    v_init: float | torch.Tensor,
    i_init: float | torch.Tensor | None,
) -> FlatCall | None:
    """Kernel form of a :func:`~spikeforge.neuron.reference.multistep` call; ``None`` when ``x`` is empty."""
    if x.dim() < 2:
        raise ValueError(f"neuron input must be [T, B, ...], got shape {tuple(x.shape)}")
    spec = kernel_spec(dyn)
    T, step = x.shape[0], x.shape[1:]
    M = math.prod(step)
    if T == 0 or M == 0:
        return None
    sdt = state_dtype(x.dtype)
    return FlatCall(
        x=x.contiguous().view(T, M),
        spec=spec,
        theta=param_layout(v_threshold, step, sdt, x.device),
        v0=param_layout(v_init, step, sdt, x.device),
        i0=initial_current(i_init, step, sdt, x.device) if dyn.kind == "cuba" else None,
        state_dtype=sdt,
    )


def unflatten_result(outs: Sequence[torch.Tensor], x: torch.Tensor, dyn: Dynamics, record_v: bool) -> NeuronOutput:
    """Reshape a kernel's ``(spikes, v[, i][, v_seq])`` to the shapes of ``x``."""
    step = x.shape[1:]
    return NeuronOutput(
        spikes=outs[0].view(x.shape),
        v=outs[1].view(step),
        i=outs[2].view(step) if dyn.kind == "cuba" else None,
        v_seq=outs[-1].view(x.shape) if record_v else None,
    )
