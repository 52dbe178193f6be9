"""A stream of address events from a two-polarity event camera.

Every reader returns :class:`Events` that passed :meth:`Events.checked`: coordinates inside
the sensor, polarity 0/1, non-negative timestamps in microseconds, sorted by time. Nothing
downstream (frames, cache, augmentation) has to check again.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from ..errors import DataFormatError

__all__ = ["MAX_TIMESTAMP_US", "Events"]

# 2**53 us is 285 years (and the largest integer a float64 holds exactly): AEDAT 4 stores Unix-epoch
# microseconds (~2**50 today), so any real timestamp is far below; beyond it the file is corrupt.
MAX_TIMESTAMP_US = 2**53


@dataclasses.dataclass(frozen=True)
class Events:
    """``N`` events as four aligned arrays.

    Attributes:
        t: ``int64 [N]`` timestamps in microseconds, non-decreasing.
        x: ``int32 [N]`` column, ``0 <= x < width``.
        y: ``int32 [N]`` row, ``0 <= y < height``.
        p: ``uint8 [N]`` polarity, 1 = ON (brighter), 0 = OFF.
    """

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    p: np.ndarray

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @classmethod
    def empty(cls) -> Events:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.uint8))

    @classmethod
    def checked(
        cls,
        source: str | os.PathLike[str],
        t: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        p: np.ndarray,
        *,
        width: int,
        height: int,
        ordered: bool,
    ) -> Events:
        """Validate raw decoded arrays and build :class:`Events`.

        Args:
            source: the file the events came from (named in errors).
            t, x, y, p: ``[N]`` integer arrays as decoded.
            width, height: sensor size; events outside it are an error, not clipped, because a
                corrupt file is the usual cause.
            ordered: the format guarantees time order, so disorder means corruption and raises.
                Where the format allows disorder (AEDAT, HDF5) the events are stably sorted.

        Raises:
            DataFormatError: naming ``source`` and the first problem found.
        """
        n = t.shape[0]
        if not (x.shape[0] == y.shape[0] == p.shape[0] == n):
            raise DataFormatError(
                source, f"event fields have different lengths {(n, x.shape[0], y.shape[0], p.shape[0])}"
            )
        if n:
            # Check before casting: a wild value (corrupt file) must not wrap around into range.
            _check_range(source, "x", x, width)
            _check_range(source, "y", y, height)
            if p.min() < 0 or p.max() > 1:
                raise DataFormatError(source, "polarity values outside {0, 1}")
            if t.min() < 0:
                raise DataFormatError(source, f"negative timestamp {t.min()} us")
            if t.max() >= MAX_TIMESTAMP_US:
                raise DataFormatError(source, f"timestamp {t.max()} us is beyond any recording (>= 2**53 us)")
        t = np.asarray(t, dtype=np.int64)
        x = np.asarray(x, dtype=np.int32)
        y = np.asarray(y, dtype=np.int32)
        p = np.asarray(p, dtype=np.uint8)
        if n:
            backwards = np.flatnonzero(np.diff(t) < 0)
            if backwards.size:
                if ordered:
                    i = int(backwards[0])
                    raise DataFormatError(
                        source,
                        f"timestamps go backwards at event {i + 1} ({int(t[i])} -> {int(t[i + 1])} us); "
                        "this format stores events in time order, so the file is corrupt",
                    )
                order = np.argsort(t, kind="stable")
                t, x, y, p = t[order], x[order], y[order], p[order]
        return cls(t, x, y, p)

    def window(self, t_start: int, t_end: int) -> Events:
        """Events with ``t_start <= t < t_end`` (a view; relies on time order)."""
        lo, hi = np.searchsorted(self.t, [t_start, t_end], side="left")
        return Events(self.t[lo:hi], self.x[lo:hi], self.y[lo:hi], self.p[lo:hi])


def _check_range(source: str | os.PathLike[str], name: str, values: np.ndarray, limit: int) -> None:
    lo, hi = values.min(), values.max()
    if lo < 0 or hi >= limit:
        bad = lo if lo < 0 else hi
        raise DataFormatError(source, f"event {name}={bad} outside the sensor's [0, {limit})")
