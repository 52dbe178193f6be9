"""Registered event datasets: NMNIST, N-Caltech101, DVS128 Gesture, CIFAR10-DVS, SHD, simulated digits.

Every vision dataset yields ``(x, y)`` with ``x`` float32 ``[T, 2, H, W]`` event counts per
frame (channel 0 = OFF, 1 = ON) and ``y`` the class; SHD yields ``x`` float32 ``[T, 700]``.

Options shared by the vision datasets (``data.options`` in a config):

* ``split_by`` (``"number"``): how events are cut into ``T`` frames, ``"number"`` or ``"time"``
  (SpikingJelly semantics; see :mod:`spikeforge.data.frames`).
* ``size`` (``None``): resize frames to ``size x size`` (or ``[H, W]``), e.g. 48 or 128;
  ``None`` keeps the sensor size.
* ``resize_mode`` (``"area"``): ``"area"``, ``"bilinear"`` or ``"nearest"``.
* ``binary`` (``False``): 1 where a pixel saw any event in a frame, instead of counts.
* ``augment`` (``False``): augment the train split (never the test split) with ``policy``.
* ``policy`` (``"crop_flip"``): ``"flip"``, ``"crop_flip"`` (48x48 configs) or ``"dvs"``
  (128x128 configs); see :mod:`spikeforge.data.augment`.
* ``cache`` (``True``; ``False`` for ``sim_event_digits``): integrate frames once into
  ``cache_dir`` and read them from there afterwards.
* ``cache_dir`` (``None`` = ``ROOT/.spikeforge_cache``): where the frame cache lives.
* ``workers`` (``None`` = one per CPU, at most 8): processes that build the cache.

``T`` defaults to 10 (16 for DVS128 Gesture, 100 for SHD) when the config gives none.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .augment import FrameAugment
from .cache import default_cache_root
from .errors import DatasetNotFoundError
from .event_dataset import EventFrameDataset, EventSample, FrameSpec, as_size, build_event_frames
from .eventdata import Events
from .formats.hdf5_spikes import SpikeTrains, gunzip_once, read_spike_h5
from .frames import SPLIT_BY, bin_spike_times
from .layouts import (
    CIFAR10_DVS_SUMMARY,
    DVS_GESTURE_SUMMARY,
    LAYOUTS,
    NCALTECH101_SUMMARY,
    NMNIST_SUMMARY,
    SHD_SUMMARY,
    Layout,
    cifar10_dvs_samples,
    dvs_gesture_samples,
    ncaltech101_samples,
    nmnist_samples,
    shd_file,
)
from .recordings import (
    DVS128_SENSOR,
    NCALTECH101_SENSOR,
    NMNIST_SENSOR,
    read_cifar10_dvs,
    read_dvs_gesture_aedat,
    read_dvs_gesture_npy,
    read_ncaltech101,
    read_nmnist,
)
from .registry import register_dataset
from .simulate import ensure_event_digits

__all__ = ["SHDDataset", "cifar10_dvs", "dvs128_gesture", "ncaltech101", "nmnist", "shd", "sim_event_digits"]

SHD_UNITS, SHD_CLASSES = 700, 20


def _require_root(name: str, root: str | os.PathLike[str] | None, summary: str) -> str:
    if not root or not Path(root).expanduser().is_dir():
        raise DatasetNotFoundError(name, root, summary)
    return os.fspath(Path(root).expanduser())


def _frames_dataset(
    name: str,
    root: str,
    split: str,
    T: int,
    samples: Sequence[EventSample],
    read: Callable[[str], Events],
    sensor: tuple[int, int],
    *,
    split_by: str,
    size: int | Sequence[int] | None,
    resize_mode: str,
    binary: bool,
    augment: bool,
    policy: str,
    cache: bool,
    cache_dir: str | None,
    workers: int | None,
) -> EventFrameDataset:
    spec = FrameSpec(T, split_by, sensor[0], sensor[1], as_size(size), resize_mode)
    augmenter = FrameAugment(policy) if augment else None  # built on both splits so a bad policy fails early
    transform = augmenter if split == "train" else None
    return build_event_frames(
        name, root, split, samples, read, spec,
        transform=transform, binary=binary, cache=cache, cache_dir=cache_dir, workers=workers,
    )  # fmt: skip


@register_dataset(
    "nmnist", "sequence", 10, description="N-MNIST (ATIS .bin): items [T, 2, 34, 34] event-count frames, 10 classes"
)
def nmnist(
    root: str | None,
    split: str,
    T: int | None = None,
    split_by: str = "number",
    size: int | Sequence[int] | None = None,
    resize_mode: str = "area",
    binary: bool = False,
    augment: bool = False,
    policy: str = "crop_flip",
    cache: bool = True,
    cache_dir: str | None = None,
    workers: int | None = None,
) -> Dataset:
    """N-MNIST from ``ROOT/{Train,Test}/<digit>/*.bin``; items ``[T, 2, 34, 34]`` (or ``size``)."""
    root = _require_root("nmnist", root, NMNIST_SUMMARY)
    return _frames_dataset(
        "nmnist", root, split, 10 if T is None else T,
        nmnist_samples(root, split), read_nmnist, NMNIST_SENSOR,
        split_by=split_by, size=size, resize_mode=resize_mode, binary=binary, augment=augment, policy=policy,
        cache=cache, cache_dir=cache_dir, workers=workers,
    )  # fmt: skip


@register_dataset(
    "ncaltech101",
    "sequence",
    101,
    description="N-Caltech101 (ATIS .bin), 9:1 split per class: items [T, 2, 180, 240] (or size x size), 101 classes",
)
def ncaltech101(
    root: str | None,
    split: str,
    T: int | None = None,
    split_by: str = "number",
    size: int | Sequence[int] | None = None,
    resize_mode: str = "area",
    binary: bool = False,
    augment: bool = False,
    policy: str = "crop_flip",
    cache: bool = True,
    cache_dir: str | None = None,
    workers: int | None = None,
) -> Dataset:
    """N-Caltech101 from ``ROOT/Caltech101/<class>/*.bin``; items ``[T, 2, 180, 240]`` (or ``size``).

    Events keep their sensor coordinates (no per-sample re-centring, as in SpikingJelly);
    ``size=48`` / ``128`` gives the papers' inputs.
    """
    root = _require_root("ncaltech101", root, NCALTECH101_SUMMARY)
    return _frames_dataset(
        "ncaltech101", root, split, 10 if T is None else T,
        ncaltech101_samples(root, split), read_ncaltech101, NCALTECH101_SENSOR,
        split_by=split_by, size=size, resize_mode=resize_mode, binary=binary, augment=augment, policy=policy,
        cache=cache, cache_dir=cache_dir, workers=workers,
    )  # fmt: skip


@register_dataset(
    "dvs128_gesture",
    "sequence",
    11,
    description="DVS128 Gesture (AEDAT 3.1 + labels CSV, or Tonic's .npy): items [T, 2, 128, 128], 11 classes",
)
def dvs128_gesture(
    root: str | None,
    split: str,
    T: int | None = None,
    split_by: str = "number",
    size: int | Sequence[int] | None = None,
    resize_mode: str = "area",
    binary: bool = False,
    augment: bool = False,
    policy: str = "crop_flip",
    cache: bool = True,
    cache_dir: str | None = None,
    workers: int | None = None,
) -> Dataset:
    """DVS128 Gesture; items ``[T, 2, 128, 128]`` (or ``size``).

    Reads the original release (``trials_to_{train,test}.txt``, AEDAT 3.1 recordings, one sample
    per row of each ``*_labels.csv``) or Tonic's preprocessed ``ibmGesture{Train,Test}`` folders,
    whichever is found under ``ROOT``.
    """
    root = _require_root("dvs128_gesture", root, DVS_GESTURE_SUMMARY)
    samples, layout = dvs_gesture_samples(root, split)
    read = read_dvs_gesture_aedat if layout == "aedat" else read_dvs_gesture_npy
    return _frames_dataset(
        "dvs128_gesture", root, split, 16 if T is None else T, samples, read, DVS128_SENSOR,
        split_by=split_by, size=size, resize_mode=resize_mode, binary=binary, augment=augment, policy=policy,
        cache=cache, cache_dir=cache_dir, workers=workers,
    )  # fmt: skip


@register_dataset(
    "cifar10_dvs",
    "sequence",
    10,
    description="CIFAR10-DVS (AEDAT 2.0 or 4.0), 9:1 split per class: items [T, 2, 128, 128], 10 classes",
)
def cifar10_dvs(
    root: str | None,
    split: str,
    T: int | None = None,
    split_by: str = "number",
    size: int | Sequence[int] | None = None,
    resize_mode: str = "area",
    binary: bool = False,
    augment: bool = False,
    policy: str = "crop_flip",
    cache: bool = True,
    cache_dir: str | None = None,
    workers: int | None = None,
) -> Dataset:
    """CIFAR10-DVS from ``ROOT/<class>/*.aedat|*.aedat4``; items ``[T, 2, 128, 128]`` (or ``size``)."""
    root = _require_root("cifar10_dvs", root, CIFAR10_DVS_SUMMARY)
    return _frames_dataset(
        "cifar10_dvs", root, split, 10 if T is None else T,
        cifar10_dvs_samples(root, split), read_cifar10_dvs, DVS128_SENSOR,
        split_by=split_by, size=size, resize_mode=resize_mode, binary=binary, augment=augment, policy=policy,
        cache=cache, cache_dir=cache_dir, workers=workers,
    )  # fmt: skip


class SHDDataset(Dataset):
    """Items ``(x float32 [T, 700], y int)``: spike counts per bin and channel.

    Args:
        spikes: the split's spikes (held in memory: ~100 MB for the train split).
        T, split_by, duration: binning, see :func:`spikeforge.data.frames.bin_spike_times`.
        binary: 1 where a channel spiked in a bin, instead of counts.
    """

    def __init__(self, spikes: SpikeTrains, T: int, split_by: str, duration: float | None, binary: bool) -> None:
        if not isinstance(T, int) or T < 1:
            raise ValueError(f"T must be a positive integer, got {T!r}")
        if split_by not in SPLIT_BY:
            raise ValueError(f"split_by must be one of {SPLIT_BY}, got {split_by!r}")
        if duration is not None and duration <= 0:
            raise ValueError(f"duration must be > 0 seconds or None, got {duration!r}")
        self.spikes, self.T, self.split_by, self.duration, self.binary = spikes, T, split_by, duration, binary

    def __len__(self) -> int:
        return len(self.spikes)

    @property
    def targets(self) -> list[int]:
        return self.spikes.labels.tolist()

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if not 0 <= i < len(self):
            raise IndexError(f"sample {i} out of range for {len(self)} samples")
        times, units = self.spikes.sample(i)
        x = torch.from_numpy(bin_spike_times(times, units, self.T, SHD_UNITS, self.split_by, self.duration))
        if self.binary:
            x = (x > 0).to(torch.float32)
        return x, int(self.spikes.labels[i])


@register_dataset(
    "shd",
    "sequence",
    SHD_CLASSES,
    description="Spiking Heidelberg Digits (.h5 / .h5.gz): items [T, 700] spike counts, 20 classes",
)
def shd(
    root: str | None,
    split: str,
    T: int | None = None,
    split_by: str = "time",
    duration: float | None = 1.4,
    binary: bool = False,
    cache_dir: str | None = None,
) -> Dataset:
    """SHD from ``ROOT/shd_{train,test}.h5`` (or ``.h5.gz``); items ``[T, 700]``.

    Options: ``split_by`` (``"time"``: ``T`` equal bins over ``[0, duration)`` s, spikes after
    ``duration`` dropped; ``duration=None``: SpikingJelly's per-sample time split; ``"number"``:
    equal spike counts per bin), ``duration`` (seconds, 1.4), ``binary``, ``cache_dir`` (where a
    ``.h5.gz`` is decompressed once; default ``ROOT/.spikeforge_cache/shd``).
    """
    root = _require_root("shd", root, SHD_SUMMARY)
    path = shd_file(root, split)
    if path.name.endswith(".gz"):
        path = Path(gunzip_once(path, default_cache_root(root, cache_dir) / "shd"))
    spikes = read_spike_h5(path, n_units=SHD_UNITS, n_classes=SHD_CLASSES)
    return SHDDataset(spikes, 100 if T is None else T, split_by, duration, binary)


@register_dataset(
    "sim_event_digits",
    "sequence",
    10,
    needs_root=False,
    description="simulated event-camera saccades over sklearn's 8x8 digits, N-MNIST format: items [T, 2, 34, 34]",
)
def sim_event_digits(
    root: str | None,
    split: str,
    T: int | None = None,
    split_by: str = "number",
    size: int | Sequence[int] | None = None,
    resize_mode: str = "area",
    binary: bool = False,
    augment: bool = False,
    policy: str = "crop_flip",
    cache: bool = False,
    cache_dir: str | None = None,
    workers: int | None = None,
) -> Dataset:
    """Simulated N-MNIST-like recordings of the 1797 sklearn digits (1437 train / 360 test).

    Generated once into ``root`` (default ``~/.cache/spikeforge/sim_event_digits``, or
    ``$SPIKEFORGE_CACHE_DIR/sim_event_digits``) and read back with the N-MNIST reader. ``cache``
    defaults to ``False``: integrating a 34x34 recording costs no more than loading a cached frame.
    """
    root = os.fspath(ensure_event_digits(root))
    return _frames_dataset(
        "sim_event_digits", root, split, 10 if T is None else T,
        nmnist_samples(root, split, "sim_event_digits"), read_nmnist, NMNIST_SENSOR,
        split_by=split_by, size=size, resize_mode=resize_mode, binary=binary, augment=augment, policy=policy,
        cache=cache, cache_dir=cache_dir, workers=workers,
    )  # fmt: skip


# ------------------------------------------------------------------ layouts for `spikeforge data info`


def _describe(samples: Sequence[EventSample]) -> str:
    labels = np.array([s.label for s in samples])
    files = len({s.path for s in samples})
    return f"{len(samples)} samples from {files} files, {len(np.unique(labels))} classes"


def _probe_gesture(root: str, split: str) -> str:
    samples, layout = dvs_gesture_samples(root, split)
    return f"{_describe(samples)} ({'original AEDAT 3.1' if layout == 'aedat' else 'Tonic .npy'} layout)"


def _probe_shd(root: str, split: str) -> str:
    path = shd_file(root, split)
    return f"{path} ({path.stat().st_size / 1e6:.1f} MB)"


LAYOUTS["nmnist"] = Layout(
    NMNIST_SUMMARY,
    """ROOT/                      (or ROOT/NMNIST/)
  Train/0/00002.bin ...      60000 recordings, folder = digit
  Test/0/00003.bin ...       10000 recordings""",
    lambda root, split: _describe(nmnist_samples(root, split)),
)
LAYOUTS["sim_event_digits"] = Layout(
    "generated on first use (no download): ROOT/{Train,Test}/<digit>/<id>.bin + sim_event_digits.json",
    """ROOT/                      (default ~/.cache/spikeforge/sim_event_digits)
  Train/<digit>/<id>.bin     1437 simulated recordings in N-MNIST format
  Test/<digit>/<id>.bin      360
  sim_event_digits.json      simulation parameters and event statistics""",
    lambda root, split: _describe(nmnist_samples(root, split, "sim_event_digits")),
)
LAYOUTS["ncaltech101"] = Layout(
    NCALTECH101_SUMMARY,
    """ROOT/Caltech101/            (or ROOT/ itself; unzip Caltech101.zip of the N-Caltech101 archive)
  accordion/image_0001.bin ...
  ...                        101 class folders incl. BACKGROUND_Google (sorted names = class ids)
split: per class, sorted files, first ceil(0.9 n) train, rest test""",
    lambda root, split: _describe(ncaltech101_samples(root, split)),
)
LAYOUTS["cifar10_dvs"] = Layout(
    CIFAR10_DVS_SUMMARY,
    """ROOT/                      (or ROOT/CIFAR10DVS/)
  airplane/cifar10_airplane_0.aedat ...   1000 per class, AEDAT 2.0 originals or AEDAT 4.0 (.aedat4)
  automobile/ bird/ cat/ deer/ dog/ frog/ horse/ ship/ truck/
split: per class, sorted files, first 900 train, last 100 test""",
    lambda root, split: _describe(cifar10_dvs_samples(root, split)),
)
LAYOUTS["dvs128_gesture"] = Layout(
    DVS_GESTURE_SUMMARY,
    """ROOT/DvsGesture/           (original release, or these files directly in ROOT/)
  trials_to_train.txt        names of the training recordings (users 1-23)
  trials_to_test.txt         (users 24-29)
  user01_fluorescent.aedat   AEDAT 3.1 recording
  user01_fluorescent_labels.csv   class,startTime_usec,endTime_usec (class 1..11), one sample per row
or Tonic's preprocessed layout:
ROOT/ibmGestureTrain/user01_fluorescent/0.npy ... 10.npy   [N, 4] x, y, p, t (ms), file name = class 0..10
ROOT/ibmGestureTest/...""",
    _probe_gesture,
)
LAYOUTS["shd"] = Layout(
    SHD_SUMMARY,
    """ROOT/                      (or ROOT/SHD/, ROOT/hsd/)
  shd_train.h5               spikes/times, spikes/units, labels (8156 samples)
  shd_test.h5                (2264 samples)
  (shd_*.h5.gz are decompressed once into ROOT/.spikeforge_cache/shd/)""",
    _probe_shd,
)
