"""Parametric LIF (PLIF, Fang et al., ICCV 2021): a LIF whose membrane time constant is learned, one per layer.

The charge step is LIF's (:mod:`.lif`) with the leak factor ``k = 1 / tau = sigmoid(w)``, i.e.
``tau = 1 + exp(-w)``, where ``w`` is an ``nn.Parameter`` shared by the layer (a scalar), created
from ``tau_init`` as ``w = -log(tau_init - 1)`` (``tau_init = 2``: ``w = 0``, ``k = 1/2``)::

    H[t] = V[t-1] + (X[t] - (V[t-1] - V_r)) * sigmoid(w)    (decay_input, the default)
    H[t] = V[t-1] - (V[t-1] - V_r) * sigmoid(w) + X[t]      (otherwise)

``sigmoid`` keeps ``tau > 1`` whatever ``w`` becomes. ``w`` trains with the neuron parameters (the
optimiser's group ``"tau"``). Reference backend only: the fused kernels take ``tau`` as a fixed
constant and return no gradient for it, so ``backend="auto"`` runs the reference (saying so in
one log line) and a fused backend named explicitly is refused when the node is built.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import nn

from ..kind_spec import NeuronKind
from ..nodes import BaseNode
from .lif import Leak
from .lif import charge as lif_charge

__all__ = ["KIND", "PLIFNode", "PLIFParams"]


class PLIFParams(NamedTuple):
    """``w``: the leak's logit, ``1/tau = sigmoid(w)`` (a tensor when learned); ``decay_input`` as LIF's."""

    w: float | torch.Tensor = 0.0
    decay_input: bool = True


def prepare(p: PLIFParams, dtype: torch.dtype) -> Leak:
    w = p.w if isinstance(p.w, torch.Tensor) else torch.tensor(p.w)
    return Leak(torch.sigmoid(w.to(dtype)), bool(p.decay_input))


class PLIFNode(BaseNode):
    """Parametric LIF with a learnable membrane time constant per layer (see the module docstring).

    Args:
        tau_init: initial membrane time constant (> 1); ``w`` starts at ``-log(tau_init - 1)``.
        decay_input: whether the input is scaled by ``1/tau``.
        **kwargs: see :class:`BaseNode` (learnable ``imp`` and ``v_threshold`` work as for LIF).
    """

    kind = "plif"
    w: nn.Parameter

    def __init__(self, tau_init: float = 2.0, decay_input: bool = True, **kwargs: Any) -> None:
        if not tau_init > 1.0:
            raise ValueError(f"PLIFNode tau_init must be > 1 (a time constant), got {tau_init}")
        super().__init__(**kwargs)
        self.tau_init = float(tau_init)
        self.decay_input = bool(decay_input)
        self.add_learnable("w", "layer", -math.log(self.tau_init - 1.0), group="tau")

    @property
    def tau(self) -> torch.Tensor:
        """The membrane time constant now, ``1 + exp(-w)`` (a scalar tensor with ``w``'s gradient)."""
        return 1.0 + torch.exp(-self.w)

    def kind_params(self) -> PLIFParams:
        return PLIFParams(self.w, self.decay_input)

    def _dynamics_repr(self) -> str:
        return f"tau=learn(init={self.tau_init})" + ("" if self.decay_input else ", decay_input=False")


KIND = NeuronKind(
    name="plif",
    params=PLIFParams,
    prepare=prepare,
    charge=lif_charge,
    node=PLIFNode,
    description="parametric LIF (Fang et al. 2021): learnable tau = 1 + exp(-w) per layer; reference only",
)
