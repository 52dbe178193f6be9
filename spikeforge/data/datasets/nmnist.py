"""N-MNIST (Orchard et al. 2015): ATIS recordings of MNIST digits, ``.bin`` files.

Layout: ``ROOT/{Train,Test}/<digit>/<id>.bin`` (also under ``ROOT/NMNIST/``), the dataset's own
split (60000 / 10000). Items ``(x float32 [T, 2, 34, 34], y int)``; options:
:class:`~spikeforge.data.events.FrameOptions`; ``T`` defaults to 10.
"""

from __future__ import annotations

import os
from functools import partial

from torch.utils.data import Dataset

from ..errors import DatasetNotFoundError
from ..events import EventSample, FrameOptions, build_event_dataset
from ..formats.atis_bin import read_atis_bin
from ..registry import DatasetInfo, Layout
from ._layout import SPLIT_DIRS, describe, files, find_base, require_root

__all__ = ["DATASETS", "SENSOR", "nmnist", "nmnist_samples", "read_nmnist"]

SENSOR = (34, 34)  # (height, width)
SUMMARY = "ROOT/Train/<0-9>/*.bin and ROOT/Test/<0-9>/*.bin (also under ROOT/NMNIST/)"

read_nmnist = partial(read_atis_bin, width=SENSOR[1], height=SENSOR[0])


def nmnist_samples(root: str | os.PathLike[str], split: str, dataset: str = "nmnist") -> list[EventSample]:
    """``ROOT/{Train,Test}/<digit>/<id>.bin``; label = the digit folder."""
    base = find_base(root, ["", "NMNIST", "nmnist", "N-MNIST"], lambda p: (p / SPLIT_DIRS[split]).is_dir())
    if base is None:
        raise DatasetNotFoundError(dataset, root, SUMMARY)
    split_dir = base / SPLIT_DIRS[split]
    samples = []
    for digit in range(10):
        folder = split_dir / str(digit)
        if folder.is_dir():
            samples += [EventSample(str(p), digit) for p in files(folder, (".bin",))]
    if not samples:
        raise DatasetNotFoundError(dataset, split_dir, "digit folders 0..9 holding .bin files")
    return samples


def nmnist(root: str | None, split: str, T: int, options: FrameOptions) -> Dataset:
    """N-MNIST from ``ROOT/{Train,Test}/<digit>/*.bin``; items ``[T, 2, 34, 34]`` (or ``size``)."""
    root = require_root("nmnist", root, SUMMARY)
    return build_event_dataset("nmnist", root, split, T, options, nmnist_samples(root, split), read_nmnist, SENSOR)


LAYOUT = Layout(
    SUMMARY,
    """ROOT/                      (or ROOT/NMNIST/)
  Train/0/00002.bin ...      60000 recordings, folder = digit
  Test/0/00003.bin ...       10000 recordings""",
    lambda root, split: describe(nmnist_samples(root, split)),
)

DATASETS = (
    DatasetInfo(
        "nmnist",
        "sequence",
        10,
        nmnist,
        description="N-MNIST (ATIS .bin): items [T, 2, 34, 34] event-count frames, 10 classes",
        options_type=FrameOptions,
        default_T=10,
        layout=LAYOUT,
    ),
)
