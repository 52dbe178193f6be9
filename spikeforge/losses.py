"""Losses over multi-step outputs and the readouts that go with them.

All losses take ``outputs`` of shape ``[T, B, K]`` (logits, membrane readouts or spikes
at each step) and ``target`` either as class indices ``[B]`` or soft targets ``[B, K]``
(mixup/cutmix). Each loss class carries the ``readout`` to use at evaluation, mapping
``[T, B, K]`` to class scores ``[B, K]``:

======================  ====================================================  ==========
loss                    formula                                               readout
======================  ====================================================  ==========
``sdt``                 ``CE(mean_t O[t], y)``                                mean
``tet``                 ``(1-lam) mean_t CE(O[t], y) + lam mean_t MSE(O[t], phi)``  mean
``tet_s``               TET whose per-step CE has label smoothing ``eps``     mean
``lts``                 ``CE(O[T-1], y)``                                     last
``spike_rate``          ``MSE(mean_t S[t], r)``, ``r`` = true/false rate       count
======================  ====================================================  ==========

Label smoothing follows mmpretrain's ``'original'`` mode:
``target = (1 - eps) * onehot + eps / K``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "LOSSES",
    "READOUTS",
    "LTSLoss",
    "SDTLoss",
    "SpikeRateLoss",
    "TETLoss",
    "TETSLoss",
    "build_loss",
    "count_readout",
    "last_readout",
    "mean_readout",
    "smooth_targets",
]


def mean_readout(outputs: torch.Tensor) -> torch.Tensor:
    """``[T, B, K] -> [B, K]``: mean over time."""
    return outputs.mean(0)


def last_readout(outputs: torch.Tensor) -> torch.Tensor:
    """``[T, B, K] -> [B, K]``: the last time step."""
    return outputs[-1]


def count_readout(outputs: torch.Tensor) -> torch.Tensor:
    """``[T, B, K] -> [B, K]``: spike count over time."""
    return outputs.sum(0)


READOUTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "mean": mean_readout,
    "last": last_readout,
    "count": count_readout,
}


def _check(outputs: torch.Tensor, target: torch.Tensor) -> None:
    if outputs.dim() != 3:
        raise ValueError(f"loss expects outputs [T, B, K], got shape {tuple(outputs.shape)}")
    B, K = outputs.shape[1:]
    if target.dim() == 1 and target.shape[0] == B:
        return
    if target.dim() == 2 and tuple(target.shape) == (B, K):
        return
    raise ValueError(f"target must be class indices [{B}] or soft targets [{B}, {K}], got {tuple(target.shape)}")


def smooth_targets(target: torch.Tensor, num_classes: int, eps: float) -> torch.Tensor:
    """Dense targets ``(1 - eps) * p + eps / K`` from indices ``[B]`` or soft targets ``[B, K]``."""
    p = F.one_hot(target, num_classes).float() if target.dim() == 1 else target.float()
    return (1 - eps) * p + eps / num_classes


def _ce(logits: torch.Tensor, target: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy of ``[N, K]`` logits; ``target`` indices ``[N]`` or probabilities ``[N, K]``."""
    if target.dim() == 1:
        return F.cross_entropy(logits, target, label_smoothing=eps)
    q = smooth_targets(target, logits.shape[-1], eps) if eps else target
    return -(q * F.log_softmax(logits, dim=-1)).sum(-1).mean()


def _repeat_target(target: torch.Tensor, T: int) -> torch.Tensor:
    return target.repeat(T) if target.dim() == 1 else target.repeat(T, 1)


class _Loss(nn.Module):
    readout_name = "mean"

    @property
    def readout(self) -> Callable[[torch.Tensor], torch.Tensor]:
        return READOUTS[self.readout_name]


class SDTLoss(_Loss):
    """Standard direct training: cross-entropy of the time-averaged output."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check(outputs, target)
        return _ce(outputs.mean(0), target, self.label_smoothing)


class TETLoss(_Loss):
    """Temporal efficient training: mean over steps of the per-step cross-entropy.

    Args:
        lam: weight of the MSE regulariser towards ``phi`` (official IMP code: 0).
        phi: the regulariser's target value.
        label_smoothing: per-step label smoothing ``eps`` (TET-S uses 0.01).
    """

    def __init__(self, lam: float = 0.0, phi: float = 1.0, label_smoothing: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= lam <= 1.0:
            raise ValueError(f"TET lam must be in [0, 1], got {lam}")
        self.lam, self.phi, self.label_smoothing = lam, phi, label_smoothing

    def forward(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check(outputs, target)
        T, B, K = outputs.shape
        # CE on the [T*B, K] reshape with labels repeated T times equals mean_t CE(O[t]).
        loss = _ce(outputs.reshape(T * B, K), _repeat_target(target, T), self.label_smoothing)
        if self.lam:
            loss = (1 - self.lam) * loss + self.lam * F.mse_loss(outputs, torch.full_like(outputs, self.phi))
        return loss


class TETSLoss(TETLoss):
    """TET-S (Shen et al. 2024): TET with label-smoothed per-step CE, ``eps`` = 0.01 by default."""

    def __init__(self, label_smoothing: float = 0.01, lam: float = 0.0, phi: float = 1.0) -> None:
        super().__init__(lam=lam, phi=phi, label_smoothing=label_smoothing)


class LTSLoss(_Loss):
    """Last-time-step loss (Shen et al. 2024): cross-entropy of ``O[T-1]``; read out at the last step."""

    readout_name = "last"

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check(outputs, target)
        return _ce(outputs[-1], target, self.label_smoothing)


class SpikeRateLoss(_Loss):
    """Rouser / SLAYER spike-rate loss: MSE between output firing rates and target rates.

    The rate of class ``k`` is ``mean_t S[t, :, k]``; the target is ``true_rate`` for the
    label and ``false_rate`` for the others (soft targets interpolate between the two).
    Prediction is the class with the most spikes.
    """

    readout_name = "count"

    def __init__(self, true_rate: float = 0.2, false_rate: float = 0.03) -> None:
        super().__init__()
        self.true_rate, self.false_rate = true_rate, false_rate

    def forward(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check(outputs, target)
        K = outputs.shape[-1]
        p = F.one_hot(target, K).to(outputs.dtype) if target.dim() == 1 else target.to(outputs.dtype)
        rate_target = self.false_rate + (self.true_rate - self.false_rate) * p
        return F.mse_loss(outputs.mean(0), rate_target)


LOSSES: dict[str, type[_Loss]] = {
    "sdt": SDTLoss,
    "tet": TETLoss,
    "tet_s": TETSLoss,
    "lts": LTSLoss,
    "spike_rate": SpikeRateLoss,
}


def build_loss(name: str, **kwargs: Any) -> _Loss:
    """Build a loss by name (``sdt``, ``tet``, ``tet_s``, ``lts``, ``spike_rate``)."""
    key = name.lower().replace("-", "_")
    if key not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}")
    return LOSSES[key](**kwargs)
