"""Repeated-augmentation sampling (Hoffer et al. 2020; Berman et al. 2019), DDP aware.

Each epoch draws a permutation of the training set from ``(seed, epoch)``, repeats every index
``num_repeats`` times in a row, pads the list to a multiple of the number of processes and
deals it out round-robin, so that the copies of one sample land on different ranks (each
augmented by its own worker). Every rank keeps ``ceil(N / world)`` indices, so an epoch has
the usual length and sees about ``N / num_repeats`` distinct samples, each ``num_repeats``
times. This is mmpretrain's ``RepeatAugSampler`` (used by the official CIFAR runs of Shen et
al.), index for index. On one process the copies are consecutive, so they mostly share a batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

__all__ = ["RepeatAugSampler"]


class RepeatAugSampler(Sampler[int]):
    """Indices of ``n`` samples for process ``rank`` of ``world``, each sample repeated ``num_repeats`` times.

    Args:
        n: dataset length.
        num_repeats: copies of each drawn sample (mmpretrain's default 3).
        rank: this process's rank.
        world: number of processes.
        seed: the order depends only on ``(seed, epoch)`` (call :meth:`set_epoch`), so all ranks
            agree and a resumed run sees the same batches.
        shuffle: draw a permutation (else the dataset order).
    """

    def __init__(
        self, n: int, num_repeats: int = 3, rank: int = 0, world: int = 1, seed: int = 0, shuffle: bool = True
    ) -> None:
        if num_repeats < 1:
            raise ValueError(f"num_repeats must be >= 1, got {num_repeats}")
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} is not in [0, {world})")
        self.n, self.num_repeats, self.rank, self.world = int(n), int(num_repeats), int(rank), int(world)
        self.seed, self.shuffle, self.epoch = int(seed), bool(shuffle), 0
        self.num_samples = math.ceil(self.n * self.num_repeats / self.world)  # per rank, before selection
        self.total_size = self.num_samples * self.world
        self.num_selected = math.ceil(self.n / self.world)  # per rank, returned

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        repeated = [i for i in order for _ in range(self.num_repeats)]
        if not repeated:
            return iter([])
        repeated = (repeated * (self.total_size // len(repeated) + 1))[: self.total_size]
        mine = repeated[self.rank : self.total_size : self.world]
        return iter(mine[: self.num_selected])

    def __len__(self) -> int:
        return self.num_selected
