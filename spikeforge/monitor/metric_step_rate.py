"""``run.metrics: [step_rate]``: a layer's firing rate at each time step.

The IMP paper's argument is about the first steps: with a zero initial membrane potential every
neuron starts at the same state, so the early steps fire little and alike; a learned IMP changes
that. This metric shows it per layer: ``firing_rate_t<k>`` = spikes at step ``k`` / (neurons x
samples), for ``k = 0 .. T-1`` (logged as ``monitor/<layer>/firing_rate_t<k>``).

It is also the worked example of a metric in one module (docs/contributing.md).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .. import records as R
from .metrics import LayerMetric, register_metric

__all__ = ["StepFiringRate"]


@register_metric("step_rate")
class StepFiringRate(LayerMetric):
    """Per-step firing rate of one layer over every call since :meth:`reset` (``T`` fixed between calls)."""

    def reset(self) -> None:
        self.spikes_per_step: torch.Tensor | None = None  # [T] float64: spikes summed over samples and neurons
        self.neuron_samples = 0  # sum over calls of B * neurons

    def update(self, module: nn.Module, spikes: torch.Tensor) -> None:
        """``spikes``: ``[T, B, *features]``."""
        per_step = spikes.detach().flatten(1).sum(dim=1, dtype=torch.float64)  # [T]
        if self.spikes_per_step is not None and self.spikes_per_step.shape != per_step.shape:
            raise ValueError(
                f"step_rate: T changed between calls ({self.spikes_per_step.numel()} -> {per_step.numel()})"
            )
        self.spikes_per_step = per_step if self.spikes_per_step is None else self.spikes_per_step + per_step
        self.neuron_samples += spikes[0].numel()

    @property
    def recorded(self) -> bool:
        return self.spikes_per_step is not None and self.neuron_samples > 0

    def state(self) -> dict[str, torch.Tensor]:
        like = self.spikes_per_step
        spikes = like if like is not None else torch.zeros(0, dtype=torch.float64)
        count = torch.tensor(float(self.neuron_samples), dtype=torch.float64, device=spikes.device)
        return {"spikes_per_step": spikes, "neuron_samples": count}

    def load_state(self, state: Mapping[str, torch.Tensor]) -> None:
        self.spikes_per_step = state["spikes_per_step"].clone()
        self.neuron_samples = int(state["neuron_samples"].item())

    def compute(self) -> dict[str, float]:
        if not self.recorded:
            return {}
        assert self.spikes_per_step is not None
        rates = (self.spikes_per_step / self.neuron_samples).tolist()
        return {R.step_metric(R.FIRING_RATE, t): rate for t, rate in enumerate(rates)}
