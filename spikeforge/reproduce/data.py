"""Datasets that only the reproduction study uses, listed in :data:`DATASETS` like the built-ins'.

:func:`register` adds them to the dataset registry; the library never imports this module: the
study's plug-in (:mod:`spikeforge.reproduce.plugin`) calls it, from this package's own
``spikeforge.plugins`` entry point (so these names work in every command, ``spikeforge train`` too)
and when the study runs.

* ``mnist1d_static`` (built in, :mod:`spikeforge.data.datasets.embedded`): MNIST-1D (Greydanus
  2020) as a static 40-feature vector. The bundled ``digits`` task is nearly solved by a small
  conv SNN within two epochs, which leaves little room to see an effect; a dense network reaches
  only about 60-70% on MNIST-1D.
* ``random_memorisation``: the memorisation toy of Shen et al.'s official "convergence speed"
  script (``etc/convergence speed/plot_bp_static.py``): ``n = 1024`` inputs uniform on [0, 1)
  (``torch.rand``) with ``dim = 16`` features and random labels of ``classes = 16``, the same set
  for training and testing (the task is to memorise it; only the training curves matter).
* ``sim_event_digits_hard``: ``sim_event_digits`` made harder so that an event-data effect has
  room to show: a fixed random subset of ``train_samples`` training recordings, plus Poisson
  background noise of ``noise`` events per pixel, polarity and frame added to every frame (the
  noise of item ``i`` is drawn from a generator seeded with ``(noise_seed, split, i)``, so
  every epoch and every arm sees the same noisy frames).
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset, TensorDataset

from ..data.registry import DatasetInfo, add_dataset

__all__ = [
    "DATASETS",
    "MEMORISATION",
    "MEMORISATION_CLASSES",
    "MNIST1D_STATIC",
    "SIM_EVENTS_HARD",
    "NoisyFrames",
    "register",
]

MNIST1D_STATIC = "mnist1d_static"  # a built-in dataset; named here for the study's tasks
MEMORISATION = "random_memorisation"
SIM_EVENTS_HARD = "sim_event_digits_hard"


MEMORISATION_CLASSES = 16  # the official script's label range: randint(0, 16)


def _random_memorisation(
    root: str | None,
    split: str,
    T: int | None,
    n: int = 1024,
    dim: int = 16,
    classes: int = MEMORISATION_CLASSES,
    seed: int = 0,
) -> TensorDataset:
    """``n`` items ``([dim] float32 uniform on [0, 1), label in [0, classes))``, drawn as the official
    script draws them (``torch.rand`` then ``torch.randint``); the train and test splits are the same set."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, dim, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return TensorDataset(x, y)


class NoisyFrames(Dataset):
    """Items of ``base`` (``(frames [T, C, H, W], label)``), restricted to ``indices``, plus Poisson noise."""

    def __init__(self, base: Dataset, indices: list[int], noise: float, seed: int) -> None:
        self.base, self.indices, self.noise, self.seed = base, indices, float(noise), int(seed)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        frames, label = self.base[self.indices[i]]
        if self.noise > 0:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
            frames = frames + torch.poisson(torch.full(frames.shape, self.noise), generator=g).to(frames.dtype)
        return frames, label


def _sim_events_hard(
    root: str | None,
    split: str,
    T: int | None,
    train_samples: int = 400,
    noise: float = 0.05,
    size: int | None = 16,
    split_by: str = "number",
    subset_seed: int = 0,
) -> Dataset:
    """``sim_event_digits`` with ``train_samples`` training recordings and ``noise`` Poisson events per pixel/frame."""
    from ..data.registry import build_dataset

    base = build_dataset("sim_event_digits", split, root=root, T=T, size=size, split_by=split_by)
    indices = list(range(len(base)))
    if split == "train" and train_samples < len(base):
        g = torch.Generator().manual_seed(subset_seed)
        indices = sorted(torch.randperm(len(base), generator=g)[:train_samples].tolist())
    return NoisyFrames(base, indices, noise, seed=(0 if split == "train" else 1) + 2 * subset_seed)


DATASETS = (
    DatasetInfo(
        MEMORISATION,
        "static",
        MEMORISATION_CLASSES,
        _random_memorisation,
        needs_root=False,
        description="random inputs with random labels (memorise)",
    ),
    DatasetInfo(
        SIM_EVENTS_HARD,
        "sequence",
        10,
        _sim_events_hard,
        needs_root=False,
        description="sim_event_digits with fewer training samples and background noise",
    ),
)


def register() -> None:
    """Register :data:`DATASETS` with the dataset registry."""
    for info in DATASETS:
        add_dataset(info)
