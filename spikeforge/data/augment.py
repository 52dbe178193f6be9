"""Augmentation of frames ``[T, C, H, W]`` (and images ``[C, H, W]``) with torch ops.

One random draw per sample: every frame of a sample gets the same flip, crop or affine map,
so motion within the sample stays consistent. Randomness comes from torch's generator (the
global one unless one is passed), which DataLoader seeds differently in every worker.

Policies (:class:`FrameAugment`):

* ``"flip"``: random horizontal flip.
* ``"crop_flip"``: random crop with zero padding (default 4), then flip: the 48x48
  CIFAR10-DVS / N-Caltech101 configs of Shen et al. (RandomCrop(48, pad 4) + flip).
* ``"dvs"``: flip, then ONE of Identity, ShearX/Y (±0.3), TranslateX/Y (±5 px), Rotate
  (±30°), Cutout (side 1-30 px), chosen uniformly, its magnitude drawn from 31 bins with a
  random sign: the "SpikFormerDVS" policy of the 128x128 configs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "DVS_OPS",
    "FrameAugment",
    "POLICIES",
    "affine",
    "compose",
    "cutout",
    "dvs_policy",
    "random_crop",
    "random_hflip",
    "rotate",
    "shear",
    "translate",
]

POLICIES = ("flip", "crop_flip", "dvs")


def _rand(generator: torch.Generator | None) -> float:
    return float(torch.rand((), generator=generator))


def _randint(high: int, generator: torch.Generator | None) -> int:
    return int(torch.randint(high, (), generator=generator))


def random_hflip(x: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip the last (width) axis of ``[..., H, W]`` with probability ``p``."""
    return x.flip(-1) if _rand(generator) < p else x


