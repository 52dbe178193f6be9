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
import gzip
import os
import shutil
import tempfile
import zlib

import numpy as np

from ..errors import DataFormatError

__all__ = ["SpikeTrains", "gunzip_once", "read_spike_h5"]


@dataclasses.dataclass(frozen=True)
class SpikeTrains:
    """``N`` samples of spikes, flattened.

    Attributes:
        times: ``float64 [S]`` spike times in seconds, sorted within each sample.
        units: ``int32 [S]`` channel of each spike.
        offsets: ``int64 [N+1]``; sample ``i`` is ``times[offsets[i]:offsets[i+1]]``.
        labels: ``int64 [N]``.
    """

    times: np.ndarray
    units: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.offsets[i], self.offsets[i + 1]
        return self.times[lo:hi], self.units[lo:hi]


def gunzip_once(path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> str:
    """Decompress ``path`` (``X.gz``) to ``out_dir/X`` unless done before; return the new path.

    Writes to a temporary file and renames it, so an interrupted run never leaves a half file.
    """
    path = os.fspath(path)
    target = os.path.join(out_dir, os.path.basename(path)[: -len(".gz")])
    if os.path.exists(target) and os.path.getmtime(target) >= os.path.getmtime(path):
        return target
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, gzip.open(path, "rb") as src:
            shutil.copyfileobj(src, out, length=1 << 20)
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only
        os.replace(tmp, target)
    except (OSError, EOFError, zlib.error) as exc:
        os.unlink(tmp)
        if isinstance(exc, (gzip.BadGzipFile, EOFError, zlib.error)):
            raise DataFormatError(path, f"corrupt or truncated gzip file ({exc})") from None
        raise
    return target


def read_spike_h5(path: str | os.PathLike[str], *, n_units: int, n_classes: int) -> SpikeTrains:
    """Read and validate an SHD-layout HDF5 file.

    Raises:
        DataFormatError: unreadable file, missing datasets, mismatched lengths, units outside
            ``[0, n_units)``, labels outside ``[0, n_classes)``, non-finite or negative times.
    """
    try:
        import h5py
    except ModuleNotFoundError:
        raise ModuleNotFoundError("reading SHD needs the 'h5py' package: pip install h5py", name="h5py") from None
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("spikes/times", "spikes/units", "labels") if k not in f]
            if missing:
                raise DataFormatError(
                    path, f"missing HDF5 datasets {missing} (expected spikes/times, spikes/units, labels)"
                )
            times, units, labels = f["spikes/times"][()], f["spikes/units"][()], f["labels"][()]
    except DataFormatError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:  # h5py reports corrupt files as OSError
        raise DataFormatError(path, f"cannot read as HDF5 ({exc})") from None
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    n = labels.shape[0]
    if len(times) != n or len(units) != n:
        raise DataFormatError(
            path, f"{len(times)} spike-time arrays, {len(units)} unit arrays, {n} labels: lengths differ"
        )
    lengths = np.array([np.size(a) for a in times], dtype=np.int64)
    if not np.array_equal(lengths, [np.size(a) for a in units]):
        raise DataFormatError(path, "a sample has different numbers of spike times and units")
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    flat_t = np.concatenate([np.asarray(a, dtype=np.float64).reshape(-1) for a in times]) if n else np.zeros(0)
    flat_u = np.concatenate([np.asarray(a, dtype=np.int64).reshape(-1) for a in units]) if n else np.zeros(0, np.int64)
    if n and (labels.min() < 0 or labels.max() >= n_classes):
        raise DataFormatError(path, f"labels outside [0, {n_classes})")
    if flat_u.size and (flat_u.min() < 0 or flat_u.max() >= n_units):
        raise DataFormatError(path, f"spike units outside [0, {n_units})")
    if flat_t.size and (not np.isfinite(flat_t).all() or flat_t.min() < 0):
        raise DataFormatError(path, "spike times must be finite and non-negative")
    # Sort within each sample (stable) so that count-based splitting sees time order.
    sample_id = np.repeat(np.arange(n), lengths)
    order = np.lexsort((flat_t, sample_id))
    return SpikeTrains(flat_t[order], flat_u[order].astype(np.int32), offsets, labels)
