"""Spike-aware saving: tensors produced by neurons are kept for the backward as bits or bytes.

A convolution, linear or pooling layer after a neuron saves its input for the weight gradient.
That input is a spike tensor (0/1) or, after a SEW ``add`` connection, a small non-negative
integer count; in float32 it takes 4 bytes per element, though 1 bit (0/1) or 1 byte
(counts up to 255) hold it exactly. Spike tensors are recognised from the graph, not from their
values: every neuron's output is *marked* when it is produced (a forward hook), and a SEW block's
output is marked with the bound of its connect function (``add``: the sum of its inputs'
bounds). While the model's forward runs, a :class:`SavedSpikes` session packs every saved
tensor whose storage is a marked tensor's (the ``[T*B, ...]`` view a layer sees shares its
storage) and unpacks it in the backward as the same float values, so every gradient is bit for
bit the one without packing.

A mark is dropped when its tensor is freed (so a reused storage address is never taken for a
spike tensor) and is ignored once the tensor was modified in place (its version counter moved).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = ["SavedSpikes", "SpikeMarks", "pack_bits", "packed_nbytes", "unpack_bits"]

#: the largest integer count a byte holds exactly
BYTE_BOUND = 255
_SHIFTS = torch.arange(8, dtype=torch.uint8)


def pack_bits(values: torch.Tensor) -> torch.Tensor:
    """0/1 values of any shape -> ``uint8 [ceil(n / 8)]``, 8 elements per byte (element ``8k + j`` in bit ``j``)."""
    flat = values.reshape(-1).to(torch.uint8)
    pad = (-flat.numel()) % 8
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    groups = flat.view(-1, 8)
    packed = groups[:, 0].clone()
    for j in range(1, 8):
        packed |= groups[:, j] << j
    return packed


def unpack_bits(packed: torch.Tensor, numel: int) -> torch.Tensor:
    """Inverse of :func:`pack_bits`: ``uint8 [numel]`` of 0/1."""
    bits = (packed.unsqueeze(1) >> _SHIFTS.to(packed.device)) & 1
    return bits.reshape(-1)[:numel]


def packed_nbytes(numel: int, bound: int) -> int:
    """Bytes a marked tensor of ``numel`` elements with values in ``0..bound`` takes packed."""
    return (numel + 7) // 8 if bound <= 1 else numel


@dataclass(eq=False)  # hashed by identity: a packed copy is cached per mark, never for a later tensor
class _Mark:
    bound: int
    version: int


@dataclass
class SpikeMarks:
    """Storage address -> bound of the marked tensors alive now (see the module docstring)."""

    marks: dict[int, _Mark] = field(default_factory=dict)

    def mark(self, t: torch.Tensor, bound: int) -> None:
        """Record that ``t`` holds integers in ``0..bound`` (1: spikes)."""
        if not isinstance(t, torch.Tensor) or t.is_sparse or bound > BYTE_BOUND:
            return
        ptr = t.untyped_storage().data_ptr()
        self.marks[ptr] = _Mark(bound, t._version)
        # The entry goes when the tensor goes: a later tensor at the same address is not a spike tensor.
        weakref.finalize(t, self._forget, ptr, self.marks[ptr])

    def _forget(self, ptr: int, mark: _Mark) -> None:
        if self.marks.get(ptr) is mark:
            del self.marks[ptr]

    def lookup(self, t: torch.Tensor) -> _Mark | None:
        """The mark of ``t``'s storage if it has one and ``t`` was not modified since, else ``None``."""
        if not isinstance(t, torch.Tensor) or t.is_sparse:
            return None
        mark = self.marks.get(t.untyped_storage().data_ptr())
        if mark is None or t._version != mark.version:
            return None
        return mark

    def bound(self, t: torch.Tensor) -> int | None:
        """The bound of ``t`` (see :meth:`lookup`), or ``None`` when it is not a marked tensor."""
        mark = self.lookup(t)
        return None if mark is None else mark.bound

    def clear(self) -> None:
        self.marks.clear()


@dataclass
class _Packed:
    """A saved spike tensor as bits (``bound <= 1``) or bytes."""

    data: torch.Tensor
    shape: torch.Size
    dtype: torch.dtype
    bits: bool

    def unpack(self) -> torch.Tensor:
        values = unpack_bits(self.data, self.shape.numel()) if self.bits else self.data
        return values.to(self.dtype).view(self.shape)


Meter = Callable[[torch.Tensor], None]


class SavedSpikes:
    """``saved_tensors_hooks`` that pack marked spike tensors while active (see the module docstring).

    Args:
        marks: the marks of the model's neurons.
        compress: pack marked tensors (``False``: only meter).
        meter: called with every tensor actually kept (packed data or the tensor itself), to count bytes.
    """

    def __init__(self, marks: SpikeMarks, compress: bool = True, meter: Meter | None = None) -> None:
        self.marks = marks
        self.compress = compress
        self.meter = meter
        self._cache: dict[tuple, _Packed] = {}  # one packed copy per saved view, however many layers save it
        self._hooks: torch.autograd.graph.saved_tensors_hooks | None = None

    def pack(self, t: torch.Tensor) -> torch.Tensor | _Packed:
        mark = self.marks.lookup(t) if self.compress else None
        # Only plain contiguous float layouts: an expanded or channels-last view is saved as it is (its
        # layout would not survive packing, and an expanded view would grow).
        if mark is None or not t.is_floating_point() or not t.is_contiguous():
            if self.meter is not None:
                self.meter(t)
            return t
        bound = mark.bound
        key = (mark, t.storage_offset(), tuple(t.shape), t.dtype)
        packed = self._cache.get(key)
        if packed is None:
            with torch.no_grad():
                data = pack_bits(t) if bound <= 1 else t.reshape(-1).to(torch.uint8)
            packed = _Packed(data, t.shape, t.dtype, bound <= 1)
            self._cache[key] = packed
            if self.meter is not None:
                self.meter(data)
        return packed

    @staticmethod
    def unpack(saved: torch.Tensor | _Packed) -> torch.Tensor:
        return saved.unpack() if isinstance(saved, _Packed) else saved

    def __enter__(self) -> SavedSpikes:
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self.pack, self.unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._cache.clear()
        if self._hooks is not None:
            self._hooks.__exit__(None, None, None)
            self._hooks = None
