"""Registered static image datasets: CIFAR-10/100 (python pickle batches) and ImageNet(-100) class folders.

Items are ``(x, y)`` with ``x`` float32 ``[3, H, W]`` normalised by the dataset's channel
mean/std; the engine's encoder repeats it over ``T`` (``T`` is ignored here). ``augment``
(default ``True``) only ever applies to the train split.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import Dataset

from .errors import DataFormatError, DatasetNotFoundError
from .formats.cifar_pickle import read_cifar_batch
from .image_transforms import CifarTransform, ImageNetTransform, RandAugment
from .layouts import LAYOUTS, Layout, find_base
from .registry import register_dataset

__all__ = ["CifarDataset", "ImageFolderDataset", "cifar10", "cifar100", "imagenet", "imagenet100"]

# Channel statistics of the training images (CIFAR-10: 0.4914, ...; CIFAR-100: 0.5071, ...).
CIFAR_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
CIFAR_FILES = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels"),
}
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff")


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


def _cifar(
    name: str, root: str | None, split: str, augment: bool, num_classes: int, policy: str = "crop_flip",
    ra_magnitude: float = 7,
) -> CifarDataset:  # fmt: skip
    folder, train_files, test_files, label_key = CIFAR_FILES[name]
    files = train_files if split == "train" else test_files
    summary = f"ROOT/{folder}/{{{','.join(train_files + test_files)}}} (the python version of the dataset)"
    base = None if not root else find_base(root, [folder, ""], lambda p: all((p / f).is_file() for f in files))
    if base is None:
        raise DatasetNotFoundError(name, root, summary)
    parts = [read_cifar_batch(base / f, label_key) for f in files]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataFormatError(base / files[0], f"labels outside [0, {num_classes})")
    mean, std = CIFAR_STATS[name]
    transform = CifarTransform(mean, std, augment and split == "train", policy=policy, ra_magnitude=ra_magnitude)
    return CifarDataset(images, labels, transform)


@register_dataset("cifar10", "static", 10, description="CIFAR-10 (python pickle batches): items [3, 32, 32] normalised")
def cifar10(
    root: str | None, split: str, T: int | None = None, augment: bool = True, policy: str = "crop_flip",
    ra_magnitude: float = 7,
) -> Dataset:  # fmt: skip
    """CIFAR-10 from ``ROOT/cifar-10-batches-py``; train augmentation ``policy``: ``crop_flip`` (random crop
    32, pad 4, + flip) or ``randaugment`` (the official recipe, see ``image_transforms.CifarTransform``)."""
    return _cifar("cifar10", root, split, augment, 10, policy, ra_magnitude)


@register_dataset("cifar100", "static", 100, description="CIFAR-100 (python pickle, fine labels): items [3, 32, 32]")
def cifar100(
    root: str | None, split: str, T: int | None = None, augment: bool = True, policy: str = "crop_flip",
    ra_magnitude: float = 7,
) -> Dataset:  # fmt: skip
    """CIFAR-100 (fine labels) from ``ROOT/cifar-100-python``; same augmentation options as CIFAR-10."""
    return _cifar("cifar100", root, split, augment, 100, policy, ra_magnitude)


class ImageFolderDataset(Dataset):
    """Items ``(float32 [3, size, size], int)`` decoded from image files with Pillow.

    Args:
        samples: ``(path, class index)`` pairs.
        transform: PIL image -> tensor.
    """

    def __init__(self, samples: list[tuple[str, int]], transform: ImageNetTransform) -> None:
        self.samples, self.transform = samples, transform

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def targets(self) -> list[int]:
        return [label for _, label in self.samples]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from .image_transforms import _pil

        Image = _pil()
        path, label = self.samples[i]
        try:
            with Image.open(path) as image:
                rgb = image.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise DataFormatError(path, f"cannot decode image ({exc})") from None
        return self.transform(rgb), label


def _image_folder_samples(name: str, root: str | None, split: str, num_classes: int) -> list[tuple[str, int]]:
    """Samples of ``ROOT/{train,val}/<class>/<image>``; class ids = sorted train folder names."""
    split_dir = "train" if split == "train" else "val"
    summary = f"ROOT/train/<class>/*.JPEG and ROOT/val/<class>/*.JPEG with {num_classes} class folders"
    base = None if not root else find_base(root, ["", name, "imagenet"], lambda p: (p / split_dir).is_dir())
    if base is None:
        raise DatasetNotFoundError(name, root, summary)
    class_root = base / "train" if (base / "train").is_dir() else base / split_dir
    classes = sorted(p.name for p in class_root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) != num_classes:
        raise DataFormatError(class_root, f"found {len(classes)} class folders, expected {num_classes}")
    index = {c: i for i, c in enumerate(classes)}
    samples = []
    for folder in sorted(p for p in (base / split_dir).iterdir() if p.is_dir() and not p.name.startswith(".")):
        if folder.name not in index:
            raise DataFormatError(folder, "class folder that the train split does not have")
        with os.scandir(folder) as entries:
            files = sorted(e.path for e in entries if e.is_file() and e.name.lower().endswith(IMAGE_SUFFIXES))
        samples += [(f, index[folder.name]) for f in files]
    if not samples:
        raise DatasetNotFoundError(name, base / split_dir, "class folders holding image files")
    return samples


def _imagenet(
    name: str,
    root: str | None,
    split: str,
    num_classes: int,
    augment: bool,
    image_size: int,
    eval_resize: int,
    interpolation: str,
    randaugment: bool,
    ra_num_ops: int,
    ra_magnitude: float,
    ra_magnitude_std: float,
) -> ImageFolderDataset:
    ra = RandAugment(ra_num_ops, ra_magnitude, ra_magnitude_std) if randaugment else None
    transform = ImageNetTransform(augment and split == "train", image_size, eval_resize, interpolation, ra)
    return ImageFolderDataset(_image_folder_samples(name, root, split, num_classes), transform)


@register_dataset("imagenet", "static", 1000, description="ImageNet-1k class folders (train/val): items [3, 224, 224]")
def imagenet(
    root: str | None,
    split: str,
    T: int | None = None,
    augment: bool = True,
    image_size: int = 224,
    eval_resize: int = 256,
    interpolation: str = "bilinear",
    randaugment: bool = False,
    ra_num_ops: int = 2,
    ra_magnitude: float = 6,
    ra_magnitude_std: float = 0.5,
) -> Dataset:
    """ImageNet-1k from ``ROOT/{train,val}/<wnid>/*.JPEG`` (val sorted into class folders).

    Train: RandomResizedCrop(``image_size``) + flip (+ RandAugment ``rand-m{ra_magnitude}-n{ra_num_ops}
    -mstd{ra_magnitude_std}`` if ``randaugment``). Test: short side ``eval_resize``, centre crop.
    """
    return _imagenet("imagenet", root, split, 1000, augment, image_size, eval_resize, interpolation,
                     randaugment, ra_num_ops, ra_magnitude, ra_magnitude_std)  # fmt: skip


@register_dataset(
    "imagenet100", "static", 100, description="ImageNet-100 (100-class subset, same layout): items [3, 224, 224]"
)
def imagenet100(
    root: str | None,
    split: str,
    T: int | None = None,
    augment: bool = True,
    image_size: int = 224,
    eval_resize: int = 236,
    interpolation: str = "bicubic",
    randaugment: bool = True,
    ra_num_ops: int = 2,
    ra_magnitude: float = 6,
    ra_magnitude_std: float = 0.5,
) -> Dataset:
    """ImageNet-100 in ImageNet's layout; defaults follow Shen et al.'s configs (bicubic crop,
    RandAugment m6-n2-mstd0.5, eval short side 236 then centre crop 224)."""
    return _imagenet("imagenet100", root, split, 100, augment, image_size, eval_resize, interpolation,
                     randaugment, ra_num_ops, ra_magnitude, ra_magnitude_std)  # fmt: skip


def _probe_cifar(name: str):
    def probe(root: str, split: str) -> str:
        ds = _cifar(name, root, split, False, 10 if name == "cifar10" else 100)
        return f"{len(ds)} images"

    return probe


def _probe_images(name: str, num_classes: int):
    def probe(root: str, split: str) -> str:
        samples = _image_folder_samples(name, root, split, num_classes)
        return f"{len(samples)} images in {len({label for _, label in samples})} classes"

    return probe


LAYOUTS["cifar10"] = Layout(
    "ROOT/cifar-10-batches-py/{data_batch_1..5,test_batch}",
    """ROOT/cifar-10-batches-py/    (the "CIFAR-10 python version" archive, extracted)
  data_batch_1 ... data_batch_5   10000 images each (train)
  test_batch                      10000 images (test)""",
    _probe_cifar("cifar10"),
)
LAYOUTS["cifar100"] = Layout(
    "ROOT/cifar-100-python/{train,test}",
    """ROOT/cifar-100-python/       (the "CIFAR-100 python version" archive, extracted)
  train                           50000 images, fine labels used
  test                            10000 images""",
    _probe_cifar("cifar100"),
)
_IMAGENET_TREE = """ROOT/                       (or ROOT/{name}/)
  train/<wnid>/*.JPEG           {n} class folders (sorted names = class ids)
  val/<wnid>/*.JPEG             validation images sorted into the same class folders"""
LAYOUTS["imagenet"] = Layout(
    "ROOT/{train,val}/<wnid>/*.JPEG (1000 classes)",
    _IMAGENET_TREE.format(name="imagenet", n=1000),
    _probe_images("imagenet", 1000),
)
LAYOUTS["imagenet100"] = Layout(
    "ROOT/{train,val}/<wnid>/*.JPEG (100 classes)",
    _IMAGENET_TREE.format(name="imagenet100", n=100),
    _probe_images("imagenet100", 100),
)
