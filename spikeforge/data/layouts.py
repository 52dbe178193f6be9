"""Where each dataset's files live on disk, and how a split's samples are found.

Each dataset module registers a :class:`Layout` in :data:`LAYOUTS` (used by ``spikeforge data
info``); the discovery functions below raise :class:`DatasetNotFoundError` with the expected
layout when nothing is found, and :class:`DataFormatError` when what is found is inconsistent.

Splits (deterministic, no random state involved):

* N-MNIST, DVS128 Gesture, SHD, CIFAR-10/100, ImageNet: the dataset's own train/test split.
* CIFAR10-DVS and N-Caltech101 (no official split): per class, files in sorted (lexicographic)
  name order, the first ``ceil(0.9 * n)`` train, the rest test: SpikingJelly's
  ``split_to_train_test_set(0.9, ...)`` without shuffling, on the same file order.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import DataFormatError, DatasetNotFoundError
from .event_dataset import EventSample

__all__ = [
    "CIFAR10_DVS_CLASSES",
    "LAYOUTS",
    "Layout",
    "cifar10_dvs_samples",
    "dvs_gesture_samples",
    "find_base",
    "ncaltech101_samples",
    "nmnist_samples",
    "shd_file",
]


@dataclasses.dataclass(frozen=True)
class Layout:
    """What ``spikeforge data info`` shows for a dataset.

    Attributes:
        summary: one line (used in error messages).
        tree: the expected folder tree, several lines.
        probe: ``(root, split) -> description`` of what was found; raises when missing/corrupt.
    """

    summary: str
    tree: str
    probe: Callable[[str, str], str]


LAYOUTS: dict[str, Layout] = {}

CIFAR10_DVS_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SPLIT_DIRS = {"train": "Train", "test": "Test"}


def find_base(root: str | os.PathLike[str], subdirs: Sequence[str], ok: Callable[[Path], bool]) -> Path | None:
    """The first ``root/sub`` (``""`` = root itself) for which ``ok`` holds, else ``None``."""
    base = Path(root).expanduser()
    for sub in subdirs:
        candidate = base / sub if sub else base
        if candidate.is_dir() and ok(candidate):
            return candidate
    return None


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(suffixes))


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _ratio_split(files: list[Path], split: str, train_ratio: float = 0.9) -> list[Path]:
    n_train = math.ceil(len(files) * train_ratio)
    return files[:n_train] if split == "train" else files[n_train:]


# ---------------------------------------------------------------- N-MNIST (and simulated event digits)

NMNIST_SUMMARY = "ROOT/Train/<0-9>/*.bin and ROOT/Test/<0-9>/*.bin (also under ROOT/NMNIST/)"


def nmnist_samples(root: str | os.PathLike[str], split: str, dataset: str = "nmnist") -> list[EventSample]:
    """``ROOT/{Train,Test}/<digit>/<id>.bin``; label = the digit folder."""
    base = find_base(root, ["", "NMNIST", "nmnist", "N-MNIST"], lambda p: (p / SPLIT_DIRS[split]).is_dir())
    if base is None:
        raise DatasetNotFoundError(dataset, root, NMNIST_SUMMARY)
    split_dir = base / SPLIT_DIRS[split]
    samples = []
    for digit in range(10):
        folder = split_dir / str(digit)
        if folder.is_dir():
            samples += [EventSample(str(p), digit) for p in _files(folder, (".bin",))]
    if not samples:
        raise DatasetNotFoundError(dataset, split_dir, "digit folders 0..9 holding .bin files")
    return samples


# ---------------------------------------------------------------- N-Caltech101

NCALTECH101_SUMMARY = "ROOT/Caltech101/<class>/image_XXXX.bin for 101 class folders (incl. BACKGROUND_Google)"


def ncaltech101_samples(root: str | os.PathLike[str], split: str) -> list[EventSample]:
    """101 class folders (sorted names = class indices), 9:1 split per class."""
    base = find_base(
        root,
        ["Caltech101", "N-Caltech101/Caltech101", "NCALTECH101/Caltech101", ""],
        lambda p: any(_files(c, (".bin",)) for c in _class_dirs(p)),
    )
    if base is None:
        raise DatasetNotFoundError("ncaltech101", root, NCALTECH101_SUMMARY)
    classes = [c for c in _class_dirs(base) if _files(c, (".bin",))]
    if len(classes) != 101:
        raise DataFormatError(base, f"found {len(classes)} class folders with .bin files, expected 101")
    return [
        EventSample(str(p), label) for label, c in enumerate(classes) for p in _ratio_split(_files(c, (".bin",)), split)
    ]


# ---------------------------------------------------------------- CIFAR10-DVS

CIFAR10_DVS_SUMMARY = (
    "ROOT/<airplane|automobile|...|truck>/*.aedat (AEDAT 2.0) or *.aedat4 (also under ROOT/CIFAR10DVS/)"
)


def cifar10_dvs_samples(root: str | os.PathLike[str], split: str) -> list[EventSample]:
    """The 10 class folders; ``.aedat`` and ``.aedat4`` files; 9:1 split per class."""
    suffixes = (".aedat", ".aedat4")
    base = find_base(
        root,
        ["", "CIFAR10DVS", "cifar10-dvs", "CIFAR10-DVS", "extract"],
        lambda p: (p / CIFAR10_DVS_CLASSES[0]).is_dir(),
    )
    if base is None:
        raise DatasetNotFoundError("cifar10_dvs", root, CIFAR10_DVS_SUMMARY)
    samples = []
    for label, name in enumerate(CIFAR10_DVS_CLASSES):
        folder = base / name
        files = _files(folder, suffixes) if folder.is_dir() else []
        if not files:
            raise DataFormatError(folder, "missing or empty class folder (expected .aedat / .aedat4 recordings)")
        samples += [EventSample(str(p), label) for p in _ratio_split(files, split)]
    return samples


# ---------------------------------------------------------------- DVS128 Gesture

DVS_GESTURE_SUMMARY = (
    "ROOT/DvsGesture/{trials_to_train.txt, trials_to_test.txt, userXX_<light>.aedat, userXX_<light>_labels.csv} "
    "or Tonic's ROOT/{ibmGestureTrain,ibmGestureTest}/userXX_<light>/<class>.npy"
)


def _gesture_labels(csv_path: Path) -> list[tuple[int, int, int]]:
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
            samples += [EventSample(str(aedat), c, (s, e)) for c, s, e in _gesture_labels(labels)]
        return samples, "aedat"
    folder = "ibmGestureTrain" if split == "train" else "ibmGestureTest"
    base = find_base(root, ["", "DVSGesture"], lambda p: (p / folder).is_dir())
    if base is None:
        raise DatasetNotFoundError("dvs128_gesture", root, DVS_GESTURE_SUMMARY)
    samples = []
    for trial in _class_dirs(base / folder):
        for f in _files(trial, (".npy",)):
            if not f.stem.isdigit() or not 0 <= int(f.stem) <= 10:
                raise DataFormatError(f, "Tonic's layout names samples <class 0..10>.npy")
            samples.append(EventSample(str(f), int(f.stem)))
    if not samples:
        raise DatasetNotFoundError("dvs128_gesture", base / folder, "userXX_<light>/<class>.npy files")
    return samples, "tonic"


# ---------------------------------------------------------------- SHD

SHD_SUMMARY = "ROOT/shd_train.h5 and ROOT/shd_test.h5 (or .h5.gz; also under ROOT/SHD/ or ROOT/hsd/)"


def shd_file(root: str | os.PathLike[str], split: str) -> Path:
    """``shd_<split>.h5``, else ``shd_<split>.h5.gz``."""
    for sub in ("", "SHD", "hsd", "shd"):
        base = Path(root).expanduser() / sub if sub else Path(root).expanduser()
        for name in (f"shd_{split}.h5", f"shd_{split}.h5.gz"):
            if (base / name).is_file():
                return base / name
    raise DatasetNotFoundError("shd", root, SHD_SUMMARY)
