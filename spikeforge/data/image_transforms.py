"""Image transforms for the static datasets, on plain torch tensors (CIFAR) or PIL images (ImageNet).

CIFAR has two train policies: ``crop_flip`` (pad 4, random 32x32 crop, flip: the common
recipe) and ``randaugment`` (the official CIFAR recipe of Shen et al., mmpretrain's rsb-a12
pipeline: RandomResizedCrop(32, area 0.875-1, bicubic), flip, RandAugment timm-increasing
n=2 m=7 mstd=0.5, fill = the dataset mean), the latter run on Pillow like the official code.

torchvision is not needed: its pip wheels are built against specific torch versions and may
not install beside ours. The ImageNet pipeline uses Pillow (a matplotlib dependency, so always
present) and reproduces torchvision's ``RandomResizedCrop`` / ``Resize`` + ``CenterCrop``
sampling rules; RandAugment follows timm's "increasing" policy
(``rand-m{M}-n{N}-mstd{S}-inc1``) that the ImageNet-100 configs of Shen et al. use. All
randomness comes from torch's generator, so DataLoader workers differ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..extras import require
from .augment import random_crop, random_hflip

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CIFAR_POLICIES",
    "CifarTransform",
    "ImageNetTransform",
    "RandAugment",
    "center_crop",
    "pil_to_tensor",
    "random_resized_crop",
    "resize_short_side",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    return (x - torch.tensor(mean).view(-1, 1, 1)) / torch.tensor(std).view(-1, 1, 1)


CIFAR_POLICIES = ("crop_flip", "randaugment")


class CifarTransform:
    """``uint8 [3, 32, 32] -> float32 [3, 32, 32]``: train augmentation (``policy``), then normalise.

    Args:
        mean, std: channel statistics in [0, 1].
        augment: whether to augment (train split).
        padding: zero padding of the ``crop_flip`` random crop.
        policy: ``"crop_flip"`` or ``"randaugment"`` (see the module docstring).
        ra_magnitude, ra_num_ops, ra_magnitude_std: the RandAugment of ``"randaugment"``.
    """

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        augment: bool,
        padding: int = 4,
        policy: str = "crop_flip",
        ra_magnitude: float = 7,
        ra_num_ops: int = 2,
        ra_magnitude_std: float = 0.5,
    ) -> None:
        if policy not in CIFAR_POLICIES:
            raise ValueError(f"CIFAR augmentation policy must be one of {CIFAR_POLICIES}, got {policy!r}")
        self.mean, self.std, self.augment, self.padding, self.policy = tuple(mean), tuple(std), augment, padding, policy
        fill = tuple(round(255 * m) for m in self.mean)
        self.randaugment = RandAugment(ra_num_ops, ra_magnitude, ra_magnitude_std, fill=fill, resample="bicubic")

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if self.augment and self.policy == "randaugment":
            pil = _pil().fromarray(image.permute(1, 2, 0).contiguous().numpy())
            pil = random_resized_crop(pil, image.shape[-1], scale=(0.875, 1.0), interpolation="bicubic")
            if float(torch.rand(())) < 0.5:
                pil = pil.transpose(_pil().Transpose.FLIP_LEFT_RIGHT)
            return _normalize(pil_to_tensor(self.randaugment(pil)), self.mean, self.std)
        x = image.to(torch.float32) / 255.0
        if self.augment:
            x = random_hflip(random_crop(x, x.shape[-1], self.padding))
        return _normalize(x, self.mean, self.std)


# ------------------------------------------------------------------------------------------ PIL


def _pil() -> Any:
    return require("PIL.Image", "reading ImageNet images")


def _resample(name: str) -> int:
    Image = _pil()
    modes = {
        "bilinear": Image.Resampling.BILINEAR,
        "bicubic": Image.Resampling.BICUBIC,
        "nearest": Image.Resampling.NEAREST,
    }
    if name not in modes:
        raise ValueError(f"interpolation must be one of {sorted(modes)}, got {name!r}")
    return modes[name]


def pil_to_tensor(image: Any) -> torch.Tensor:
    """PIL RGB image -> ``float32 [3, H, W]`` in [0, 1]."""
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).to(torch.float32) / 255.0


def random_resized_crop(
    image: Any,
    size: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    interpolation: str = "bilinear",
    generator: torch.Generator | None = None,
) -> Any:
    """torchvision's RandomResizedCrop rule: up to 10 tries of a random area/aspect, else a central crop."""
    width, height = image.size
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        u = torch.rand(2, generator=generator).tolist()
        target = area * (scale[0] + (scale[1] - scale[0]) * u[0])
        aspect = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * u[1])
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (), generator=generator))
            left = int(torch.randint(0, width - w + 1, (), generator=generator))
            break
    else:
        in_ratio = width / height
        if in_ratio < ratio[0]:
            w, h = width, round(width / ratio[0])
        elif in_ratio > ratio[1]:
            h, w = height, round(height * ratio[1])
        else:
            w, h = width, height
        top, left = (height - h) // 2, (width - w) // 2
    return image.resize((size, size), _resample(interpolation), box=(left, top, left + w, top + h))


def resize_short_side(image: Any, size: int, interpolation: str = "bilinear") -> Any:
    """Scale so that the shorter side is ``size`` (aspect kept), as ``torchvision.transforms.Resize(int)``."""
    width, height = image.size
    if width <= height:
        new = (size, max(1, int(size * height / width)))
    else:
        new = (max(1, int(size * width / height)), size)
    return image.resize(new, _resample(interpolation))


