"""Encoders: turn a batch of samples into time-first multi-step input ``[T, B, ...]``.

* ``direct``: repeat a static sample ``[B, ...]`` T times (the first conv + BN then act as
  the encoder, as in the papers).
* ``poisson``: Bernoulli spikes with probability equal to the (clamped to [0, 1]) intensity.
* ``sequence``: the sample already has a time axis, ``[B, T, ...]``; move it to the front.
"""

from __future__ import annotations

import torch

from .timelayout import TimeLayoutError

__all__ = ["ENCODERS", "direct", "encode", "poisson", "sequence"]


def direct(x: torch.Tensor, T: int) -> torch.Tensor:
    """``[B, ...] -> [T, B, ...]`` by repetition (an expanded view, no copy)."""
    return x.unsqueeze(0).expand(T, *x.shape)


def poisson(x: torch.Tensor, T: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``[B, ...] -> [T, B, ...]`` Bernoulli spikes with ``P(spike) = clamp(x, 0, 1)``."""
    p = x.clamp(0, 1).unsqueeze(0).expand(T, *x.shape)
    return torch.bernoulli(p, generator=generator).to(x.dtype)


def sequence(x: torch.Tensor, T: int | None = None) -> torch.Tensor:
    """``[B, T, ...] -> [T, B, ...]``; checks ``T`` when given (:class:`TimeLayoutError`)."""
    if T is not None and x.shape[1] != T:
        raise TimeLayoutError(f"sequence input has {x.shape[1]} time steps but T={T} was configured")
    return x.transpose(0, 1)


ENCODERS = {"direct": direct, "poisson": poisson, "sequence": sequence}


def encode(name: str, x: torch.Tensor, T: int) -> torch.Tensor:
    """Encode ``x`` with the named encoder."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; choose one of {sorted(ENCODERS)}")
    return ENCODERS[name](x, T)
