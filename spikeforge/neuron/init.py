"""Initial-value distributions for learnable neuron parameters, readable from YAML.

Accepted forms: a number (constant), ``"uniform(-0.2, 0.2)"``, ``"normal(0, 0.1)"``,
``"constant(0.5)"``, or a mapping ``{"dist": "uniform", "low": -0.2, "high": 0.2}``.
"""

from __future__ import annotations

import re
from typing import Any

import torch

__all__ = ["Init", "parse_init"]

Init = float | str | dict[str, Any]

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
