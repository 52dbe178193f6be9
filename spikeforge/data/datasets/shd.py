"""Spiking Heidelberg Digits (Cramer et al. 2020): spoken digits as spikes of 700 channels, HDF5.

Layout: ``ROOT/shd_train.h5`` and ``ROOT/shd_test.h5`` (or ``.h5.gz``, decompressed once into
the cache folder; also under ``ROOT/SHD/``, ``ROOT/hsd/``). Items ``(x float32 [T, 700], y int)``
spike counts per bin and channel; ``T`` defaults to 100. With ``events=True`` (or a
``transform``) items are Tonic's ``(t, x, p)`` structured arrays instead (``t`` in us).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..cache import default_cache_root, gunzip_once
from ..errors import DataFormatError, DatasetNotFoundError
from ..events.frames import SPLIT_BY, bin_spike_times
from ..formats.hdf5_spikes import SpikeTrains, read_spike_h5
from ..registry import DatasetInfo, Layout
from ._layout import require_root

__all__ = ["CLASSES", "DATASETS", "UNITS", "SHDDataset", "SHDOptions", "shd", "shd_file"]

UNITS, CLASSES = 700, 20
SUMMARY = "ROOT/shd_train.h5 and ROOT/shd_test.h5 (or .h5.gz; also under ROOT/SHD/ or ROOT/hsd/)"


@dataclasses.dataclass(frozen=True)
class SHDOptions:
    """Options of ``shd`` (``data.options``).

    Attributes:
        split_by: ``"time"``: with ``duration``, ``T`` equal bins over ``[0, duration)`` s (a bin
            means the same time span in every sample); with ``duration=None``, SpikingJelly's SHD
            split of each sample's own spike span (float bin width, see
            :func:`spikeforge.data.events.frames.spikingjelly_shd_segments`). ``"number"``: equal
            spike counts per bin.
        duration: seconds covered by the bins (later spikes are dropped; 1.4 s covers nearly every
            recording), or ``None``.
        binary: 1 where a channel spiked in a bin, instead of counts.
        cache_dir: where a ``.h5.gz`` is decompressed once (default ``ROOT/.spikeforge_cache/shd``).
        events: serve Tonic's ``(t, x, p)`` structured arrays (``t`` in us) instead of bins.
        transform: applied to those arrays (e.g. ``tonic.transforms.ToFrame(sensor_size=(700, 1, 1),
            n_time_bins=100)``); implies ``events``. Python API only.
    """

    split_by: str = "time"
    duration: float | None = 1.4
    binary: bool = False
    cache_dir: str | None = None
    events: bool = False
    transform: Callable[[Any], Any] | None = None

    # Checked like FrameOptions (data/events/options.py) but kept apart: SHD's options are not frame
    # options (no size, resize or augmentation; a duration instead), so neither dataclass extends the other.
    def __post_init__(self) -> None:
        if self.split_by not in SPLIT_BY:
            raise ValueError(f"split_by must be one of {SPLIT_BY}, got {self.split_by!r}")
        if self.duration is not None and (isinstance(self.duration, bool) or not self.duration > 0):
            raise ValueError(f"duration must be > 0 seconds or None, got {self.duration!r}")
        if self.transform is not None and not callable(self.transform):
            raise ValueError(f"transform must be callable, got {type(self.transform).__name__}")


class SHDDataset(Dataset):
    """Items ``(x float32 [T, 700], y int)``: spike counts per bin and channel.

    Args:
        spikes: the split's spikes (held in memory: ~100 MB for the train split).
        T, split_by, duration: binning, see :func:`spikeforge.data.events.frames.bin_spike_times`.
        binary: 1 where a channel spiked in a bin, instead of counts.
        events: items are Tonic ``(t, x, p)`` arrays (through ``transform`` if given) instead.
        transform: applied to those arrays; a numeric NumPy result becomes a float32 tensor.
    """

    def __init__(
        self,
        spikes: SpikeTrains,
        T: int,
        split_by: str,
        duration: float | None,
        binary: bool,
        events: bool = False,
        transform: Callable[[Any], Any] | None = None,
    ) -> None:
        if not isinstance(T, int) or T < 1:
            raise ValueError(f"T must be a positive integer, got {T!r}")
        if split_by not in SPLIT_BY:
            raise ValueError(f"split_by must be one of {SPLIT_BY}, got {split_by!r}")
        if duration is not None and duration <= 0:
            raise ValueError(f"duration must be > 0 seconds or None, got {duration!r}")
        self.spikes, self.T, self.split_by, self.duration, self.binary = spikes, T, split_by, duration, binary
        self.events, self.transform = events or transform is not None, transform

    def __len__(self) -> int:
        return len(self.spikes)

    @property
    def targets(self) -> list[int]:
        return self.spikes.labels.tolist()

    def __getitem__(self, i: int) -> tuple[Any, int]:
        if not 0 <= i < len(self):
            raise IndexError(f"sample {i} out of range for {len(self)} samples")
        times, units = self.spikes.sample(i)
        label = int(self.spikes.labels[i])
        if self.events:
            from ..tonic import spikes_to_tonic

            x: Any = spikes_to_tonic(times, units)
            if self.transform is not None:
                x = self.transform(x)
                if isinstance(x, np.ndarray) and x.dtype.names is None and x.dtype.kind in "iufb":
                    x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            return x, label
        if self.split_by == "time" and self.duration is None:
            times = times.astype(self.spikes.time_dtype)  # SpikingJelly computes in the stored type
        x = torch.from_numpy(bin_spike_times(times, units, self.T, UNITS, self.split_by, self.duration))
        if self.binary:
            x = (x > 0).to(torch.float32)
        return x, label


def shd_file(root: str | os.PathLike[str], split: str) -> Path:
    """``shd_<split>.h5``, else ``shd_<split>.h5.gz``."""
    for sub in ("", "SHD", "hsd", "shd"):
        base = Path(root).expanduser() / sub if sub else Path(root).expanduser()
        for name in (f"shd_{split}.h5", f"shd_{split}.h5.gz"):
            if (base / name).is_file():
                return base / name
    raise DatasetNotFoundError("shd", root, SUMMARY)


def read_shd(root: str, split: str, cache_dir: str | None = None) -> SpikeTrains:
    """The split's spikes, validated; a ``.h5.gz`` is decompressed once (errors name the user's file).

    Raises:
        DataFormatError: also when a sample holds no spikes (it would be an all-zero input).
    """
    path = shd_file(root, split)
    source = path
    if path.name.endswith(".gz"):
        path = Path(gunzip_once(path, default_cache_root(root, cache_dir) / "shd"))
    spikes = read_spike_h5(path, n_units=UNITS, n_classes=CLASSES, source=source)
    empty = np.flatnonzero(np.diff(spikes.offsets) == 0)
    if empty.size:
        raise DataFormatError(source, f"sample {int(empty[0])} holds no spikes ({empty.size} empty samples)")
    return spikes


def shd(root: str | None, split: str, T: int, options: SHDOptions) -> Dataset:
    """SHD from ``ROOT/shd_{train,test}.h5`` (or ``.h5.gz``); items ``[T, 700]``."""
    root = require_root("shd", root, SUMMARY)
    spikes = read_shd(root, split, options.cache_dir)
    return SHDDataset(spikes, T, options.split_by, options.duration, options.binary, options.events, options.transform)


def _probe(root: str, split: str) -> str:
    """The file and its size; an ``.h5`` is opened and validated, a ``.gz`` checked for gzip's magic bytes."""
    path = shd_file(root, split)
    size = f"{path} ({path.stat().st_size / 1e6:.1f} MB)"
    if path.name.endswith(".gz"):
        with open(path, "rb") as fh:
            if fh.read(2) != b"\x1f\x8b":
                raise DataFormatError(path, "not a gzip file (no gzip magic bytes)")
        return size
    spikes = read_spike_h5(path, n_units=UNITS, n_classes=CLASSES)
    return f"{size}, {len(spikes)} samples"


LAYOUT = Layout(
    SUMMARY,
    """ROOT/                      (or ROOT/SHD/, ROOT/hsd/)
  shd_train.h5               spikes/times, spikes/units, labels (8156 samples)
  shd_test.h5                (2264 samples)
  (shd_*.h5.gz are decompressed once into ROOT/.spikeforge_cache/shd/)""",
    _probe,
)

DATASETS = (
    DatasetInfo(
        "shd",
        "sequence",
        CLASSES,
        shd,
        description="Spiking Heidelberg Digits (.h5 / .h5.gz): items [T, 700] spike counts, 20 classes",
        options_type=SHDOptions,
        default_T=100,
        layout=LAYOUT,
    ),
)
