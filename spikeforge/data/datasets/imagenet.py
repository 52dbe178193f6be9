"""ImageNet-1k and ImageNet-100: class folders of images (``train/``, ``val/``), decoded with Pillow.

Layout: ``ROOT/train/<wnid>/*.JPEG`` and ``ROOT/val/<wnid>/*.JPEG`` (validation images sorted
into class folders, the usual preparation; also under ``ROOT/imagenet/`` or ``ROOT/<name>/``).
Class indices are the sorted train folder names. Items ``(x float32 [3, 224, 224], y int)``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import torch
from torch.utils.data import Dataset

from ..errors import DataFormatError, DatasetNotFoundError
from ..image_transforms import ImageNetTransform, RandAugment
from ..registry import DatasetInfo, Layout
from ._layout import find_base

__all__ = ["DATASETS", "ImageFolderDataset", "ImageNet100Options", "ImageNetOptions", "imagenet", "imagenet100"]

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff")


@dataclasses.dataclass(frozen=True)
class ImageNetOptions:
    """Options of ``imagenet``.

    Attributes:
        augment: train: RandomResizedCrop(``image_size``, scale 0.08-1, ratio 3/4-4/3) + flip.
        image_size: crop size.
        eval_resize: test: resize the short side to this, then centre crop ``image_size``.
        interpolation: resampling filter, ``"bilinear"`` or ``"bicubic"``.
        randaugment: timm-style RandAugment (``rand-m{ra_magnitude}-n{ra_num_ops}-mstd{ra_magnitude_std}``).
        ra_num_ops, ra_magnitude, ra_magnitude_std: its parameters.
    """

    augment: bool = True
    image_size: int = 224
    eval_resize: int = 256
    interpolation: str = "bilinear"
    randaugment: bool = False
    ra_num_ops: int = 2
    ra_magnitude: float = 6
    ra_magnitude_std: float = 0.5


@dataclasses.dataclass(frozen=True)
class ImageNet100Options(ImageNetOptions):
    """``imagenet100``'s defaults follow Shen et al.'s configs: bicubic crop, RandAugment
    m6-n2-mstd0.5, eval short side 236 then centre crop 224."""

    eval_resize: int = 236
    interpolation: str = "bicubic"
    randaugment: bool = True


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
        from ..image_transforms import _pil

        Image = _pil()
        path, label = self.samples[i]
        try:
            with Image.open(path) as image:
                rgb = image.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise DataFormatError(path, f"cannot decode image ({exc})") from None
        return self.transform(rgb), label


def image_folder_samples(name: str, root: str | None, split: str, num_classes: int) -> list[tuple[str, int]]:
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
            found = sorted(e.path for e in entries if e.is_file() and e.name.lower().endswith(IMAGE_SUFFIXES))
        samples += [(f, index[folder.name]) for f in found]
    if not samples:
        raise DatasetNotFoundError(name, base / split_dir, "class folders holding image files")
    return samples


def _imagenet(name: str, root: str | None, split: str, num_classes: int, o: ImageNetOptions) -> ImageFolderDataset:
    ra = RandAugment(o.ra_num_ops, o.ra_magnitude, o.ra_magnitude_std) if o.randaugment else None
    transform = ImageNetTransform(o.augment and split == "train", o.image_size, o.eval_resize, o.interpolation, ra)
    return ImageFolderDataset(image_folder_samples(name, root, split, num_classes), transform)


def imagenet(root: str | None, split: str, T: int | None, options: ImageNetOptions) -> Dataset:
    """ImageNet-1k from ``ROOT/{train,val}/<wnid>/*.JPEG`` (val sorted into class folders)."""
    return _imagenet("imagenet", root, split, 1000, options)


def imagenet100(root: str | None, split: str, T: int | None, options: ImageNetOptions) -> Dataset:
    """ImageNet-100 in ImageNet's layout (defaults: :class:`ImageNet100Options`)."""
    return _imagenet("imagenet100", root, split, 100, options)


def _probe(name: str, num_classes: int):
    def probe(root: str, split: str) -> str:
        samples = image_folder_samples(name, root, split, num_classes)
        return f"{len(samples)} images in {len({label for _, label in samples})} classes"

    return probe


_TREE = """ROOT/                       (or ROOT/{name}/)
  train/<wnid>/*.JPEG           {n} class folders (sorted names = class ids)
  val/<wnid>/*.JPEG             validation images sorted into the same class folders"""


def _info(name: str, num_classes: int, builder: Callable[..., Dataset], options_type: type, what: str) -> DatasetInfo:
    """The registry entry of one dataset on the ImageNet folder layout (they differ in name, classes, options)."""
    return DatasetInfo(
        name,
        "static",
        num_classes,
        builder,
        description=f"{what}: items [3, 224, 224]",
        options_type=options_type,
        layout=Layout(
            f"ROOT/{{train,val}}/<wnid>/*.JPEG ({num_classes} classes)",
            _TREE.format(name=name, n=num_classes),
            _probe(name, num_classes),
        ),
    )


DATASETS = (
    _info("imagenet", 1000, imagenet, ImageNetOptions, "ImageNet-1k class folders (train/val)"),
    _info("imagenet100", 100, imagenet100, ImageNet100Options, "ImageNet-100 (100-class subset, same layout)"),
)
