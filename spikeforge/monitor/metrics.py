"""Per-layer metrics of spiking activity as small classes, each fed by its layer's forward hook.

Every metric (as NeuroBench's workload metrics) has four steps:

* :meth:`LayerMetric.update` ``(module, spikes)``: one call of the neuron layer, ``spikes`` its
  output ``[T, B, *features]``; reductions stay on the spikes' device (no host sync per call);
* :meth:`LayerMetric.state` / :meth:`LayerMetric.load_state`: the running sums as named tensors,
  each merged over ranks by its :attr:`LayerMetric.reductions` entry (``"sum"`` unless said);
  :func:`merge` does it for many metrics at once, one collective per kind of reduction;
* :meth:`LayerMetric.compute`: ``{metric name: value}``, the names from :mod:`spikeforge.records`.

:func:`attach` registers the forward hook that feeds a layer's metrics. The hook does nothing
while a checkpointed block runs its forward again for the backward
(:func:`spikeforge.memory.recomputing`): a recomputed call is not a second call of the layer.

Adding a metric: subclass :class:`LayerMetric` in one module and register it by name with
:func:`register_metric`; a config turns it on with ``run.metrics: [name]`` (beside ``run.monitor: true``),
and its :meth:`~LayerMetric.compute` entries are logged as ``monitor/<layer>/<name>``. A built-in
metric lives in a module ``spikeforge/monitor/metric_<name>.py`` (found by listing the package, e.g.
:mod:`.metric_step_rate`); a third-party package registers its own from its ``spikeforge.plugins`` entry
point (:mod:`spikeforge.registry`). The metrics every monitor always keeps (spike counts, silent
neurons, membrane statistics) are the classes below.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from .. import records as R
from ..distributed import Reduction, all_reduce_dict, is_initialized
from ..memory.recompute import recomputing
from ..registry import Registry

__all__ = [
    "BatchDeadNeurons",
    "METRICS",
    "LayerMetric",
    "MembraneStats",
    "SilentNeurons",
    "SpikeCounts",
    "attach",
    "merge",
    "register_metric",
]


class LayerMetric(ABC):
    """One metric of one neuron layer: ``update`` per call, ``state``/``load_state`` to merge ranks, ``compute``."""

    #: how each tensor of :meth:`state` merges over ranks; a name not listed is summed
    reductions: ClassVar[Mapping[str, Reduction]] = {}

    def __init__(self) -> None:
        self.reset()

    @abstractmethod
    def reset(self) -> None:
        """Forget every call recorded so far."""

    @abstractmethod
    def update(self, module: nn.Module, spikes: torch.Tensor) -> None:
        """Record one call of the layer: ``spikes`` ``[T, B, *features]`` (its output)."""

    @property
    @abstractmethod
    def recorded(self) -> bool:
        """Whether at least one call was recorded (a metric with nothing recorded computes nothing)."""

    @abstractmethod
    def state(self) -> dict[str, torch.Tensor]:
        """The running sums as named float64 tensors (the same names and shapes on every rank)."""

    @abstractmethod
    def load_state(self, state: Mapping[str, torch.Tensor]) -> None:
        """Take the merged :meth:`state` of every rank."""

    @abstractmethod
    def compute(self) -> dict[str, float]:
        """``{metric name: value}`` over the calls recorded since :meth:`reset`."""


def _load_builtin_metrics() -> None:
    """Import every ``spikeforge/monitor/metric_*.py`` module (each registers its metric)."""
    package = importlib.import_module(__package__ or "spikeforge.monitor")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("metric_"):
            importlib.import_module(f"{package.__name__}.{info.name}")


#: Metrics a config can turn on by name (``run.metrics``): ``name -> LayerMetric subclass``.
METRICS: Registry[type[LayerMetric]] = Registry("metric", builtins=_load_builtin_metrics)


def register_metric(name: str, *, replace: bool = False) -> Callable[[type[LayerMetric]], type[LayerMetric]]:
    """Class decorator: register a :class:`LayerMetric` subclass under ``name`` (``run.metrics: [name]``).

    The class is built with no arguments, one instance per monitored layer; a taken name raises
    ``ValueError`` unless ``replace=True``.
    """

    def wrap(cls: type[LayerMetric]) -> type[LayerMetric]:
        if not (isinstance(cls, type) and issubclass(cls, LayerMetric)):
            raise TypeError(f"metric {name!r} must be a LayerMetric subclass, got {cls!r}")
        METRICS.add(name, cls, replace=replace)
        return cls

    return wrap


def attach(module: nn.Module, metrics: Iterable[LayerMetric]) -> RemovableHandle:
    """Feed ``metrics`` with every call of ``module`` (a forward hook; ``.remove()`` the handle to stop)."""
    fed = list(metrics)

    def hook(module: nn.Module, inputs: tuple[Any, ...], spikes: torch.Tensor) -> None:
        if recomputing():  # a checkpointed block's second forward, for the backward: already counted
            return
        for metric in fed:
            metric.update(module, spikes)

    return module.register_forward_hook(hook)


@torch.no_grad()
def merge(metrics: Mapping[str, LayerMetric]) -> None:
    """Merge the :meth:`~LayerMetric.state` of every metric over the ranks of the default process group.

    ``metrics`` maps a name unique on this rank (e.g. ``"<layer>/<metric class>"``) to a metric;
    every rank must pass the same names. One collective per kind of reduction, whatever the
    number of metrics; without a process group nothing changes.
    """
    if not is_initialized():
        return
    by_reduction: dict[Reduction, dict[str, torch.Tensor]] = {"sum": {}, "min": {}, "max": {}}
    for name, metric in metrics.items():
        for field, t in metric.state().items():
            by_reduction[metric.reductions.get(field, "sum")][f"{name}/{field}"] = t
    merged: dict[str, torch.Tensor] = {}
    for op, tensors in by_reduction.items():
        merged.update(all_reduce_dict(tensors, op))
    for name, metric in metrics.items():
        prefix = f"{name}/"
        metric.load_state({k[len(prefix) :]: v for k, v in merged.items() if k.startswith(prefix)})


def _scalar(value: float, like: torch.Tensor | None) -> torch.Tensor:
    return torch.tensor(float(value), dtype=torch.float64, device=None if like is None else like.device)


class SpikeCounts(LayerMetric):
    """Spikes of every neuron, summed over steps and samples: firing rate and neurons dead over the whole set.

    ``firing_rate = total spikes / (neurons * sum over calls of T * B)`` (exact if ``T`` changes
    between calls); a neuron is dead when it never spiked on any sample.
    """

    def reset(self) -> None:
        self.counts: torch.Tensor | None = None  # [neurons] float64 on the spikes' device
        self.steps_samples = 0  # sum of T * B over calls
        self.num_samples = 0
        self.num_steps = 0  # T of the last call

    def update(self, module: nn.Module, spikes: torch.Tensor) -> None:
        counts = spikes.detach().sum(dim=(0, 1), dtype=torch.float64).flatten()
        self.counts = counts if self.counts is None else self.counts + counts
        self.steps_samples += spikes.shape[0] * spikes.shape[1]
        self.num_samples += spikes.shape[1]
        self.num_steps = spikes.shape[0]

    @property
    def recorded(self) -> bool:
        return self.counts is not None and self.steps_samples > 0

    def state(self) -> dict[str, torch.Tensor]:
        return {
            "counts": self.counts if self.counts is not None else torch.zeros(0, dtype=torch.float64),
            "steps_samples": _scalar(self.steps_samples, self.counts),
            "num_samples": _scalar(self.num_samples, self.counts),
        }

    def load_state(self, state: Mapping[str, torch.Tensor]) -> None:
        self.counts = state["counts"].clone()
        self.steps_samples = int(state["steps_samples"].item())
        self.num_samples = int(state["num_samples"].item())

    @property
    def num_neurons(self) -> int:
        return 0 if self.counts is None else self.counts.numel()

    @property
    def total_spikes(self) -> float:
        return 0.0 if self.counts is None else self.counts.sum().item()

    @property
    def num_dead(self) -> int:
        return 0 if self.counts is None else int((self.counts == 0).sum().item())

    def compute(self) -> dict[str, float]:
        if not self.recorded:
            return {}
        n, dead = self.num_neurons, self.num_dead
        return {
            R.FIRING_RATE: self.total_spikes / (n * self.steps_samples),
            R.DEAD_FRACTION: dead / n,
            R.NUM_DEAD: float(dead),
            R.NUM_NEURONS: float(n),
        }


class SilentNeurons(LayerMetric):
    """Neurons silent (no spike in any of the ``T`` steps) per sample and per batch, and saturated per sample.

    ``dead_fraction_sample``: mean over samples of (neurons silent for that sample) / neurons
    (Rouser's); ``dead_fraction_batch``: mean over calls of (neurons silent for the whole call) /
    neurons; ``saturated_fraction_sample``: mean over samples of (neurons spiking at every step) / neurons.
    """

    def reset(self) -> None:
        # [silent (sample, neuron) pairs, silent (batch, neuron) pairs, saturated (sample, neuron) pairs]
        self.pairs: torch.Tensor | None = None
        self.calls = 0
        self.num_samples = 0
        self.num_neurons = 0

    def update(self, module: nn.Module, spikes: torch.Tensor) -> None:
        per_sample = spikes.detach().flatten(2).sum(0, dtype=torch.float32)  # [B, neurons]; no host sync
        T = spikes.shape[0]
        pairs = torch.stack([(per_sample == 0).sum(), (per_sample.sum(0) == 0).sum(), (per_sample == T).sum()])
        pairs = pairs.double()
        self.pairs = pairs if self.pairs is None else self.pairs + pairs
        self.calls += 1
        self.num_samples += spikes.shape[1]
        self.num_neurons = per_sample.shape[1]

    @property
    def recorded(self) -> bool:
        return self.pairs is not None

    def state(self) -> dict[str, torch.Tensor]:
        pairs = self.pairs if self.pairs is not None else torch.zeros(3, dtype=torch.float64)
        return {"pairs": pairs, "calls": _scalar(self.calls, pairs), "num_samples": _scalar(self.num_samples, pairs)}

    def load_state(self, state: Mapping[str, torch.Tensor]) -> None:
        self.pairs = state["pairs"].clone()
        self.calls = int(state["calls"].item())
        self.num_samples = int(state["num_samples"].item())

    def compute(self) -> dict[str, float]:
        n, calls, samples = self.num_neurons, self.calls, self.num_samples
        sample, batch, saturated = self.pairs.tolist() if self.pairs is not None else (math.nan,) * 3
        return {
            R.DEAD_FRACTION_SAMPLE: sample / (n * samples) if samples else math.nan,
            R.DEAD_FRACTION_BATCH: batch / (n * calls) if calls else math.nan,
            R.SATURATED_FRACTION_SAMPLE: saturated / (n * samples) if samples else math.nan,
        }


class MembraneStats(LayerMetric):
    """Mean, standard deviation, min and max of every recorded ``V[t]`` (after reset) of the layer.

    Reads the layer's ``v_seq`` trace ``[T, B, ...]`` (the neuron keeps it while its ``record_v``
    is on). Each call's statistics are merged into the totals exactly (Chan et al., float64);
    they stay on the device until read (:meth:`flush`, one host sync for all the calls since the
    last read): four ``.item()`` per layer call would stall the GPU at every layer.
    """

    reductions: ClassVar[Mapping[str, Reduction]] = {"min": "min", "max": "max"}

    def reset(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min = math.inf
        self.max = -math.inf
        self._pending: list[tuple[int, torch.Tensor]] = []  # (numel, [mean, m2, min, max]) per call

    def update(self, module: nn.Module, spikes: torch.Tensor) -> None:
        v_seq = getattr(module, "v_seq", None)
        if v_seq is not None:
            self.add(v_seq)

    def add(self, t: torch.Tensor) -> None:
        """Fold the values of ``t`` (any shape) into the statistics."""
        t = t.detach().double()
        n = t.numel()
        if n == 0:
            return
        mean = t.mean()
        self._pending.append((n, torch.stack([mean, ((t - mean) ** 2).sum(), t.min(), t.max()])))

    def flush(self) -> None:
        """Merge the pending calls into the totals (in call order)."""
        if not self._pending:
            return
        rows = torch.stack([row for _, row in self._pending]).tolist()
        for (n, _), (mean, m2, lo, hi) in zip(self._pending, rows, strict=True):
            delta = mean - self.mean
            total = self.n + n
            self.mean += delta * n / total
            self.m2 += m2 + delta * delta * self.n * n / total
            self.n = total
            self.min = min(self.min, lo)
            self.max = max(self.max, hi)
        self._pending.clear()

    @property
    def recorded(self) -> bool:
        return self.n > 0 or bool(self._pending)

    def state(self) -> dict[str, torch.Tensor]:
        self.flush()
        # count, sum and sum of squares merge by summing; min and max by their own reductions
        values = [self.n, self.n * self.mean, self.m2 + self.n * self.mean**2, self.min, self.max]
        n, total, squares, lo, hi = torch.tensor(values, dtype=torch.float64).unbind()
        return {"n": n, "sum": total, "sum_squares": squares, "min": lo, "max": hi}

    def load_state(self, state: Mapping[str, torch.Tensor]) -> None:
        self._pending.clear()
        nv, sv, qv = (state[k].item() for k in ("n", "sum", "sum_squares"))
        self.n = int(nv)
        self.mean = sv / nv if nv else 0.0
        self.m2 = max(qv - nv * self.mean**2, 0.0)  # rounding can make a zero variance slightly negative
        self.min, self.max = state["min"].item(), state["max"].item()

    def stats(self) -> tuple[float, float, float, float, int] | None:
        """``(mean, std, min, max, count)``, or ``None`` when nothing was recorded."""
        self.flush()
        if self.n == 0:
            return None
        return self.mean, math.sqrt(self.m2 / self.n), self.min, self.max, self.n

    def compute(self) -> dict[str, float]:
        stats = self.stats()
        if stats is None:
            return {}
        return {R.stat_metric(R.V_PREFIX, f): v for f, v in zip(R.STAT_FIELDS, stats[:4], strict=True)}


class BatchDeadNeurons(LayerMetric):
    """Training batches: dead fraction per batch (no spike over the batch) and per sample, and the firing rate.

    ``train_dead_fraction``: mean over calls of (neurons silent for the call) / neurons;
    ``train_dead_fraction_sample``: mean over samples of (neurons silent for that sample) / neurons;
    ``train_firing_rate``: spikes / spike slots (``T * B * neurons`` summed over calls).
    """

    def reset(self) -> None:
        self.dead: torch.Tensor | None = None  # silent (call, neuron) pairs, float64 on the device
        self.spikes: torch.Tensor | None = None
        self.silent_samples: torch.Tensor | None = None  # silent (sample, neuron) pairs
        self.calls = 0
        self.elements = 0  # spike slots
        self.num_samples = 0
        self.num_neurons = 0  # a size, not a count: not merged

    def update(self, module: nn.Module, spikes: torch.Tensor) -> None:
        per_sample = spikes.detach().flatten(2).sum(0, dtype=torch.float32)  # [B, neurons]
        counts = per_sample.sum(0)
        dead = (counts == 0).sum()
        silent = (per_sample == 0).sum()
        if self.dead is None or self.spikes is None or self.silent_samples is None:
            self.dead, self.spikes, self.silent_samples = dead.double(), counts.sum().double(), silent.double()
        else:
            self.dead += dead
            self.spikes += counts.sum()
            self.silent_samples += silent
        self.num_samples += spikes.shape[1]
        self.calls += 1
        self.elements += spikes.numel()
        self.num_neurons = counts.numel()

    @property
    def recorded(self) -> bool:
        return self.dead is not None

    def sums(self) -> list[float]:
        """``[silent neuron-calls, calls, spikes, spike slots, silent neuron-samples, samples]`` (host floats)."""
        assert self.dead is not None and self.spikes is not None and self.silent_samples is not None
        device_sums = torch.stack([self.dead, self.spikes, self.silent_samples]).tolist()
        dead, spikes, silent = device_sums
        return [dead, float(self.calls), spikes, float(self.elements), silent, float(self.num_samples)]

    def state(self) -> dict[str, torch.Tensor]:
        sums = self.sums() if self.recorded else [0.0] * 6
        names = ("dead", "calls", "spikes", "elements", "silent_samples", "num_samples")
        return {k: torch.tensor(v, dtype=torch.float64) for k, v in zip(names, sums, strict=True)}

    def load_state(self, state: Mapping[str, torch.Tensor]) -> None:
        self.dead, self.spikes, self.silent_samples = (state[k].clone() for k in ("dead", "spikes", "silent_samples"))
        self.calls = int(state["calls"].item())
        self.elements = int(state["elements"].item())
        self.num_samples = int(state["num_samples"].item())

    def compute(self) -> dict[str, float]:
        if not self.recorded:
            return {}
        dead, calls, spikes, elements, silent, samples = self.sums()
        neurons = float(self.num_neurons)
        return {
            R.TRAIN_DEAD_FRACTION: dead / (calls * neurons) if calls else 0.0,
            R.TRAIN_DEAD_FRACTION_SAMPLE: silent / (samples * neurons) if samples else 0.0,
            R.TRAIN_FIRING_RATE: spikes / elements if elements else 0.0,
        }
