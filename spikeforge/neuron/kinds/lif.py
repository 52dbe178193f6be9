"""Leaky integrate-and-fire with SpikingJelly's semantics (parameters ``tau``, ``decay_input``).

``H[t] = V[t-1] + (X[t] - (V[t-1] - V_r)) * k`` with ``decay_input`` (default), else
``H[t] = V[t-1] - (V[t-1] - V_r) * k + X[t]``; ``V_r`` is ``v_reset`` or 0 (soft reset) and
``k = 1 / tau`` rounded once to the state dtype (:func:`~spikeforge.neuron.reference.leak_factor`),
which every backend multiplies by, so results are the same on CPU and CUDA.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from ..kind_spec import FusedKernels, NeuronKind
from ..nodes import BaseNode
from ..reference import leak_factor

__all__ = ["KIND", "LIFNode", "LIFParams"]


class LIFParams(NamedTuple):
    """``tau``: membrane time constant (> 1); ``decay_input``: the input is scaled by ``1/tau`` too."""

    tau: float = 2.0
    decay_input: bool = True


class Leak(NamedTuple):
    """What the charge step multiplies by: ``k = 1/tau`` in the state dtype."""

    k: float | torch.Tensor
    decay_input: bool


def prepare(p: LIFParams, dtype: torch.dtype) -> Leak:
    return Leak(leak_factor(p.tau, dtype), bool(p.decay_input))


def charge(
    c: Leak, v: torch.Tensor, i: torch.Tensor | None, x: torch.Tensor, v_rest: float
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One LIF charge step (shared with PLIF, whose ``k`` is a learnable tensor)."""
    if c.decay_input:
        return v + (x - (v - v_rest)) * c.k, None
    return v - (v - v_rest) * c.k + x, None


class LIFNode(BaseNode):
    """Leaky integrate-and-fire (see the module docstring).

    Args:
        tau: membrane time constant (> 1).
        decay_input: whether the input is scaled by ``1/tau``.
        **kwargs: see :class:`BaseNode`.
    """

    kind = "lif"

    def __init__(self, tau: float = 2.0, decay_input: bool = True, **kwargs: Any) -> None:
        if not tau > 1.0:
            raise ValueError(f"LIFNode tau must be > 1 (a time constant), got {tau}")
        super().__init__(**kwargs)
        self.tau = float(tau)
        self.decay_input = bool(decay_input)

    def kind_params(self) -> LIFParams:
        return LIFParams(self.tau, self.decay_input)

    def _dynamics_repr(self) -> str:
        return f"tau={self.tau}" + ("" if self.decay_input else ", decay_input=False")


KIND = NeuronKind(
    name="lif",
    params=LIFParams,
    prepare=prepare,
    charge=charge,
    node=LIFNode,
    fused=FusedKernels(
        frozenset({"cpu", "triton"}),
        step=lambda p: "lif_decay_input" if p.decay_input else "lif",
        constants=lambda p: {"tau": float(p.tau)},
    ),
    description="leaky integrate-and-fire (SpikingJelly's LIF): tau, decay_input",
)