def random_crop(
    x: torch.Tensor, size: int | tuple[int, int], padding: int = 4, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Zero-pad ``[..., H, W]`` by ``padding`` on each side, then crop a random ``size`` window (``int`` = square)."""
    ch, cw = (size, size) if isinstance(size, int) else size
    if padding:
        x = F.pad(x, (padding, padding, padding, padding))
    h, w = x.shape[-2:]
    if h < ch or w < cw:
        raise ValueError(f"cannot crop {ch}x{cw} from {h}x{w}")
    top, left = _randint(h - ch + 1, generator), _randint(w - cw + 1, generator)
    return x[..., top : top + ch, left : left + cw]


def affine(x: torch.Tensor, inverse: torch.Tensor, mode: str = "nearest") -> torch.Tensor:
    """Warp ``[..., H, W]`` by a pixel-space map; outside pixels become 0.

    Args:
        x: frames or an image; all leading axes get the same warp.
        inverse: ``[2, 3]`` matrix taking an output pixel ``(col, row, 1)`` to the input pixel it
            samples (pixel centres at integers).
        mode: ``"nearest"`` keeps event counts integral; ``"bilinear"`` for images.
    """
    h, w = x.shape[-2:]
    # Pixel <-> normalised coordinates of grid_sample with align_corners=False: pixel = (size/2) u + (size-1)/2.
    to_pixel = torch.tensor([[w / 2, 0, (w - 1) / 2], [0, h / 2, (h - 1) / 2], [0, 0, 1]], dtype=torch.float64)
    to_norm = torch.tensor([[2 / w, 0, (1 - w) / w], [0, 2 / h, (1 - h) / h], [0, 0, 1]], dtype=torch.float64)
    full = torch.cat([inverse.to(torch.float64), torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)])
    theta = (to_norm @ full @ to_pixel)[:2].to(torch.float32)
    flat = x.reshape(1, -1, h, w)
    dtype = flat.dtype
    grid = F.affine_grid(theta[None], list(flat.shape), align_corners=False)
    out = F.grid_sample(flat.float(), grid, mode=mode, padding_mode="zeros", align_corners=False)
    return out.to(dtype).reshape(x.shape)


def shear(x: torch.Tensor, factor: float, axis: str) -> torch.Tensor:
    """Shear about the top-left corner (as torchvision's AutoAugment): ``x' = x + factor * y`` for ``axis="x"``."""
    m = [[1.0, -factor, 0.0], [0.0, 1.0, 0.0]] if axis == "x" else [[1.0, 0.0, 0.0], [-factor, 1.0, 0.0]]
    return affine(x, torch.tensor(m))


def translate(x: torch.Tensor, pixels: float, axis: str) -> torch.Tensor:
    """Move the content ``pixels`` to the right (``axis="x"``) or down (``"y"``)."""
    m = [[1.0, 0.0, -pixels], [0.0, 1.0, 0.0]] if axis == "x" else [[1.0, 0.0, 0.0], [0.0, 1.0, -pixels]]
    return affine(x, torch.tensor(m))


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate the content counter-clockwise (as seen on screen) by ``degrees`` about the centre."""
    h, w = x.shape[-2:]
    cx, cy = (w - 1) / 2, (h - 1) / 2
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    # Rows grow downwards, so an on-screen counter-clockwise turn is a clockwise one in (col, row);
    # its inverse (output -> input) is the rotation by +a in (col, row).
    m = [[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy]]
    return affine(x, torch.tensor(m))


def cutout(x: torch.Tensor, length: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero a ``length x length`` square (clipped at the borders) centred on a random pixel."""
    h, w = x.shape[-2:]
    cy, cx = _randint(h, generator), _randint(w, generator)
    top, left = max(cy - length // 2, 0), max(cx - length // 2, 0)
    out = x.clone()
    out[..., top : min(cy - length // 2 + length, h), left : min(cx - length // 2 + length, w)] = 0
    return out


# name -> (lowest magnitude, highest magnitude, signed)
DVS_OPS: dict[str, tuple[float, float, bool]] = {
    "Identity": (0.0, 0.0, False),
    "ShearX": (-0.3, 0.3, True),
    "ShearY": (-0.3, 0.3, True),
    "TranslateX": (-5.0, 5.0, True),
    "TranslateY": (-5.0, 5.0, True),
    "Rotate": (-30.0, 30.0, True),
    "Cutout": (1.0, 30.0, False),
}
_BINS = 31


def _apply_op(x: torch.Tensor, name: str, magnitude: float, generator: torch.Generator | None) -> torch.Tensor:
    if name == "ShearX":
        return shear(x, magnitude, "x")
    if name == "ShearY":
        return shear(x, magnitude, "y")
    if name == "TranslateX":
        return translate(x, magnitude, "x")
    if name == "TranslateY":
        return translate(x, magnitude, "y")
    if name == "Rotate":
        return rotate(x, magnitude)
    if name == "Cutout":
        return cutout(x, round(magnitude), generator)
    return x


def dvs_policy(x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, str, float]:
    """Apply one randomly chosen op of :data:`DVS_OPS`; returns ``(x, op name, magnitude)``."""
    names = list(DVS_OPS)
    name = names[_randint(len(names), generator)]
    lo, hi, signed = DVS_OPS[name]
    magnitude = lo + (hi - lo) * _randint(_BINS, generator) / (_BINS - 1)
    if signed and _rand(generator) < 0.5:
        magnitude = -magnitude
    return _apply_op(x, name, magnitude, generator), name, magnitude


class FrameAugment:
    """Callable ``[T, C, H, W] -> [T, C, H, W]`` applying a policy (see the module docstring).

    Args:
        policy: ``"flip"``, ``"crop_flip"`` or ``"dvs"``.
        padding: zero padding of ``"crop_flip"``'s crop.
        generator: torch generator (``None``: the global one).
    """

    def __init__(self, policy: str = "crop_flip", padding: int = 4, generator: torch.Generator | None = None) -> None:
        if policy not in POLICIES:
            raise ValueError(f"augmentation policy must be one of {POLICIES}, got {policy!r}")
        self.policy, self.padding, self.generator = policy, padding, generator

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.policy == "crop_flip":
            x = random_crop(x, (x.shape[-2], x.shape[-1]), self.padding, self.generator)
        x = random_hflip(x, 0.5, self.generator)
        if self.policy == "dvs":
            x = dvs_policy(x, self.generator)[0]
        return x

    def __repr__(self) -> str:
        return f"FrameAugment(policy={self.policy!r}, padding={self.padding})"


def compose(*fns: Callable[[torch.Tensor], torch.Tensor] | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """Chain callables left to right, skipping ``None``."""
    chain = [f for f in fns if f is not None]

    def run(x: torch.Tensor) -> torch.Tensor:
        for f in chain:
            x = f(x)
        return x

    return run
