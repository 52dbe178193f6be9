"""Current-based LIF (Rouser / SLAYER CUBA), two state variables (parameters ``alpha_i``, ``alpha_v``).

``I[t] = alpha_i * I[t-1] + X[t]``, ``H[t] = V_r + alpha_v * (V[t-1] - V_r) + I[t]``, then
fire and reset as every kind; ``I[-1] = 0`` unless given.
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

import torch

from .. import presets
from ..kind_spec import FusedKernels, NeuronKind
from ..nodes import BaseNode
from ..surrogate import Exponential

__all__ = ["KIND", "CUBALIFNode", "CUBAParams"]


class CUBAParams(NamedTuple):
    """Retained fractions per step of the synaptic current (``alpha_i``) and the membrane potential (``alpha_v``)."""

    alpha_i: float = presets.ROUSER_ALPHA_I
    alpha_v: float = presets.ROUSER_ALPHA_V


def charge(
    p: CUBAParams, v: torch.Tensor, i: torch.Tensor | None, x: torch.Tensor, v_rest: float
) -> tuple[torch.Tensor, torch.Tensor]:
    i = p.alpha_i * cast(torch.Tensor, i) + x  # the reference hands a kind with a current its I
    return v_rest + p.alpha_v * (v - v_rest) + i, i


class CUBALIFNode(BaseNode):
    """Current-based LIF (Rouser / SLAYER CUBA), two state variables.

    ``I[t] = alpha_i * I[t-1] + X[t]``, ``H[t] = V_r + alpha_v * (V[t-1] - V_r) + I[t]``,
    then fire and reset as the other nodes. ``alpha_i`` and ``alpha_v`` are the *retained*
    fractions per step (Rouser Table II: 0.75 and 0.97, i.e. SLAYER's current_decay 0.25
    and voltage_decay 0.03). Defaults follow the paper (``spikeforge.neuron.presets``): threshold
    1.25, hard reset to 0, reset detached as in SLAYER, exponential surrogate (scale 1.5, tau 3.75).
    """

    kind = "cuba"
    default_threshold = presets.ROUSER_THRESHOLD
    default_surrogate = Exponential(**{k: v for k, v in presets.ROUSER_SURROGATE.items() if k != "name"})

    def __init__(
        self,
        alpha_i: float = presets.ROUSER_ALPHA_I,
        alpha_v: float = presets.ROUSER_ALPHA_V,
        v_threshold: float | str = presets.ROUSER_THRESHOLD,
        detach_reset: bool = presets.ROUSER_DETACH_RESET,
        **kwargs: Any,
    ) -> None:
        for name, a in (("alpha_i", alpha_i), ("alpha_v", alpha_v)):
            if not 0.0 <= a <= 1.0:
                raise ValueError(f"CUBALIFNode {name} is a retained fraction in [0, 1], got {a}")
        super().__init__(v_threshold=v_threshold, detach_reset=detach_reset, **kwargs)
        self.alpha_i = float(alpha_i)
        self.alpha_v = float(alpha_v)

    def kind_params(self) -> CUBAParams:
        return CUBAParams(self.alpha_i, self.alpha_v)

    def _dynamics_repr(self) -> str:
        return f"alpha_i={self.alpha_i}, alpha_v={self.alpha_v}"


KIND = NeuronKind(
    name="cuba",
    params=CUBAParams,
    charge=charge,
    node=CUBALIFNode,
    has_current=True,
    fused=FusedKernels(
        frozenset({"cpu", "triton"}),
        step=lambda p: "cuba",
        constants=lambda p: {"alpha_i": float(p.alpha_i), "alpha_v": float(p.alpha_v)},
    ),
    description="current-based LIF (Rouser / SLAYER): alpha_i, alpha_v retained fractions",
)
