"""Helpers the dataset modules share: finding a dataset's folder, listing files, the 9:1 split, probes.

Splits (deterministic, no random state involved):

* N-MNIST, DVS128 Gesture, SHD, CIFAR-10/100, ImageNet: the dataset's own train/test split.
* CIFAR10-DVS and N-Caltech101 (no official split): per class, files in sorted (lexicographic)
  name order, the first ``ceil(0.9 * n)`` train, the rest test: SpikingJelly's
  ``split_to_train_test_set(0.9, ...)`` without shuffling, on the same file order.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import DataFormatError, DatasetNotFoundError
from ..events.dataset import EventSample

__all__ = ["SPLIT_DIRS", "class_dirs", "describe", "files", "find_base", "ratio_split", "require_root"]

SPLIT_DIRS = {"train": "Train", "test": "Test"}


def require_root(name: str, root: str | os.PathLike[str] | None, summary: str) -> str:
    """``root`` expanded, or :class:`DatasetNotFoundError` when it is not a folder."""
    if not root or not Path(root).expanduser().is_dir():
        raise DatasetNotFoundError(name, root, summary)
    return os.fspath(Path(root).expanduser())


def find_base(root: str | os.PathLike[str], subdirs: Sequence[str], ok: Callable[[Path], bool]) -> Path | None:
    """The first ``root/sub`` (``""`` = root itself) for which ``ok`` holds, else ``None``."""
    base = Path(root).expanduser()
    for sub in subdirs:
        candidate = base / sub if sub else base
        if candidate.is_dir() and ok(candidate):
            return candidate
    return None


def files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(suffixes))


def class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def ratio_split(paths: list[Path], split: str, train_ratio: float = 0.9) -> list[Path]:
    n_train = math.ceil(len(paths) * train_ratio)
    return paths[:n_train] if split == "train" else paths[n_train:]


def describe(samples: Sequence[EventSample]) -> str:
    """What ``spikeforge data info`` says about a split's samples.

    Raises:
        DataFormatError: some source files are empty (0 bytes): such a recording holds no events.
    """
    paths = sorted({s.path for s in samples})
    empty = [p for p in paths if os.path.getsize(p) == 0]
    if empty:
        raise DataFormatError(empty[0], f"empty file (0 bytes; {len(empty)} of {len(paths)} files are)")
    labels = np.array([s.label for s in samples])
    return f"{len(samples)} samples from {len(paths)} files, {len(np.unique(labels))} classes"
