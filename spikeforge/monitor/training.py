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
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from .. import records as R
from ..distributed import all_reduce_dict, is_initialized
from ..neuron.nodes import BaseNode
from .activity import ActivityMonitor, WeightChangeTracker
from .metrics import BatchDeadNeurons, LayerMetric, attach, merge

__all__ = ["BatchActivity", "HistogramWriter", "TrainingMonitor"]


class HistogramWriter(Protocol):
    """What :meth:`TrainingMonitor.write_histograms` needs (TensorBoard's ``SummaryWriter`` has it)."""

    def add_histogram(self, tag: str, values: Any, global_step: int | None = None) -> Any: ...


class BatchActivity:
    """Dead-neuron fractions (per batch and per sample) and firing rate of the training batches.

    A forward hook on every neuron feeds its :class:`~.metrics.BatchDeadNeurons`: the call's
    spikes ``[T, B, ...]`` are reduced to per-neuron counts and the numbers of silent neurons
    and of spikes added to running tensors on the neuron's device: no host synchronisation per
    batch, one reduction per layer per batch. A "batch" is one call of the neuron (one forward
    pass of the model); a checkpointed block's recomputation in the backward is not one.

    Args:
        neurons: ``{layer name: neuron}`` (the monitored layers of an :class:`ActivityMonitor`).
    """

    def __init__(self, neurons: dict[str, BaseNode]) -> None:
        self.neurons = neurons
        self._hooks: list[RemovableHandle] = []
        self.metrics = {name: BatchDeadNeurons() for name in neurons}

    def reset(self) -> None:
        """Forget the accumulated batches."""
        for metric in self.metrics.values():
            metric.reset()

    @contextlib.contextmanager
    def recording(self) -> Iterator[BatchActivity]:
        """Attach the hooks for the duration of the block (e.g. one training epoch)."""
        self._hooks = [attach(node, [self.metrics[name]]) for name, node in self.neurons.items()]
        try:
            yield self
        finally:
            for h in self._hooks:
                h.remove()
            self._hooks = []

    @torch.no_grad()
    def compute(self) -> dict[str, float]:
        """``<layer>/train_dead_fraction`` (mean over batches), ``<layer>/train_dead_fraction_sample``
        (mean over samples) and ``<layer>/train_firing_rate``, plus ``all/``.

        Under DDP (process group initialised) the sums of all ranks are merged first, so the
        dead fraction is the mean over every rank's batches. Every rank must call it.
        """
        recorded = {n: m for n, m in self.metrics.items() if m.recorded}
        if is_initialized():
            _check_same_layers(len(recorded))
            merge(recorded)
        out: dict[str, float] = {}
        for n, metric in recorded.items():
            out.update({f"{n}/{key}": value for key, value in metric.compute().items()})
        if recorded:
            # every neuron weighted equally, as ActivityMonitor's totals: silent neurons per batch over all neurons
            sums = {n: m.sums() for n, m in recorded.items()}
            dead_per_batch = sum(dead / calls for dead, calls, *_ in sums.values() if calls)
            dead_per_sample = sum(s[4] / s[5] for s in sums.values() if s[5])
            spikes = sum(s[2] for s in sums.values())
            elements = sum(s[3] for s in sums.values())
            neurons = float(sum(m.num_neurons for m in recorded.values()))
            out[f"{R.ALL_LAYERS}/{R.TRAIN_DEAD_FRACTION}"] = dead_per_batch / neurons if neurons else 0.0
            out[f"{R.ALL_LAYERS}/{R.TRAIN_DEAD_FRACTION_SAMPLE}"] = dead_per_sample / neurons if neurons else 0.0
            out[f"{R.ALL_LAYERS}/{R.TRAIN_FIRING_RATE}"] = spikes / elements if elements else 0.0
        return out


def _check_same_layers(count: int) -> None:
    """Every rank must have recorded the same number of neuron layers before their sums are merged."""
    low = all_reduce_dict({"layers": torch.tensor(float(count))}, "min")["layers"].item()
    high = all_reduce_dict({"layers": torch.tensor(float(count))}, "max")["layers"].item()
    if low != high:
        raise RuntimeError(f"ranks recorded different numbers of neuron layers ({low:g} vs {high:g})")


class TrainingMonitor:
    """Everything ``run.monitor: true`` logs, in the order the engine needs it.

    Args:
        model: the model being trained (before the first optimiser step, so that the weight
            tracker's ``W_0`` is the initialisation; DDP/compiled wrappers are looked through).
        record_v: collect membrane statistics during evaluation (off by default: every neuron layer
            then writes its ``[T, B, ...]`` trace at every call, memory and bandwidth a training
            run does not need; ``run.monitor_membrane: true`` turns it on).
        metrics: more per-layer metrics of the evaluation pass (see :class:`ActivityMonitor`).

    Per epoch::

        with monitor.train_epoch():   # per-batch dead fraction / firing rate
            ...train...
        with monitor.evaluation():    # per-layer activity over the test set
            ...evaluate...
        record.update(monitor.compute())   # every rank (collectives under DDP)
    """

    def __init__(
        self, model: nn.Module, record_v: bool = False, metrics: Sequence[Callable[[], LayerMetric]] = ()
    ) -> None:
        self.activity = ActivityMonitor(model, record_v=record_v, metrics=metrics)
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
            out[f"{layer}/{R.initial_metric(metric)}"] = value
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
