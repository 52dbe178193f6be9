"""Batch-norm running statistics start from the first training batch (train/running_stats.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.train.running_stats import adopt_first_batch_statistics, calibrated, fresh_batch_norms


def test_one_update_is_replaced_by_the_batch_statistics():
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(3)
    x = 0.1 * torch.randn(8, 3, 4, 4) + 0.5  # variance 0.01: PyTorch's running var would be 0.9 + 0.001
    norms = fresh_batch_norms(bn)
    assert norms == [bn]
    bn.train()(x)
    assert bn.running_var[0].item() == pytest.approx(0.9 + 0.1 * x[:, 0].var().item(), rel=1e-6)
    assert adopt_first_batch_statistics(norms) == 1
    torch.testing.assert_close(bn.running_mean, x.mean(dim=(0, 2, 3)), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bn.running_var, x.var(dim=(0, 2, 3), unbiased=True), rtol=1e-4, atol=1e-6)
    assert int(bn.num_batches_tracked) == 1  # the exponential average continues from here as usual


def test_norms_updated_twice_or_without_momentum_or_already_trained_are_left_alone():
    twice, cumulative, trained = nn.BatchNorm1d(2), nn.BatchNorm1d(2, momentum=None), nn.BatchNorm1d(2)
    trained.train()(torch.randn(4, 2))
    assert fresh_batch_norms(nn.Sequential(twice, cumulative, trained)) == [twice]
    x = torch.randn(16, 2)
    twice.train()(x)
    twice(x)
    before = twice.running_var.clone()
    assert adopt_first_batch_statistics([twice]) == 0
    torch.testing.assert_close(twice.running_var, before)


def test_calibrated_norms_hold_the_batches_statistics_inside_and_their_own_after():
    torch.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm1d(2), nn.Dropout(0.5))
    batches = [torch.randn(8, 2) * 0.1 + 3.0 for _ in range(3)]
    with calibrated(model, batches) as n:
        assert n == 1 and not model.training and not model[0].training
        torch.testing.assert_close(model[0].running_mean, torch.cat(batches).mean(0), rtol=1e-5, atol=1e-5)
        assert model[0].running_var.max().item() < 0.1  # the batches' variance, not the initial 1
    assert model.training and model[0].momentum == 0.1 and int(model[0].num_batches_tracked) == 0
    torch.testing.assert_close(model[0].running_mean, torch.zeros(2))
    torch.testing.assert_close(model[0].running_var, torch.ones(2))
    with calibrated(nn.Linear(2, 2), batches) as n:  # nothing to calibrate: nothing runs
        assert n == 0
