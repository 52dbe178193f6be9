"""The monitors as the training engine uses them (``run.monitor: true``).

:class:`TrainingMonitor` bundles the three per-epoch diagnostics of a run:

* the :class:`~spikeforge.monitor.activity.ActivityMonitor` over the evaluation pass: firing
  rate, dead-neuron fraction, membrane statistics and learned IMP/threshold statistics per
  layer; a neuron is dead for an input when it does not spike while that input is presented
  (Rouser), and the dead fraction is given per sample (``dead_fraction_sample``, the paper's
  and the default shown), per batch (``dead_fraction_batch``) and over the whole test set
  (``dead_fraction``);
* :class:`BatchActivity` over the training batches: the dead-neuron fraction of every batch
  (no spike over that batch), of every sample, and the firing rate, averaged over the epoch;
* the :class:`~spikeforge.monitor.activity.WeightChangeTracker`: ``||W_t - W_0|| / ||W_0||``
  per conv/linear layer, whose ``W_0`` travels in the checkpoint so that it survives a resume.

Under DDP every count is summed over the ranks before rates are formed. The engine builds
the monitor only when asked to, so a run without it pays nothing. With the monitor on, the
engine also measures the test-set activity of the untrained model (epoch 0, Rouser's Fig 4
starts there): :meth:`TrainingMonitor.initial` gives it as ``init_<metric>`` keys, logged in
the first epoch's record.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import torch
from torch import nn

from ..distributed import all_reduce, backend_device, is_initialized
from ..neuron.nodes import BaseNode
from ..train import runfolder as RF
from .activity import ActivityMonitor, WeightChangeTracker

__all__ = ["BatchActivity", "HistogramWriter", "TrainingMonitor"]


class HistogramWriter(Protocol):
    """What :meth:`TrainingMonitor.write_histograms` needs (TensorBoard's ``SummaryWriter`` has it)."""

    def add_histogram(self, tag: str, values: Any, global_step: int | None = None) -> Any: ...


class BatchActivity:
    """Dead-neuron fractions (per batch and per sample) and firing rate of the training batches.

    A forward hook on every neuron reduces the call's spikes ``[T, B, ...]`` to per-neuron
    counts and adds the number of silent neurons and of spikes to running tensors on the
    neuron's device: no host synchronisation per batch, one reduction per layer per batch.
    A "batch" is one call of the neuron (one forward pass of the model).

    Args:
        neurons: ``{layer name: neuron}`` (the monitored layers of an :class:`ActivityMonitor`).
    """

    def __init__(self, neurons: dict[str, BaseNode]) -> None:
        self.neurons = neurons
        self._hooks: list[Any] = []
        self.reset()

    def reset(self) -> None:
        """Forget the accumulated batches."""
        self._dead: dict[str, torch.Tensor] = {}
        self._spikes: dict[str, torch.Tensor] = {}
        self._calls: dict[str, int] = {}
        self._elements: dict[str, int] = {}
        self._neurons: dict[str, int] = {}
        self._silent_samples: dict[str, torch.Tensor] = {}
        self._samples: dict[str, int] = {}

    @contextlib.contextmanager
    def recording(self) -> Iterator[BatchActivity]:
        """Attach the hooks for the duration of the block (e.g. one training epoch)."""
        self._hooks = [node.register_forward_hook(self._make_hook(name)) for name, node in self.neurons.items()]
        try:
            yield self
        finally:
            for h in self._hooks:
                h.remove()
            self._hooks = []

    def _make_hook(self, name: str):
        def hook(module: nn.Module, inputs: tuple[Any, ...], spikes: torch.Tensor) -> None:
            per_sample = spikes.detach().flatten(2).sum(0, dtype=torch.float32)  # [B, neurons]
            counts = per_sample.sum(0)
            dead = (counts == 0).sum()
            silent = (per_sample == 0).sum()
            if name in self._dead:
                self._dead[name] += dead
                self._spikes[name] += counts.sum()
                self._silent_samples[name] += silent
            else:
                self._dead[name] = dead.double()
                self._spikes[name] = counts.sum().double()
                self._silent_samples[name] = silent.double()
            self._samples[name] = self._samples.get(name, 0) + spikes.shape[1]
            self._calls[name] = self._calls.get(name, 0) + 1
            self._elements[name] = self._elements.get(name, 0) + spikes.numel()
            self._neurons[name] = counts.numel()

        return hook

    @torch.no_grad()
    def compute(self) -> dict[str, float]:
        """``<layer>/train_dead_fraction`` (mean over batches), ``<layer>/train_dead_fraction_sample``
        (mean over samples) and ``<layer>/train_firing_rate``, plus ``all/``.

        Under DDP (process group initialised) the sums of all ranks are merged first, so the
        dead fraction is the mean over every rank's batches. Every rank must call it.
        """
        names = [n for n in self.neurons if n in self._dead]
        distributed = is_initialized()
        if not names and not distributed:
            return {}
        device = self._dead[names[0]].device if names else backend_device()
        # one row per layer: silent neuron-batches, batches, spikes, spike slots, neurons,
        # silent neuron-samples, samples
        rows = torch.tensor(
            [[0.0, self._calls[n], 0.0, self._elements[n], self._neurons[n], 0.0, self._samples[n]] for n in names],
            dtype=torch.float64,
        ).reshape(len(names), 7)
        rows = rows.to(device)
        if names:
            rows[:, 0] = torch.stack([self._dead[n] for n in names])
            rows[:, 2] = torch.stack([self._spikes[n] for n in names])
            rows[:, 5] = torch.stack([self._silent_samples[n] for n in names])
        if distributed:
            rows = _all_reduce_rows(rows, names, device)
        out: dict[str, float] = {}
        for n, (dead, calls, spikes, elements, neurons, silent, samples) in zip(names, rows.tolist()):
            out[f"{n}/{RF.TRAIN_DEAD_FRACTION}"] = dead / (calls * neurons) if calls else 0.0
            out[f"{n}/train_dead_fraction_sample"] = silent / (samples * neurons) if samples else 0.0
            out[f"{n}/train_firing_rate"] = spikes / elements if elements else 0.0
        if names:
            # every neuron weighted equally, as ActivityMonitor's totals: silent neurons per batch over all neurons
            table = rows.tolist()
            dead_per_batch = sum(r[0] / r[1] for r in table if r[1])
            dead_per_sample = sum(r[5] / r[6] for r in table if r[6])
            _, _, spikes, elements, neurons, _, _ = rows.sum(0).tolist()
            out[f"{RF.ALL_LAYERS}/{RF.TRAIN_DEAD_FRACTION}"] = dead_per_batch / neurons if neurons else 0.0
            out[f"{RF.ALL_LAYERS}/train_dead_fraction_sample"] = dead_per_sample / neurons if neurons else 0.0
            out[f"{RF.ALL_LAYERS}/train_firing_rate"] = spikes / elements if elements else 0.0
        return out


def _all_reduce_rows(rows: torch.Tensor, names: list[str], device: torch.device) -> torch.Tensor:
    """Sum the per-layer rows over ranks; the layer lists must agree (checked by their count)."""
    count = torch.tensor([float(len(names))], device=device)
    low, high = all_reduce(count.clone(), "min"), all_reduce(count.clone(), "max")
    if low.item() != high.item():
        raise RuntimeError(f"ranks recorded different numbers of neuron layers ({low.item():g} vs {high.item():g})")
    if names:
        neurons = rows[:, 4].clone()  # a size, not a count: keep it out of the sum
        all_reduce(rows)
        rows[:, 4] = neurons
    return rows


class TrainingMonitor:
    """Everything ``run.monitor: true`` logs, in the order the engine needs it.

    Args:
        model: the model being trained (before the first optimiser step, so that the weight
            tracker's ``W_0`` is the initialisation; DDP/compiled wrappers are looked through).
        record_v: collect membrane statistics during evaluation (off by default: every neuron layer
            then writes its ``[T, B, ...]`` trace at every call, memory and bandwidth a training
            run does not need; ``run.monitor_membrane: true`` turns it on).

    Per epoch::

        with monitor.train_epoch():   # per-batch dead fraction / firing rate
            ...train...
        with monitor.evaluation():    # per-layer activity over the test set
            ...evaluate...
        record.update(monitor.compute())   # every rank (collectives under DDP)
    """

    def __init__(self, model: nn.Module, record_v: bool = False) -> None:
        self.activity = ActivityMonitor(model, record_v=record_v)
        self.batches = BatchActivity(self.activity.neurons)
        try:
            self.weights: WeightChangeTracker | None = WeightChangeTracker(model)
        except ValueError:  # a model with no conv/linear layer has no weight change to track
            self.weights = None
        self._evaluated = False
        self._trained = False

    @contextlib.contextmanager
    def train_epoch(self) -> Iterator[TrainingMonitor]:
        """Record the per-batch activity of the training batches run inside the block."""
        self.batches.reset()
        with self.batches.recording():
            yield self
        self._trained = True

    @contextlib.contextmanager
    def evaluation(self) -> Iterator[TrainingMonitor]:
        """Record per-layer activity (and membrane statistics) over the evaluation run inside the block."""
        with self.activity:  # enable() clears the previous records
            yield self
        self._evaluated = True

    def initial(self, evaluate: Callable[[], Any]) -> dict[str, float]:
        """Test-set activity of the model as it is now (call it before the first training step).

        ``evaluate()`` runs the evaluation pass. Returns ``{"<layer>/init_<metric>": ...}`` (and
        ``all/init_<metric>``) for the evaluation metrics of :class:`ActivityMonitor`, the
        epoch-0 point of the dead-neuron and firing-rate curves. A collective under DDP.
        """
        with self.activity:
            evaluate()
        self.activity.all_reduce()
        out = {}
        for key, value in self.activity.compute().items():
            layer, _, metric = key.rpartition("/")
            out[f"{layer}/{RF.initial_metric(metric)}"] = value
        self.activity.reset()
        return out

    def compute(self) -> dict[str, float]:
        """Metrics since the last call: evaluation activity (if an evaluation ran), training-batch
        activity (if a training epoch ran) and weight change. A collective under DDP."""
        out: dict[str, float] = {}
        if self._evaluated:
            self.activity.all_reduce()
            out.update(self.activity.compute())
        if self._trained:
            out.update(self.batches.compute())
        if self.weights is not None:
            out.update(self.weights.compute())
        self._evaluated = self._trained = False
        return out

    def learned_parameters(self) -> dict[str, dict[str, torch.Tensor]]:
        """``{"imp": {layer: tensor}, "threshold": {layer: tensor}}`` of the learnable neuron parameters."""
        out: dict[str, dict[str, torch.Tensor]] = {"imp": {}, "threshold": {}}
        for name, node in self.activity.neurons.items():
            if not node.is_materialized():
                continue
            if node.learn_imp:
                out["imp"][name] = node.imp.detach()
            if node.learn_threshold:
                out["threshold"][name] = node.v_threshold.detach()
        return out

    def write_histograms(self, writer: HistogramWriter, step: int) -> int:
        """Histograms of the learned IMPs and thresholds (tags ``imp/<layer>``, ``threshold/<layer>``).

        Returns the number of histograms written.
        """
        written = 0
        for kind, tensors in self.learned_parameters().items():
            for name, t in tensors.items():
                writer.add_histogram(f"{kind}/{name}", t.float().cpu(), step)
                written += 1
        return written

    def state_dict(self) -> dict[str, Any]:
        """What must survive a resume: the weight tracker's ``W_0`` (tensors only, checkpoint-safe)."""
        return {"weight_init": self.weights.state_dict() if self.weights is not None else {}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (from the checkpoint of the run being resumed)."""
        if self.weights is not None and state.get("weight_init"):
            self.weights.load_state_dict(state["weight_init"])
