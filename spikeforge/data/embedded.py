"""Datasets that need no download.

* ``digits``: scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes),
  pixel values scaled to [0, 1], items ``[1, 8, 8]``; a stratified fixed split.
* ``mnist1d``: MNIST-1D (Greydanus 2020) generated offline by the ``mnist1d`` package
  (4000 train / 1000 test signals of length 40, 10 classes), fed as a 40-step temporal
  sequence: items ``[40, window]`` (by default one value per step).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch.utils.data import TensorDataset

from .registry import register_dataset

__all__ = ["digits", "mnist1d"]


@functools.lru_cache(maxsize=4)
def _digits_split(test_fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]  # [N, 1, 8, 8] in [0, 1]
    return tuple(train_test_split(x, bunch.target, test_size=test_fraction, stratify=bunch.target, random_state=seed))


@register_dataset("digits", "static", 10, needs_root=False, description="scikit-learn 8x8 digits (bundled)")
def digits(root: str | None, split: str, T: int | None, test_fraction: float = 0.2, seed: int = 0) -> TensorDataset:
    """scikit-learn's digits: items ``([1, 8, 8] float32 in [0, 1], label)``.

    Args:
        test_fraction: share of each class held out for testing (default 0.2: 1437/360).
        seed: seed of the fixed stratified split.
    """
    x_tr, x_te, y_tr, y_te = _digits_split(float(test_fraction), int(seed))
    x, y = (x_tr, y_tr) if split == "train" else (x_te, y_te)
    return TensorDataset(torch.from_numpy(x), torch.from_numpy(y).long())


@functools.lru_cache(maxsize=2)
def _mnist1d_arrays(seed: int) -> dict[str, np.ndarray]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:  # pragma: no cover - mnist1d is a dependency
        raise ImportError("dataset 'mnist1d' needs the mnist1d package: pip install mnist1d") from exc
    args = get_dataset_args()
    args.seed = seed
    return make_dataset(args)


@register_dataset("mnist1d", "sequence", 10, needs_root=False, description="MNIST-1D generated offline, 40 steps")
def mnist1d(root: str | None, split: str, T: int | None, seed: int = 42, window: int = 1) -> TensorDataset:
    """MNIST-1D as a temporal task: items ``([40, window] float32, label)``.

    Step ``t`` sees the signal values ``x[t - window + 1 .. t]`` (zero-padded at the start),
    so ``window=1`` feeds one scalar per step and the network must remember the past.

    Args:
        seed: the generator's seed (42 is the package's default dataset).
        window: how many recent signal values each step sees.
    """
    d = _mnist1d_arrays(int(seed))
    x, y = (d["x"], d["y"]) if split == "train" else (d["x_test"], d["y_test"])
    x = torch.from_numpy(np.asarray(x, dtype=np.float32))  # [N, 40]
    if T is not None and T != x.shape[1]:
        raise ValueError(f"mnist1d sequences have {x.shape[1]} steps; set T: {x.shape[1]} (got T={T})")
    if window < 1:
        raise ValueError(f"mnist1d window must be >= 1, got {window}")
    padded = torch.nn.functional.pad(x, (window - 1, 0))
    steps = padded.unfold(1, window, 1).contiguous()  # [N, 40, window]
    return TensorDataset(steps, torch.from_numpy(np.asarray(y)).long())
