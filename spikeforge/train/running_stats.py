"""Batch-norm running statistics that start from the first training batch instead of ``(0, 1)``.

PyTorch's batch norm starts its running mean and variance at 0 and 1 and moves them by
``momentum`` (0.1) per training batch, so after ``n`` batches the initial 1 still weighs
``0.9**n`` in the running variance. When the true variance is small (a Kaiming ``fan_out``
init on a 1-channel 8x8 input gives about 0.01) that remnant dominates for the first few
dozen batches: the embedded digits job, trained for one epoch (22 batches), reached 77%
training accuracy but 9.7% test accuracy, because evaluation divided by a running variance
of 0.1 instead of 0.01 and no neuron reached its threshold.

The engine therefore replaces, after the first training batch of a fresh run, the running
statistics of every batch norm that was updated exactly once by that batch's own statistics,
recovered exactly from the one update (``mean = r_mean / m``, ``var = (r_var - (1 - m)) / m``).
From then on the usual exponential average runs unchanged; after ``n`` batches the difference
to PyTorch's rule is the ``0.9**n`` remnant of the initial values, nothing else. Nothing is
hooked into the model (no graph change under ``torch.compile``), and a resumed run is not
touched (its batch norms have been updated before).

The same remnant makes the monitor's epoch-0 point (the untrained model's dead neurons, Rouser
Fig 4) an artifact for a model with batch norms: evaluated with running statistics (0, 1), the
embedded digits network had 100% dead neurons per sample before training. :func:`calibrated`
gives the fresh norms, for that one measurement, the mean statistics of a few batches, and
puts everything back afterwards, so the monitored run trains exactly as an unmonitored one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["adopt_first_batch_statistics", "calibrated", "fresh_batch_norms"]


def fresh_batch_norms(model: nn.Module) -> list[_BatchNorm]:
    """The batch norms of ``model`` that track running statistics with a momentum and were never updated."""
    return [
        m
        for m in model.modules()
        if isinstance(m, _BatchNorm)
        and m.track_running_stats
        and m.momentum is not None  # momentum None is PyTorch's cumulative average: already unbiased
        and m.num_batches_tracked is not None
        and int(m.num_batches_tracked) == 0
    ]


@torch.no_grad()
def adopt_first_batch_statistics(norms: list[_BatchNorm]) -> int:
    """Replace the running statistics of each norm in ``norms`` updated exactly once since
    :func:`fresh_batch_norms` by that one batch's statistics; returns how many were replaced.

    A norm called several times in the batch (once per time step, say) is left as it is: its
    initial values already weigh ``(1 - m)**calls`` and the single batches cannot be told apart.
    """
    replaced = 0
    for bn in norms:
        if bn.num_batches_tracked is None or int(bn.num_batches_tracked) != 1:
            continue
        m = float(bn.momentum)  # type: ignore[arg-type]  # fresh_batch_norms kept only numeric momenta
        if bn.running_mean is not None:
            bn.running_mean.div_(m)
        if bn.running_var is not None:
            bn.running_var.sub_(1.0 - m).div_(m).clamp_(min=0.0)
        replaced += 1
    return replaced


@contextlib.contextmanager
def calibrated(model: nn.Module, batches: Iterable[torch.Tensor]) -> Iterator[int]:
    """Inside the block, the fresh batch norms of ``model`` hold the statistics of ``batches``.

    Each ``[T, B, ...]`` model input of ``batches`` runs through ``model`` in eval mode with only
    the fresh norms in training mode and PyTorch's cumulative average (``momentum=None``), so
    their running mean and variance become the mean over those batches. On exit the norms'
    buffers, momenta and modes, and the model's mode, are what they were. Yields the number of
    norms calibrated (0: nothing was run).
    """
    # SyncBatchNorm would run a collective per batch in training mode: ranks whose test shards hold
    # different numbers of batches would wait on each other forever. Those keep (0, 1) here.
    norms = [bn for bn in fresh_batch_norms(model) if not isinstance(bn, nn.SyncBatchNorm)]
    if not norms:
        yield 0
        return
    saved = [
        (bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone(), bn.momentum, bn.training)
        for bn in norms
        if bn.running_mean is not None and bn.running_var is not None and bn.num_batches_tracked is not None
    ]
    was_training = model.training
    try:
        model.eval()
        for bn in norms:
            bn.train()
            bn.momentum = None
        with torch.no_grad():
            for x in batches:
                model(x)
        for bn in norms:
            bn.eval()
        yield len(norms)
    finally:
        with torch.no_grad():
            for bn, (mean, var, tracked, momentum, training) in zip(norms, saved, strict=True):
                bn.running_mean.copy_(mean)  # type: ignore[union-attr]
                bn.running_var.copy_(var)  # type: ignore[union-attr]
                bn.num_batches_tracked.copy_(tracked)  # type: ignore[union-attr]
                bn.momentum = momentum
                bn.train(training)
        model.train(was_training)
