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

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from .errors import UserError, values_checked_as_user_errors
from .registry import Registry, options_as_kwargs, options_from_signature, parse_options

__all__ = [
    "LOSSES",
    "READOUTS",
    "LTSLoss",
    "LossInfo",
    "SDTLoss",
    "SpikeRateLoss",
    "TETLoss",
    "TETSLoss",
    "build_loss",
    "count_readout",
    "last_readout",
    "loss_info",
    "loss_key",
    "loss_names",
    "mean_readout",
    "register_loss",
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


# ----------------------------------------------------------------------------- the loss registry
@dataclasses.dataclass(frozen=True)
class LossInfo:
    """A registered loss.

    Attributes:
        name: registry name (``loss.name`` in a config), in its normal spelling (:func:`loss_key`).
        builder: ``builder(**options) -> nn.Module`` (a loss class, or a function), the module mapping
            ``(outputs [T, B, K], target [B] or [B, K])`` to a scalar.
        options_type: the typed options (``loss.options``), a frozen dataclass; declared at registration,
            or derived from the builder's signature.
        readout: the name in :data:`READOUTS` of the evaluation readout, for a built module that has no
            ``readout`` attribute of its own.
        description: one line, for ``spikeforge losses``.
    """

    name: str
    builder: Callable[..., nn.Module]
    options_type: type
    readout: str = "mean"
    description: str = ""

    def options(self) -> list[str]:
        """The option names, in the order of the options dataclass."""
        return [f.name for f in dataclasses.fields(self.options_type)]

    def parse_options(self, options: Mapping[str, Any] | None) -> Any:
        """``options`` validated into :attr:`options_type` (:class:`~spikeforge.errors.UserError` otherwise)."""
        return parse_options(f"loss {self.name!r}", self.options_type, options)


def _builtin_losses() -> None:
    # the classes below, in the order of the module docstring's table (that of the choices in messages)
    for name, description, loss_class in _BUILTIN:
        register_loss(name, description=description)(loss_class)


LOSSES: Registry[LossInfo] = Registry("loss", builtins=_builtin_losses)
B = TypeVar("B", bound=Callable[..., nn.Module])


def loss_key(name: str) -> str:
    """The normal spelling of a loss name: lower case, ``-`` as ``_`` (``TET-S`` -> ``tet_s``); the one
    normaliser of config validation and :func:`build_loss`."""
    return name.lower().replace("-", "_") if isinstance(name, str) else name


def register_loss(
    name: str,
    *,
    options: type | None = None,
    readout: str | None = None,
    description: str = "",
    replace: bool = False,
) -> Callable[[B], B]:
    """Decorator registering a loss builder (a class or a function returning an ``nn.Module``) under ``name``.

    Args:
        options: a frozen dataclass of the loss's options, whose ``__post_init__`` checks their values
            (then checked when a config is loaded); the builder is called with its fields as keywords.
            ``None``: the builder's own keyword parameters are the options.
        readout: the evaluation readout (a name in :data:`READOUTS`), used when the built module has
            no ``readout`` of its own; ``None``: the builder's ``readout_name`` (the built-in classes'),
            else ``"mean"``.
        replace: override a loss already registered under ``name`` (otherwise a ``ValueError``).
    """
    key = loss_key(name)

    def wrap(builder: B) -> B:
        readout_name = readout if readout is not None else getattr(builder, "readout_name", "mean")
        if readout_name not in READOUTS:
            raise ValueError(f"loss {name!r}: readout must be one of {list(READOUTS)}, got {readout_name!r}")
        options_type = options if options is not None else options_from_signature(key, builder)
        LOSSES.load()  # the built-ins first: a name they take is refused here, not when they load
        LOSSES.add(key, LossInfo(key, builder, options_type, readout_name, description), replace=replace)
        return builder

    return wrap


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


def loss_info(name: str) -> LossInfo:
    """The registered loss ``name`` (any spelling :func:`loss_key` normalises);
    :class:`~spikeforge.errors.UserError` listing the losses otherwise."""
    info = LOSSES.get(loss_key(name), None)
    if info is None:
        raise UserError(f"unknown loss {name!r}; choose one of {loss_names()}")
    return info


def loss_names() -> list[str]:
    """The registered losses, built-ins first in their documented order."""
    return LOSSES.names(in_registration_order=True)


def build_loss(name: str, **kwargs: Any) -> nn.Module:
    """Build a loss by name (``sdt``, ``tet``, ``tet_s`` or ``tet-s``, ``lts``, ``spike_rate``, or a registered one).

    Raises:
        UserError: unknown loss, an option it does not have, or a value its options reject.
    """
    info = loss_info(name)
    options = info.parse_options(kwargs)
    with values_checked_as_user_errors(f"loss {info.name!r}: "):  # a loss class checks its own values too
        loss = info.builder(**options_as_kwargs(options))
    if not hasattr(loss, "readout"):  # a registered loss without its own readout: the declared one
        loss.readout = READOUTS[info.readout]
    return loss


# name, one line for `spikeforge losses`, class: registered on the registry's first use
_BUILTIN: tuple[tuple[str, str, type[nn.Module]], ...] = (
    ("sdt", "cross-entropy of the time-averaged output (standard direct training)", SDTLoss),
    ("tet", "mean over steps of the per-step cross-entropy, optional MSE regulariser (TET)", TETLoss),
    ("tet_s", "TET with label-smoothed per-step cross-entropy, eps 0.01 (Shen et al. 2024)", TETSLoss),
    ("lts", "cross-entropy of the last time step only (Shen et al. 2024)", LTSLoss),
    ("spike_rate", "MSE of output firing rates to target rates (Rouser / SLAYER)", SpikeRateLoss),
)
