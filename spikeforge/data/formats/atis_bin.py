"""N-MNIST / N-Caltech101 ``.bin`` files: 40-bit ATIS events.

Each event is 5 bytes (Orchard et al. 2015, the datasets' own format description)::

    byte 0        x address (pixels)
    byte 1        y address (pixels)
    byte 2 bit 7  polarity (1 = ON, 0 = OFF)
    bytes 2-4     bits 22..0 of the timestamp in microseconds (big-endian)

A record with ``y == 240`` is not an event but a timestamp-overflow marker: the dataset
authors' reader (``eventvision.py``) drops it and adds ``2**13`` us to every later timestamp;
we do the same. (The recordings are ~300 ms, far below the 23-bit range, so the real files do
not contain such markers.) Events are written in time order, so disorder means corruption.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import DataFormatError
from ..events.stream import Events

__all__ = ["OVERFLOW_Y", "decode_atis_bin", "encode_atis_bin", "read_atis_bin"]

OVERFLOW_Y = 240
_OVERFLOW_STEP_US = 2**13
_MAX_T_US = 2**23 - 1


def decode_atis_bin(data: bytes, source: str | os.PathLike[str], *, width: int, height: int) -> Events:
    """Decode the bytes of one ``.bin`` file.

    Args:
        data: file contents.
        source: file name for error messages.
        width, height: sensor size the events must fit (N-MNIST 34x34, N-Caltech101 240x180).
    """
    if len(data) % 5:
        raise DataFormatError(source, f"{len(data)} bytes is not a multiple of 5 (40-bit events): truncated?")
    raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 5).astype(np.int64)
    t = ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    overflow = raw[:, 1] == OVERFLOW_Y
    if overflow.any():
        t = t + _OVERFLOW_STEP_US * np.cumsum(overflow)
        raw, t = raw[~overflow], t[~overflow]
    return Events.checked(source, t, raw[:, 0], raw[:, 1], raw[:, 2] >> 7, width=width, height=height, ordered=True)


def read_atis_bin(path: str | os.PathLike[str], *, width: int, height: int) -> Events:
    """Read one ``.bin`` file (see :func:`decode_atis_bin`)."""
    with open(path, "rb") as fh:
        return decode_atis_bin(fh.read(), path, width=width, height=height)


def encode_atis_bin(events: Events) -> bytes:
    """Bytes of a ``.bin`` file holding ``events`` (used to write simulated recordings).

    Timestamps must fit the 23-bit field (< 8.39 s) and coordinates a byte; ``y == 240`` cannot
    be written because it is the overflow marker.
    """
    t = events.t.astype(np.int64)
    if len(events) and (t.min() < 0 or t.max() > _MAX_T_US):
        raise ValueError(f"timestamps must lie in [0, {_MAX_T_US}] us for the 23-bit field")
    if len(events) and (max(events.x.max(), events.y.max()) > 255 or (events.y == OVERFLOW_Y).any()):
        raise ValueError("coordinates must fit a byte and y must not be 240 (the overflow marker)")
    out = np.empty((len(events), 5), dtype=np.uint8)
    out[:, 0] = events.x
    out[:, 1] = events.y
    out[:, 2] = ((events.p.astype(np.int64) & 1) << 7) | ((t >> 16) & 0x7F)
    out[:, 3] = (t >> 8) & 0xFF
    out[:, 4] = t & 0xFF
    return out.tobytes()
