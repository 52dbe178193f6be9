"""Spiking Heidelberg Digits files (``shd_train.h5``, ``shd_test.h5``, or their ``.h5.gz``).

Layout (Cramer et al. 2020, the dataset's own description)::

    spikes/times   N variable-length float arrays, spike times in seconds
    spikes/units   N variable-length integer arrays, input channel of each spike (0..699)
    labels         N integers, class 0..19
    extra/...      speaker, keys, meta_info (not needed here)

The spikes are returned flattened with offsets (CSR), which pickles cheaply into
DataLoader workers, unlike an open ``h5py.File``.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from ...extras import require
from ..errors import DataFormatError

__all__ = ["SpikeTrains", "read_spike_h5"]


@dataclasses.dataclass(frozen=True)
class SpikeTrains:
    """``N`` samples of spikes, flattened.

    Attributes:
        times: ``float64 [S]`` spike times in seconds, sorted within each sample.
        units: ``int32 [S]`` channel of each spike.
        offsets: ``int64 [N+1]``; sample ``i`` is ``times[offsets[i]:offsets[i+1]]``.
        labels: ``int64 [N]``.
        time_dtype: the float type the file stores times in (``"<f4"`` in SHD's files);
            SpikingJelly computes its per-sample time split in it.
    """

    times: np.ndarray
    units: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    time_dtype: str = "<f8"

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.offsets[i], self.offsets[i + 1]
        return self.times[lo:hi], self.units[lo:hi]


def read_spike_h5(
    path: str | os.PathLike[str], *, n_units: int, n_classes: int, source: str | os.PathLike[str] | None = None
) -> SpikeTrains:
    """Read and validate an SHD-layout HDF5 file.

    Args:
        path: the file to read.
        n_units, n_classes: valid ranges of units and labels.
        source: the file to name in errors when ``path`` is a decompressed copy (the user's
            ``.h5.gz``); default ``path``.

    Raises:
        DataFormatError: unreadable file, missing datasets, mismatched lengths, units outside
            ``[0, n_units)``, labels outside ``[0, n_classes)`` or not integers (a float label 2.7
            is an error, never read as 2), non-integral units, non-finite or negative times.
    """
    if source is None:
        source = path
    h5py = require("h5py", "reading SHD")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("spikes/times", "spikes/units", "labels") if k not in f]
            if missing:
                raise DataFormatError(
                    source, f"missing HDF5 datasets {missing} (expected spikes/times, spikes/units, labels)"
                )
            times, units, labels = f["spikes/times"][()], f["spikes/units"][()], f["labels"][()]
    except DataFormatError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:  # h5py reports corrupt files as OSError
        raise DataFormatError(source, f"cannot read as HDF5 ({exc})") from None
    labels = _integers(np.asarray(labels).reshape(-1), "labels", source)
    n = labels.shape[0]
    if len(times) != n or len(units) != n:
        raise DataFormatError(
            source, f"{len(times)} spike-time arrays, {len(units)} unit arrays, {n} labels: lengths differ"
        )
    lengths = np.array([np.size(a) for a in times], dtype=np.int64)
    if not np.array_equal(lengths, [np.size(a) for a in units]):
        raise DataFormatError(source, "a sample has different numbers of spike times and units")
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    flat_t = np.concatenate([np.asarray(a, dtype=np.float64).reshape(-1) for a in times]) if n else np.zeros(0)
    flat_u = np.concatenate([np.asarray(a).reshape(-1) for a in units]) if n else np.zeros(0, np.int64)
    flat_u = _integers(flat_u, "spike units", source)
    if n and (labels.min() < 0 or labels.max() >= n_classes):
        raise DataFormatError(source, f"labels outside [0, {n_classes})")
    if flat_u.size and (flat_u.min() < 0 or flat_u.max() >= n_units):
        raise DataFormatError(source, f"spike units outside [0, {n_units})")
    if flat_t.size and (not np.isfinite(flat_t).all() or flat_t.min() < 0):
        raise DataFormatError(source, "spike times must be finite and non-negative")
    # Sort within each sample (stable) so that count-based splitting sees time order.
    sample_id = np.repeat(np.arange(n), lengths)
    order = np.lexsort((flat_t, sample_id))
    time_dtype = next((np.asarray(a).dtype.str for a in times if np.asarray(a).dtype.kind == "f"), "<f8")
    return SpikeTrains(flat_t[order], flat_u[order].astype(np.int32), offsets, labels, time_dtype)


def _integers(values: np.ndarray, what: str, source: str | os.PathLike[str]) -> np.ndarray:
    """``values`` as ``int64``; floats only when they hold whole numbers (a cast would truncate 2.7 to 2)."""
    if values.dtype.kind in "iub":
        return values.astype(np.int64)
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values) | (values != np.rint(values))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataFormatError(source, f"{what} must be integers, found {values[i].item()!r} at index {i}")
        return values.astype(np.int64)
    raise DataFormatError(source, f"{what} have dtype {values.dtype}, expected integers")
