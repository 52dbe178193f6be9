"""Repeated-augmentation sampling: mmpretrain's RepeatAugSampler, index for index."""

import math

import pytest
import torch

from spikeforge.data.sampler import RepeatAugSampler


def _hand(n, repeats, rank, world, seed, epoch):
    # mmpretrain RepeatAugSampler.__iter__ written out.
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch)).tolist()
    rep = [i for i in order for _ in range(repeats)]
    num_samples = math.ceil(n * repeats / world)
    total = num_samples * world
    rep = (rep * (total // len(rep) + 1))[:total]
    return rep[rank:total:world][: math.ceil(n / world)]


@pytest.mark.parametrize(("n", "world"), [(10, 1), (10, 2), (7, 3)])
def test_matches_the_reference_rule_on_every_rank(n, world):
    for rank in range(world):
        s = RepeatAugSampler(n, 3, rank, world, seed=5)
        s.set_epoch(2)
        assert list(s) == _hand(n, 3, rank, world, 5, 2)
        assert len(s) == math.ceil(n / world) == len(list(s))


def test_copies_of_a_sample_go_to_different_ranks_and_epochs_differ():
    ranks = [RepeatAugSampler(12, 3, r, 3, seed=0) for r in range(3)]
    per_rank = [list(s) for s in ranks]
    # The three copies of each drawn sample are dealt to the three ranks.
    assert per_rank[0] == per_rank[1] == per_rank[2]
    assert len(set(per_rank[0])) == 4
    first = list(ranks[0])
    ranks[0].set_epoch(1)
    assert list(ranks[0]) != first


def test_single_process_repeats_consecutively():
    s = RepeatAugSampler(6, 3, seed=1)
    idx = list(s)
    assert len(idx) == 6 and idx[0] == idx[1] == idx[2] and idx[3] == idx[4] == idx[5]


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_repeats"):
        RepeatAugSampler(4, 0)
    with pytest.raises(ValueError, match="rank 2"):
        RepeatAugSampler(4, 3, rank=2, world=2)
