"""Integrate-and-fire: ``H[t] = V[t-1] + X[t]`` (no parameters; the module is ``if_``: ``if`` is a keyword)."""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..kind_spec import FusedKernels, NeuronKind
from ..nodes import BaseNode

__all__ = ["IFNode", "IFParams", "KIND"]


class IFParams(NamedTuple):
    """IF has no parameters of its own."""


def charge(
    p: IFParams, v: torch.Tensor, i: torch.Tensor | None, x: torch.Tensor, v_rest: float
) -> tuple[torch.Tensor, torch.Tensor | None]:
    return v + x, None


class IFNode(BaseNode):
    """Integrate-and-fire: ``H[t] = V[t-1] + X[t]``. See :class:`BaseNode` for the arguments."""

    kind = "if"


KIND = NeuronKind(
    name="if",
    params=IFParams,
    charge=charge,
    node=IFNode,
    fused=FusedKernels(frozenset({"cpu", "triton"}), step=lambda p: "if", constants=lambda p: {}),
    description="integrate-and-fire",
)
