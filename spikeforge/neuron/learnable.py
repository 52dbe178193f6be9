"""Learnable neuron parameters: what each is (:class:`Learnable`), its shape from its sharing, its initial values.

A node declares each learnable parameter once (:meth:`spikeforge.neuron.nodes.BaseNode.add_learnable`):
its name on the module (``imp``, ``v_threshold``, PLIF's ``w``), the optimiser group it belongs to,
its sharing and its initial-value distribution. The node creates it from that when its shape is
known, materialises it from a state dict, and hands the optimiser its group
(:meth:`~spikeforge.neuron.nodes.BaseNode.neuron_parameters`).

Sharing says which elements share one value:

* ``"neuron"``: one value per feature element, shared over the batch (shape ``features``);
* ``"channel"``: one value per channel, the first feature dim (shape ``(C, 1, ..., 1)``);
* ``"layer"``: one scalar.

Initial values, readable from YAML: a number (constant), ``"uniform(-0.2, 0.2)"``,
``"normal(0, 0.1)"``, ``"constant(0.5)"``, or a mapping ``{"dist": "uniform", "low": -0.2, "high": 0.2}``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any, Literal

import torch

__all__ = ["LEARN", "SHARINGS", "Init", "Learnable", "Sharing", "fill_", "param_shape", "parse_init"]

Init = float | str | dict[str, Any]
Sharing = Literal["neuron", "channel", "layer"]
SHARINGS = ("neuron", "channel", "layer")
#: the option value that makes a parameter learnable (``imp: learn``, ``v_threshold: learn``)
LEARN = "learn"


@dataclasses.dataclass(frozen=True)
class Learnable:
    """One learnable neuron parameter.

    Attributes:
        name: its attribute and state-dict name on the node (``"imp"``).
        group: the parameter kind the optimiser groups it by and ``optim.no_decay`` names
            (``"imp"``, ``"v_threshold"``, ``"tau"``).
        sharing: ``"neuron"`` | ``"channel"`` | ``"layer"``.
        init: its initial-value distribution (see the module docstring).
    """

    name: str
    group: str
    sharing: Sharing
    init: Init

    def __post_init__(self) -> None:
        if self.sharing not in SHARINGS:
            raise ValueError(f"{self.name} sharing must be one of {SHARINGS}, got {self.sharing!r}")
        parse_init(self.init)  # validate now, not at the first forward

    def shape(self, features: Sequence[int]) -> tuple[int, ...]:
        """The parameter's shape for a layer whose per-sample feature shape is ``features``."""
        return param_shape(self.sharing, features)


def param_shape(sharing: str, features: Sequence[int]) -> tuple[int, ...]:
    """Shape of a parameter of ``sharing`` for per-sample features ``features``."""
    if sharing == "neuron":
        return tuple(features)
    if sharing == "channel":
        if len(features) == 0:
            return ()
        return (features[0],) + (1,) * (len(features) - 1)
    return ()


_ARGS = {"uniform": ("low", "high"), "normal": ("mean", "std"), "constant": ("value",)}


def parse_init(spec: Init) -> tuple[str, dict[str, float]]:
    """Return ``(dist, params)``; raises ``ValueError`` with the accepted forms on bad input."""
    if isinstance(spec, bool):
        raise ValueError(f"bad init {spec!r}")
    if isinstance(spec, int | float):
        return "constant", {"value": float(spec)}
    if isinstance(spec, dict):
        params = dict(spec)
        dist = str(params.pop("dist", "")).lower()
        if dist not in _ARGS or set(params) != set(_ARGS[dist]):
            raise ValueError(f"bad init {spec!r}; expected dist in {sorted(_ARGS)} with keys {_ARGS}")
        return dist, {k: float(v) for k, v in params.items()}
    if isinstance(spec, str):
        m = re.fullmatch(r"\s*(\w+)\s*\(([^)]*)\)\s*", spec)
        if m and m.group(1).lower() in _ARGS:
            dist = m.group(1).lower()
            try:
                values = [float(v) for v in m.group(2).split(",") if v.strip()]
            except ValueError:
                values = []
            if len(values) == len(_ARGS[dist]):
                return dist, dict(zip(_ARGS[dist], values, strict=True))
        try:
            return "constant", {"value": float(spec)}
        except ValueError:
            pass
    raise ValueError(f"bad init {spec!r}; use a number, 'uniform(low, high)', 'normal(mean, std)' or 'constant(value)'")


@torch.no_grad()
def fill_(tensor: torch.Tensor, spec: Init) -> torch.Tensor:
    """Fill ``tensor`` in place from ``spec`` (uses the global torch RNG)."""
    dist, p = parse_init(spec)
    if dist == "uniform":
        return tensor.uniform_(p["low"], p["high"])
    if dist == "normal":
        return tensor.normal_(p["mean"], p["std"])
    return tensor.fill_(p["value"])
