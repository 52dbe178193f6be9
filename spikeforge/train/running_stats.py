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
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["adopt_first_batch_statistics", "fresh_batch_norms"]


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
