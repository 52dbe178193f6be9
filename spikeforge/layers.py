"""Layers for time-first multi-step tensors ``[T, B, ...]``.

Stateless layers (conv, linear, pooling, batch norm) do not care about time: wrap them in
:class:`MultiStep` and they run once on the merged ``[T*B, ...]`` tensor, which is what
makes multi-step SNNs fast.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MultiStep", "TEBN", "seq_to_batch", "batch_to_seq"]


def seq_to_batch(x: torch.Tensor) -> torch.Tensor:
    """``[T, B, ...] -> [T*B, ...]`` (a view)."""
    return x.flatten(0, 1)


def batch_to_seq(y: torch.Tensor, T: int) -> torch.Tensor:
    """``[T*B, ...] -> [T, B, ...]`` (a view)."""
    return y.unflatten(0, (T, y.shape[0] // T))


class MultiStep(nn.Sequential):
    """Run stateless ``modules`` once on ``[T*B, ...]`` and give back ``[T, B, ...]``.

    ``MultiStep(nn.Conv2d(2, 64, 3, padding=1), nn.BatchNorm2d(64))`` maps
    ``[T, B, 2, H, W]`` to ``[T, B, 64, H, W]``; batch norm statistics are taken over
    ``T*B`` samples.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        T = x.shape[0]
        return batch_to_seq(super().forward(seq_to_batch(x)), T)


class TEBN(nn.Module):
    """Temporal effective batch norm: BN over ``T*B`` times a learnable per-step scale.

    ``y[t] = BN(x)[t] * te[t]`` with ``te`` of shape ``[T, 1, 1, 1, 1]`` initialised to 1,
    as in the TET-style 48x48 VGG-11 of Shen et al. The scale parameter is named ``te``
    (no weight decay on it, like norm parameters).

    Args:
        num_features: channels ``C`` of ``[T, B, C, H, W]`` input.
        T: number of time steps the scale is learned for.
    """

    def __init__(self, num_features: int, T: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features)
        self.te = nn.Parameter(torch.ones(T, 1, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[0]
        if T != self.te.shape[0]:
            raise ValueError(f"TEBN was built for T={self.te.shape[0]} but got input with T={T}")
        return batch_to_seq(self.bn(seq_to_batch(x)), T) * self.te
