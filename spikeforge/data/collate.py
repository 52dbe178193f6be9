"""Collate functions that give time-first batches ``[T, B, ...]`` straight from a ``DataLoader``.

Example::

    loader = DataLoader(dataset, batch_size=64, collate_fn=spikeforge.data.time_first_collate)
    x, y = next(iter(loader))      # x: [T, 64, ...] (samples were [T, ...]), y: [64]
    out = model(x)                 # [T, 64, K]

Sequences of different lengths (events binned by a fixed time window, for instance) are
padded with zeros at the end by :class:`TimeFirstCollate` with ``pad=True``, like Tonic's
``PadTensors(batch_first=False)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import default_collate

__all__ = ["TimeFirstCollate", "time_first_collate"]


class TimeFirstCollate:
    """Collate ``(x, y)`` samples with ``x`` of shape ``[T, ...]`` into ``(x [T, B, ...], y [B])``.

    Args:
        T: expected number of steps; a sample of another length fails with one line naming it.
        pad: zero-pad shorter sequences at the end to the longest one in the batch (``T`` is
            then the batch's longest); without it, sequences of different lengths fail.

    Samples may be tensors or NumPy arrays; the labels (and anything after ``x`` in a
    sample) are collated by PyTorch's ``default_collate``.
    """

    def __init__(self, T: int | None = None, pad: bool = False) -> None:
        self.T = T
        self.pad = pad

    def __call__(self, batch: Sequence[Any]) -> Any:
        if not batch:
            raise ValueError("time_first_collate: empty batch")
        first = batch[0]
        is_tuple = isinstance(first, tuple | list)
        xs = [_as_tensor(s[0] if is_tuple else s) for s in batch]
        for i, x in enumerate(xs):
            if x.dim() < 1:
                raise ValueError(f"time_first_collate: sample {i} has no time axis (shape {tuple(x.shape)})")
            if self.T is not None and x.shape[0] != self.T and not self.pad:
                raise ValueError(
                    f"time_first_collate: sample {i} has {x.shape[0]} time steps (shape {tuple(x.shape)}) "
                    f"but T={self.T} was expected"
                )
        lengths = {x.shape[0] for x in xs}
        if len(lengths) > 1:
            if not self.pad:
                raise ValueError(
                    f"time_first_collate: samples have different numbers of time steps {sorted(lengths)}; "
                    "use TimeFirstCollate(pad=True) to zero-pad them"
                )
            T = max(lengths)
            xs = [torch.cat([x, x.new_zeros(T - x.shape[0], *x.shape[1:])]) if x.shape[0] < T else x for x in xs]
        x = torch.stack(xs, dim=1)  # [T, B, ...], contiguous
        if not is_tuple:
            return x
        rest = default_collate([tuple(s[1:]) for s in batch])
        return (x, *rest)

    def __repr__(self) -> str:
        return f"TimeFirstCollate(T={self.T}, pad={self.pad})"


def _as_tensor(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    return torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else torch.as_tensor(x)


#: ``collate_fn`` for ``DataLoader``: samples ``(x [T, ...], y)`` to ``(x [T, B, ...], y [B])``.
time_first_collate = TimeFirstCollate()
