"""DVS128 Gesture (Amir et al. 2017): 11 hand gestures, AEDAT 3.1 recordings + labels CSV, or Tonic's ``.npy``.

Either layout is read, whichever is found under ``ROOT``:

* the original release (``trials_to_{train,test}.txt``, AEDAT 3.1 ``userXX_<light>.aedat``): each
  row ``class,startTime_usec,endTime_usec`` of a recording's ``*_labels.csv`` is one sample, the
  events with ``start <= t < end``, label ``class - 1``;
* Tonic's preprocessed ``ibmGesture{Train,Test}/userXX_<light>/<class>.npy`` (``[N, 4]`` x, y, p,
  t in ms).

Items ``[T, 2, 128, 128]`` (or ``size``); ``T`` defaults to 16.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from ..errors import DataFormatError, DatasetNotFoundError
from ..events import Events, EventSample, FrameOptions, build_event_dataset
from ..formats.aedat import read_aedat_file
from ..registry import DatasetInfo, Layout
from ._layout import class_dirs, describe, files, find_base, require_root

__all__ = [
    "DATASETS",
    "SENSOR",
    "dvs128_gesture",
    "dvs_gesture_samples",
    "read_dvs_gesture_aedat",
    "read_dvs_gesture_npy",
]

SENSOR = (128, 128)
SUMMARY = (
    "ROOT/DvsGesture/{trials_to_train.txt, trials_to_test.txt, userXX_<light>.aedat, userXX_<light>_labels.csv} "
    "or Tonic's ROOT/{ibmGestureTrain,ibmGestureTest}/userXX_<light>/<class>.npy"
)


def read_dvs_gesture_aedat(path: str | os.PathLike[str]) -> Events:
    """A DVS128 Gesture recording (AEDAT 3.1 ``userXX_<lighting>.aedat``), polarity events as stored."""
    rec = read_aedat_file(path, width=SENSOR[1], height=SENSOR[0])
    if rec.events is None:
        raise DataFormatError(path, f"DVS128 Gesture recordings are AEDAT 3.1, this file is AEDAT {rec.version}")
    return rec.events


def read_dvs_gesture_npy(path: str | os.PathLike[str]) -> Events:
    """A sample of Tonic's preprocessed DVS128 Gesture: ``.npy`` ``[N, 4]`` columns ``x, y, p, t`` with ``t`` in ms."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataFormatError(path, f"not a readable .npy array ({exc})") from None
    if arr.ndim != 2 or arr.shape[1] != 4 or arr.dtype.kind not in "iuf":
        raise DataFormatError(
            path, f"expected a numeric [N, 4] array (x, y, p, t), found {arr.dtype} {list(arr.shape)}"
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise DataFormatError(path, "non-finite values")
    xyp = arr[:, :3]
    if arr.dtype.kind == "f" and not np.array_equal(xyp, np.rint(xyp)):
        raise DataFormatError(path, "x, y or p are not integers")
    t_us = np.rint(arr[:, 3].astype(np.float64) * 1000.0)
    return Events.checked(
        path, t_us.astype(np.int64), xyp[:, 0], xyp[:, 1], xyp[:, 2], width=128, height=128, ordered=False
    )


def _labels(csv_path: Path) -> list[tuple[int, int, int]]:
    """Rows ``(class 0..10, start us, end us)`` of a ``*_labels.csv`` (header ``class,startTime_usec,endTime_usec``)."""
    if not csv_path.is_file():
        raise DataFormatError(csv_path, "labels file missing (every recording needs its <name>_labels.csv)")
    rows = []
    with open(csv_path, newline="") as fh:
        for n, row in enumerate(csv.reader(fh)):
            if not row or (n == 0 and not row[0].strip().isdigit()):
                continue  # header / blank line
            try:
                cls, start, end = (int(v) for v in row)
            except ValueError:
                raise DataFormatError(
                    csv_path, f"line {n + 1}: expected 3 integers class,start,end, got {row}"
                ) from None
            if not (1 <= cls <= 11) or not (0 <= start < end):
                raise DataFormatError(
                    csv_path, f"line {n + 1}: class {cls} not in 1..11 or window [{start}, {end}) empty"
                )
            rows.append((cls - 1, start, end))
    return rows


def dvs_gesture_samples(root: str | os.PathLike[str], split: str) -> tuple[list[EventSample], str]:
    """Samples and the layout found (``"aedat"`` or ``"tonic"``).

    Original layout: the trials listed in ``trials_to_<split>.txt``; each row of a recording's
    labels CSV is one sample, the events with ``start <= t < end``. Tonic's layout: one ``.npy``
    per sample named by its 0-based class.
    """
    listing = f"trials_to_{split}.txt"
    base = find_base(root, ["", "DvsGesture", "DVSGesture/DvsGesture"], lambda p: (p / listing).is_file())
    if base is not None:
        samples = []
        for line in (base / listing).read_text().split():
            aedat = base / line.strip()
            if not aedat.is_file():
                raise DataFormatError(base / listing, f"lists {aedat.name}, which is missing")
            labels = aedat.with_name(aedat.stem + "_labels.csv")
            samples += [EventSample(str(aedat), c, (s, e)) for c, s, e in _labels(labels)]
        return samples, "aedat"
    folder = "ibmGestureTrain" if split == "train" else "ibmGestureTest"
    base = find_base(root, ["", "DVSGesture"], lambda p: (p / folder).is_dir())
    if base is None:
        raise DatasetNotFoundError("dvs128_gesture", root, SUMMARY)
    samples = []
    for trial in class_dirs(base / folder):
        for f in files(trial, (".npy",)):
            if not f.stem.isdigit() or not 0 <= int(f.stem) <= 10:
                raise DataFormatError(f, "Tonic's layout names samples <class 0..10>.npy")
            samples.append(EventSample(str(f), int(f.stem)))
    if not samples:
        raise DatasetNotFoundError("dvs128_gesture", base / folder, "userXX_<light>/<class>.npy files")
    return samples, "tonic"


def dvs128_gesture(root: str | None, split: str, T: int, options: FrameOptions) -> Dataset:
    """DVS128 Gesture in either layout; items ``[T, 2, 128, 128]`` (or ``size``)."""
    root = require_root("dvs128_gesture", root, SUMMARY)
    samples, layout = dvs_gesture_samples(root, split)
    read = read_dvs_gesture_aedat if layout == "aedat" else read_dvs_gesture_npy
    return build_event_dataset("dvs128_gesture", root, split, T, options, samples, read, SENSOR)


def _probe(root: str, split: str) -> str:
    samples, layout = dvs_gesture_samples(root, split)
    return f"{describe(samples)} ({'original AEDAT 3.1' if layout == 'aedat' else 'Tonic .npy'} layout)"


LAYOUT = Layout(
    SUMMARY,
    """ROOT/DvsGesture/           (original release, or these files directly in ROOT/)
  trials_to_train.txt        names of the training recordings (users 1-23)
  trials_to_test.txt         (users 24-29)
  user01_fluorescent.aedat   AEDAT 3.1 recording
  user01_fluorescent_labels.csv   class,startTime_usec,endTime_usec (class 1..11), one sample per row
or Tonic's preprocessed layout:
ROOT/ibmGestureTrain/user01_fluorescent/0.npy ... 10.npy   [N, 4] x, y, p, t (ms), file name = class 0..10
ROOT/ibmGestureTest/...""",
    _probe,
)

DATASETS = (
    DatasetInfo(
        "dvs128_gesture",
        "sequence",
        11,
        dvs128_gesture,
        description="DVS128 Gesture (AEDAT 3.1 + labels CSV, or Tonic's .npy): items [T, 2, 128, 128], 11 classes",
        options_type=FrameOptions,
        default_T=16,
        layout=LAYOUT,
    ),
)
