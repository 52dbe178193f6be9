"""N-Caltech101 (Orchard et al. 2015): ATIS recordings of Caltech101 images, ``.bin`` files.

Layout: ``ROOT/Caltech101/<class>/image_XXXX.bin``, 101 class folders including
``BACKGROUND_Google`` (sorted names = class ids). No official split: per class, sorted files,
first ``ceil(0.9 n)`` train, rest test. Events keep their sensor coordinates in a 240x180 frame
(no per-sample re-centring, as in SpikingJelly); ``size=48`` / ``128`` gives the papers' inputs.
Items ``[T, 2, 180, 240]`` (or ``size``); ``T`` defaults to 10.
"""

from __future__ import annotations

import os
from functools import partial

from torch.utils.data import Dataset

from ..errors import DataFormatError, DatasetNotFoundError
from ..events import EventSample, FrameOptions, build_event_dataset
from ..formats.atis_bin import read_atis_bin
from ..registry import DatasetInfo, Layout
from ._layout import class_dirs, describe, files, find_base, ratio_split, require_root

__all__ = ["DATASETS", "SENSOR", "ncaltech101", "ncaltech101_samples", "read_ncaltech101"]

# Recordings vary in size; they fit 240 wide x 180 high (SpikingJelly's frame size).
SENSOR = (180, 240)
SUMMARY = "ROOT/Caltech101/<class>/image_XXXX.bin for 101 class folders (incl. BACKGROUND_Google)"

read_ncaltech101 = partial(read_atis_bin, width=SENSOR[1], height=SENSOR[0])


def ncaltech101_samples(root: str | os.PathLike[str], split: str) -> list[EventSample]:
    """101 class folders (sorted names = class indices), 9:1 split per class."""
    base = find_base(
        root,
        ["Caltech101", "N-Caltech101/Caltech101", "NCALTECH101/Caltech101", ""],
        lambda p: any(files(c, (".bin",)) for c in class_dirs(p)),
    )
    if base is None:
        raise DatasetNotFoundError("ncaltech101", root, SUMMARY)
    classes = [c for c in class_dirs(base) if files(c, (".bin",))]
    if len(classes) != 101:
        raise DataFormatError(base, f"found {len(classes)} class folders with .bin files, expected 101")
    return [
        EventSample(str(p), label) for label, c in enumerate(classes) for p in ratio_split(files(c, (".bin",)), split)
    ]


# The builder, LAYOUT and DATASETS of each event-camera dataset have the same shape on purpose: each
# dataset module states its own samples, reader and sensor (one dataset, one file); the shared work
# (options, frames, cache) is build_event_dataset's, in data/events/options.py.
def ncaltech101(root: str | None, split: str, T: int, options: FrameOptions) -> Dataset:
    """N-Caltech101 from ``ROOT/Caltech101/<class>/*.bin``; items ``[T, 2, 180, 240]`` (or ``size``)."""
    root = require_root("ncaltech101", root, SUMMARY)
    samples = ncaltech101_samples(root, split)
    return build_event_dataset("ncaltech101", root, split, T, options, samples, read_ncaltech101, SENSOR)


LAYOUT = Layout(
    SUMMARY,
    """ROOT/Caltech101/            (or ROOT/ itself; unzip Caltech101.zip of the N-Caltech101 archive)
  accordion/image_0001.bin ...
  ...                        101 class folders incl. BACKGROUND_Google (sorted names = class ids)
split: per class, sorted files, first ceil(0.9 n) train, rest test""",
    lambda root, split: describe(ncaltech101_samples(root, split)),
)

DATASETS = (
    DatasetInfo(
        "ncaltech101",
        "sequence",
        101,
        ncaltech101,
        description=(
            "N-Caltech101 (ATIS .bin), 9:1 split per class: items [T, 2, 180, 240] (or size x size), 101 classes"
        ),
        options_type=FrameOptions,
        default_T=10,
        layout=LAYOUT,
    ),
)