def center_crop(image: Any, size: int) -> Any:
    width, height = image.size
    top, left = round((height - size) / 2.0), round((width - size) / 2.0)
    return image.crop((left, top, left + size, top + size))


class RandAugment:
    """timm-style RandAugment with the "increasing" op set, on PIL images.

    Each call applies ``num_ops`` ops drawn uniformly (with replacement), each with probability
    0.5, at magnitude ``m ~ N(magnitude, magnitude_std)`` clipped to [0, 10] (10 = strongest).

    Args:
        num_ops: ops per image (``n`` in ``rand-m6-n2``).
        magnitude: mean magnitude on a 0-10 scale (``m``).
        magnitude_std: std of the magnitude noise (``mstd``).
        fill: colour of pixels uncovered by geometric ops.
        resample: interpolation of the rotate / shear ops (``"bilinear"``, ``"bicubic"``).
    """

    OPS = (
        "AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd", "Color",
        "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateX", "TranslateY",
    )  # fmt: skip

    def __init__(
        self,
        num_ops: int = 2,
        magnitude: float = 6,
        magnitude_std: float = 0.5,
        fill: tuple[int, int, int] = (128, 128, 128),
        resample: str = "bilinear",
    ) -> None:
        _resample(resample)  # validate now
        self.num_ops, self.magnitude, self.magnitude_std, self.fill = num_ops, magnitude, magnitude_std, fill
        self.resample = resample

    def __call__(self, image: Any, generator: torch.Generator | None = None) -> Any:
        for _ in range(self.num_ops):
            if float(torch.rand((), generator=generator)) >= 0.5:
                continue
            op = self.OPS[int(torch.randint(len(self.OPS), (), generator=generator))]
            m = self.magnitude + self.magnitude_std * float(torch.randn((), generator=generator))
            level = min(max(m, 0.0), 10.0) / 10.0
            sign = -1.0 if float(torch.rand((), generator=generator)) < 0.5 else 1.0
            image = self.apply(image, op, level, sign)
        return image

    def apply(self, image: Any, op: str, level: float, sign: float = 1.0) -> Any:
        """Apply ``op`` at ``level`` in [0, 1] (``sign`` flips signed ops)."""
        from PIL import ImageEnhance, ImageOps

        Image = _pil()
        w, h = image.size
        affine = Image.Transform.AFFINE
        resample = _resample(self.resample)
        if op == "AutoContrast":
            return ImageOps.autocontrast(image)
        if op == "Equalize":
            return ImageOps.equalize(image)
        if op == "Invert":
            return ImageOps.invert(image)
        if op == "Rotate":
            return image.rotate(sign * 30.0 * level, resample=resample, fillcolor=self.fill)
        if op == "Posterize":  # increasing: fewer bits
            return ImageOps.posterize(image, 8 - int(4 * level))
        if op == "Solarize":  # increasing: lower threshold
            return ImageOps.solarize(image, 256 - int(256 * level))
        if op == "SolarizeAdd":
            arr = np.asarray(image, dtype=np.int16)
            added = np.where(arr < 128, np.minimum(arr + int(110 * level), 255), arr)
            return Image.fromarray(added.astype(np.uint8))
        if op in ("Color", "Contrast", "Brightness", "Sharpness"):
            enhancer = getattr(ImageEnhance, op)(image)
            return enhancer.enhance(1.0 + sign * 0.9 * level)
        if op == "ShearX":
            return image.transform(
                image.size, affine, (1, sign * 0.3 * level, 0, 0, 1, 0), resample, fillcolor=self.fill
            )
        if op == "ShearY":
            return image.transform(
                image.size, affine, (1, 0, 0, sign * 0.3 * level, 1, 0), resample, fillcolor=self.fill
            )
        if op == "TranslateX":
            return image.transform(image.size, affine, (1, 0, sign * 0.45 * level * w, 0, 1, 0), fillcolor=self.fill)
        if op == "TranslateY":
            return image.transform(image.size, affine, (1, 0, 0, 0, 1, sign * 0.45 * level * h), fillcolor=self.fill)
        raise ValueError(f"unknown RandAugment op {op!r}")


class ImageNetTransform:
    """PIL RGB image -> normalised ``float32 [3, size, size]``.

    Train (``augment=True``): RandomResizedCrop(size, scale (0.08, 1)), horizontal flip,
    optional RandAugment. Eval: resize the short side to ``eval_resize`` then centre-crop
    ``size`` (256/224 for ImageNet-1k; Shen et al.'s ImageNet-100 uses 236/224).
    """

    def __init__(
        self,
        augment: bool,
        size: int = 224,
        eval_resize: int = 256,
        interpolation: str = "bilinear",
        randaugment: RandAugment | None = None,
    ) -> None:
        _resample(interpolation)  # validate early
        self.augment, self.size, self.eval_resize = augment, size, eval_resize
        self.interpolation, self.randaugment = interpolation, randaugment

    def __call__(self, image: Any) -> torch.Tensor:
        if self.augment:
            image = random_resized_crop(image, self.size, interpolation=self.interpolation)
            if float(torch.rand(())) < 0.5:
                image = image.transpose(_pil().Transpose.FLIP_LEFT_RIGHT)
            if self.randaugment is not None:
                image = self.randaugment(image)
        else:
            image = center_crop(resize_short_side(image, self.eval_resize, self.interpolation), self.size)
        return _normalize(pil_to_tensor(image), IMAGENET_MEAN, IMAGENET_STD)
