"""CIFAR-10 / CIFAR-100 (Krizhevsky 2009), the "python version" pickle batches.

Layout: ``ROOT/cifar-10-batches-py/{data_batch_1..5, test_batch}`` and
``ROOT/cifar-100-python/{train, test}`` (fine labels), or the files directly in ``ROOT``. Items
``(x float32 [3, 32, 32], y int)`` normalised by the training set's channel mean/std; the
engine's encoder repeats them over ``T`` (``T`` is ignored here).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataFormatError, DatasetNotFoundError
from ..formats.cifar_pickle import read_cifar_batch
from ..image_transforms import CifarTransform
from ..registry import DatasetInfo, Layout
from ._layout import find_base

__all__ = ["DATASETS", "CifarDataset", "CifarOptions", "cifar10", "cifar100"]

# Channel statistics of the training images (CIFAR-10: 0.4914, ...; CIFAR-100: 0.5071, ...).
CIFAR_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
CIFAR_FILES = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels"),
}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}


@dataclasses.dataclass(frozen=True)
class CifarOptions:
    """Options of ``cifar10`` / ``cifar100``.

    Attributes:
        augment: augment the train split with ``policy``.
        policy: ``crop_flip`` (random crop 32 with 4-pixel zero padding + horizontal flip) or ``randaugment``
            (the official recipe: RandomResizedCrop(0.875-1, bicubic) + flip + RandAugment, see
            :class:`~spikeforge.data.image_transforms.CifarTransform`).
        ra_magnitude: RandAugment's magnitude (the official runs: 7).
    """

    augment: bool = True
    policy: str = "crop_flip"
    ra_magnitude: float = 7


class CifarDataset(Dataset):
    """Items ``(float32 [3, 32, 32], int)`` from images held in memory (150 MB for the train split).

    Args:
        images: ``uint8 [N, 3, 32, 32]``.
        labels: ``int64 [N]``.
        transform: ``uint8 [3, 32, 32] -> float32 [3, 32, 32]``.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: CifarTransform) -> None:
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def targets(self) -> list[int]:
        return self.labels.tolist()

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.images[i]), int(self.labels[i])


def _cifar(name: str, root: str | None, split: str, options: CifarOptions) -> CifarDataset:
    folder, train_files, test_files, label_key = CIFAR_FILES[name]
    num_classes = NUM_CLASSES[name]
    batch_files = train_files if split == "train" else test_files
    summary = f"ROOT/{folder}/{{{','.join(train_files + test_files)}}} (the python version of the dataset)"
    base = None if not root else find_base(root, [folder, ""], lambda p: all((p / f).is_file() for f in batch_files))
    if base is None:
        raise DatasetNotFoundError(name, root, summary)
    parts = [read_cifar_batch(base / f, label_key) for f in batch_files]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataFormatError(base / batch_files[0], f"labels outside [0, {num_classes})")
    mean, std = CIFAR_STATS[name]
    augment = options.augment and split == "train"
    transform = CifarTransform(mean, std, augment, policy=options.policy, ra_magnitude=options.ra_magnitude)
    return CifarDataset(images, labels, transform)


def cifar10(root: str | None, split: str, T: int | None, options: CifarOptions) -> Dataset:
    """CIFAR-10 from ``ROOT/cifar-10-batches-py``; train augmentation per ``options.policy``."""
    return _cifar("cifar10", root, split, options)


def cifar100(root: str | None, split: str, T: int | None, options: CifarOptions) -> Dataset:
    """CIFAR-100 (fine labels) from ``ROOT/cifar-100-python``; same augmentation options as CIFAR-10."""
    return _cifar("cifar100", root, split, options)


def _probe(name: str):
    def probe(root: str, split: str) -> str:
        return f"{len(_cifar(name, root, split, CifarOptions(augment=False)))} images"

    return probe


DATASETS = (
    DatasetInfo(
        "cifar10",
        "static",
        10,
        cifar10,
        description="CIFAR-10 (python pickle batches): items [3, 32, 32] normalised",
        options_type=CifarOptions,
        layout=Layout(
            "ROOT/cifar-10-batches-py/{data_batch_1..5,test_batch}",
            """ROOT/cifar-10-batches-py/    (the "CIFAR-10 python version" archive, extracted)
  data_batch_1 ... data_batch_5   10000 images each (train)
  test_batch                      10000 images (test)""",
            _probe("cifar10"),
        ),
    ),
    DatasetInfo(
        "cifar100",
        "static",
        100,
        cifar100,
        description="CIFAR-100 (python pickle, fine labels): items [3, 32, 32]",
        options_type=CifarOptions,
        layout=Layout(
            "ROOT/cifar-100-python/{train,test}",
            """ROOT/cifar-100-python/       (the "CIFAR-100 python version" archive, extracted)
  train                           50000 images, fine labels used
  test                            10000 images""",
            _probe("cifar100"),
        ),
    ),
)
