"""Time layout: SpikeForge's multi-step modules take time-first tensors ``[T, B, ...]``.

A ``DataLoader`` stacks samples on a new first axis, so a dataset of sequences ``[T, ...]``
yields batch-first ``[B, T, ...]``. The two meet in one of two ways:

* ``DataLoader(dataset, collate_fn=spikeforge.data.time_first_collate)`` yields
  ``x`` as ``[T, B, ...]`` directly (for your own loops);
* the trainer keeps its batches ``[B, T, ...]`` (Mixup and CutMix pair samples along the
  batch axis) and moves time first with :func:`spikeforge.encoding.sequence` when it calls
  the model.

From the shape alone a neuron cannot tell ``[T=64, B=4]`` from ``[B=64, T=4]``. A neuron that
knows its number of steps checks it at its input and names the likely mistake instead of
silently reading the batch axis as time. :func:`set_time_steps` tells every neuron of a
model its ``T`` (the trainer does so with the config's ``T``); ``set_time_steps(model, None)``
lifts the check, e.g. to evaluate a model at another ``T``.
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import UserError

__all__ = ["TimeLayoutError", "check_time_steps", "set_time_steps"]


class TimeLayoutError(UserError):
    """An input's time axis does not match the ``T`` a module was told to expect.

    A :class:`~spikeforge.errors.UserError` (so still a ``ValueError``): the CLI prints it as one line.
    """


def check_time_steps(who: str, x: torch.Tensor, T: int | None) -> None:
    """Raise :class:`TimeLayoutError` when ``T`` is known and ``x`` (``[T, B, ...]``) has another length on dim 0."""
    if T is None or x.dim() < 2 or x.shape[0] == T:
        return
    shape = tuple(x.shape)
    hint = (
        f"it looks batch-first [B, T, ...] (dim 1 is {T}): use spikeforge.data.time_first_collate in the "
        "DataLoader or x.transpose(0, 1)"
        if x.shape[1] == T
        else "pass [T, B, ...] input, or call spikeforge.set_time_steps(model, None) to run at another T"
    )
    raise TimeLayoutError(f"{who} expects time-first [T={T}, B, ...] input but got shape {shape}; {hint}")


def set_time_steps(model: nn.Module, T: int | None) -> nn.Module:
    """Tell every neuron in ``model`` to expect ``T`` steps (``None``: accept any ``T``); returns ``model``.

    A neuron is a module whose class sets ``checks_time_steps = True`` (every SpikeForge neuron does).
    """
    if T is not None and (not isinstance(T, int) or T < 1):
        raise ValueError(f"T must be a positive int or None, got {T!r}")
    for m in model.modules():
        if getattr(type(m), "checks_time_steps", False):
            m.T = T
    return model
