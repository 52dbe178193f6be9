"""CIFAR10-DVS (Li et al. 2017): DVS128 recordings of CIFAR-10 images, AEDAT 2.0 (or the AEDAT 4.0 conversion).

Layout: ``ROOT/<airplane|automobile|...|truck>/*.aedat`` or ``*.aedat4`` (also under
``ROOT/CIFAR10DVS/``); the version is read from each file's header, so a folder may mix them.
No official split: per class, sorted names, first 900 train and last 100 test. Items
``[T, 2, 128, 128]`` (or ``size``); ``T`` defaults to 10.
"""

from __future__ import annotations

import os

from torch.utils.data import Dataset

from ..errors import DataFormatError, DatasetNotFoundError
from ..events import Events, EventSample, FrameOptions, build_event_dataset
from ..formats.aedat import dvs128_address, read_aedat_file
from ..registry import DatasetInfo, Layout
from ._layout import describe, files, find_base, ratio_split, require_root

__all__ = ["CLASSES", "DATASETS", "SENSOR", "cifar10_dvs", "cifar10_dvs_samples", "read_cifar10_dvs"]

SENSOR = (128, 128)
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SUMMARY = "ROOT/<airplane|automobile|...|truck>/*.aedat (AEDAT 2.0) or *.aedat4 (also under ROOT/CIFAR10DVS/)"


def read_cifar10_dvs(path: str | os.PathLike[str]) -> Events:
    """A CIFAR10-DVS recording: original AEDAT 2.0 or the AEDAT 4.0 conversion (by its header).

    AEDAT 2.0 holds DVS128 addresses; as in SpikingJelly (which matches the dataset authors'
    MATLAB reader), the image is ``x = 127 - y_addr``, ``y = 127 - x_addr`` and polarity is
    ``1 - p_addr``. External (non-pixel) events are dropped. AEDAT 4.0 events are used as stored.
    """
    rec = read_aedat_file(path, width=SENSOR[1], height=SENSOR[0])
    if rec.events is not None:
        return rec.events
    assert rec.address is not None and rec.timestamp is not None
    x_addr, y_addr, p_addr, is_pixel = dvs128_address(rec.address)
    return Events.checked(
        path,
        rec.timestamp[is_pixel],
        127 - y_addr[is_pixel],
        127 - x_addr[is_pixel],
        1 - p_addr[is_pixel],
        width=128,
        height=128,
        ordered=False,
    )


def cifar10_dvs_samples(root: str | os.PathLike[str], split: str) -> list[EventSample]:
    """The 10 class folders; ``.aedat`` and ``.aedat4`` files; 9:1 split per class."""
    suffixes = (".aedat", ".aedat4")
    base = find_base(
        root, ["", "CIFAR10DVS", "cifar10-dvs", "CIFAR10-DVS", "extract"], lambda p: (p / CLASSES[0]).is_dir()
    )
    if base is None:
        raise DatasetNotFoundError("cifar10_dvs", root, SUMMARY)
    samples = []
    for label, name in enumerate(CLASSES):
        folder = base / name
        found = files(folder, suffixes) if folder.is_dir() else []
        if not found:
            raise DataFormatError(folder, "missing or empty class folder (expected .aedat / .aedat4 recordings)")
        samples += [EventSample(str(p), label) for p in ratio_split(found, split)]
    return samples


def cifar10_dvs(root: str | None, split: str, T: int, options: FrameOptions) -> Dataset:
    """CIFAR10-DVS from ``ROOT/<class>/*.aedat|*.aedat4``; items ``[T, 2, 128, 128]`` (or ``size``)."""
    root = require_root("cifar10_dvs", root, SUMMARY)
    samples = cifar10_dvs_samples(root, split)
    return build_event_dataset("cifar10_dvs", root, split, T, options, samples, read_cifar10_dvs, SENSOR)


LAYOUT = Layout(
    SUMMARY,
    """ROOT/                      (or ROOT/CIFAR10DVS/)
  airplane/cifar10_airplane_0.aedat ...   1000 per class, AEDAT 2.0 originals or AEDAT 4.0 (.aedat4)
  automobile/ bird/ cat/ deer/ dog/ frog/ horse/ ship/ truck/
split: per class, sorted files, first 900 train, last 100 test""",
    lambda root, split: describe(cifar10_dvs_samples(root, split)),
)

DATASETS = (
    DatasetInfo(
        "cifar10_dvs",
        "sequence",
        10,
        cifar10_dvs,
        description="CIFAR10-DVS (AEDAT 2.0 or 4.0), 9:1 split per class: items [T, 2, 128, 128], 10 classes",
        options_type=FrameOptions,
        default_T=10,
        layout=LAYOUT,
    ),
)
