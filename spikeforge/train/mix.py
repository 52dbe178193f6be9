"""Mixup and CutMix on a batch, producing soft targets ``[B, K]``.

Works for static batches ``[B, C, H, W]`` and for sequences ``[B, T, C, H, W]`` (the same box
is cut in every frame). Samples are mixed with the batch reversed, as timm does.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["mix_batch"]


def mix_batch(
    x: torch.Tensor, y: torch.Tensor, num_classes: int, mixup: float, cutmix: float, prob: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(x_mixed, soft_targets)``; with both alphas 0 (or by chance ``1 - prob``) only one-hot targets.

    When both are on, each batch uses one of them with equal probability. The mixing
    weight ``lam`` comes from ``Beta(alpha, alpha)`` drawn with NumPy's global RNG (saved in
    checkpoints); for CutMix ``lam`` is corrected to the exact area of the box.
    """
    target = F.one_hot(y, num_classes).float() if y.dim() == 1 else y.float()
    if (mixup <= 0 and cutmix <= 0) or np.random.rand() >= prob:
        return x, target
    use_cutmix = cutmix > 0 and (mixup <= 0 or np.random.rand() < 0.5)
    alpha = cutmix if use_cutmix else mixup
    lam = float(np.random.beta(alpha, alpha))
    flipped = x.flip(0)
    if use_cutmix:
        if x.dim() < 3:
            raise ValueError(f"cutmix needs image-like input [..., H, W], got shape {tuple(x.shape)}")
        H, W = x.shape[-2:]
        cut = np.sqrt(1 - lam)
        ch, cw = int(H * cut), int(W * cut)
        cy, cx = np.random.randint(H), np.random.randint(W)
        y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, H)
        x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, W)
        x = x.clone()
        x[..., y0:y1, x0:x1] = flipped[..., y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (H * W)
    else:
        x = lam * x + (1 - lam) * flipped
    return x, lam * target + (1 - lam) * target.flip(0)
