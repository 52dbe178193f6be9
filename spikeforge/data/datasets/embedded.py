"""Datasets that need no download.

* ``digits``: scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes),
  pixel values scaled to [0, 1], items ``[1, 8, 8]``; a stratified fixed split.
* ``mnist1d``: MNIST-1D (Greydanus 2020) generated offline by the ``mnist1d`` package
  (4000 train / 1000 test signals of length 40, 10 classes), fed as a 40-step temporal
  sequence: items ``[40, window]`` (by default one value per step).
* ``mnist1d_static``: the same signals as static ``[40]`` vectors (for the ``direct`` encoder):
  a dense network reaches only about 60-70 % on MNIST-1D, so it leaves room for effects that
  the nearly solved ``digits`` task hides.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import torch
from torch.utils.data import TensorDataset

from ...errors import UserError
from ...extras import require
from ..registry import DatasetInfo

__all__ = ["DATASETS", "DigitsOptions", "Mnist1dOptions", "Mnist1dStaticOptions", "digits", "mnist1d", "mnist1d_static"]


@dataclasses.dataclass(frozen=True)
class DigitsOptions:
    """Options of ``digits``.

    Attributes:
        test_fraction: share of each class held out for testing (0.2: 1437/360).
        seed: seed of the fixed stratified split.
    """

    test_fraction: float = 0.2
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class Mnist1dOptions:
    """Options of ``mnist1d``.

    Attributes:
        seed: the generator's seed (42 is the package's default dataset).
        window: how many recent signal values each step sees.
    """

    seed: int = 42
    window: int = 1


@dataclasses.dataclass(frozen=True)
class Mnist1dStaticOptions:
    """Options of ``mnist1d_static``: ``seed``, the generator's seed (42: the package's default)."""

    seed: int = 42


@functools.lru_cache(maxsize=4)
def _digits_split(test_fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    require("sklearn", "dataset 'digits'")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]  # [N, 1, 8, 8] in [0, 1]
    return tuple(train_test_split(x, bunch.target, test_size=test_fraction, stratify=bunch.target, random_state=seed))


def digits(root: str | None, split: str, T: int | None, options: DigitsOptions) -> TensorDataset:
    """scikit-learn's digits: items ``([1, 8, 8] float32 in [0, 1], label)``."""
    x_tr, x_te, y_tr, y_te = _digits_split(float(options.test_fraction), int(options.seed))
    x, y = (x_tr, y_tr) if split == "train" else (x_te, y_te)
    return TensorDataset(torch.from_numpy(x), torch.from_numpy(y).long())


@functools.lru_cache(maxsize=2)
def _mnist1d_arrays(seed: int) -> dict[str, np.ndarray]:
    require("mnist1d", "dataset 'mnist1d'")
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = seed
    return make_dataset(args)


def mnist1d(root: str | None, split: str, T: int | None, options: Mnist1dOptions) -> TensorDataset:
    """MNIST-1D as a temporal task: items ``([40, window] float32, label)``.

    Step ``t`` sees the signal values ``x[t - window + 1 .. t]`` (zero-padded at the start),
    so ``window=1`` feeds one scalar per step and the network must remember the past.
    """
    seed, window = options.seed, options.window
    d = _mnist1d_arrays(int(seed))
    x, y = (d["x"], d["y"]) if split == "train" else (d["x_test"], d["y_test"])
    x = torch.from_numpy(np.asarray(x, dtype=np.float32))  # [N, 40]
    if T is not None and T != x.shape[1]:
        raise UserError(f"mnist1d sequences have {x.shape[1]} steps; set T: {x.shape[1]} (got T={T})")
    if window < 1:
        raise UserError(f"mnist1d window must be >= 1, got {window}")
    padded = torch.nn.functional.pad(x, (window - 1, 0))
    steps = padded.unfold(1, window, 1).contiguous()  # [N, 40, window]
    return TensorDataset(steps, torch.from_numpy(np.asarray(y)).long())


def mnist1d_static(root: str | None, split: str, T: int | None, options: Mnist1dStaticOptions) -> TensorDataset:
    """MNIST-1D signals as static items ``([40] float32, label)``; ``T`` is ignored (direct encoding)."""
    seq = mnist1d(root, split, None, Mnist1dOptions(seed=options.seed, window=1))
    x, y = seq.tensors
    return TensorDataset(x[..., 0].contiguous(), y)


DATASETS = (
    DatasetInfo(
        "digits",
        "static",
        10,
        digits,
        needs_root=False,
        description="scikit-learn 8x8 digits (bundled)",
        options_type=DigitsOptions,
    ),
    DatasetInfo(
        "mnist1d",
        "sequence",
        10,
        mnist1d,
        needs_root=False,
        description="MNIST-1D generated offline, 40 steps",
        options_type=Mnist1dOptions,
    ),
    DatasetInfo(
        "mnist1d_static",
        "static",
        10,
        mnist1d_static,
        needs_root=False,
        description="MNIST-1D signals as static 40-vectors",
        options_type=Mnist1dStaticOptions,
    ),
)
