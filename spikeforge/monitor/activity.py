"""Per-layer spiking activity: firing rates, dead neurons, membrane statistics, learned IMP/threshold.

:class:`ActivityMonitor` attaches one forward hook per neuron layer that feeds the layer's
metrics (:mod:`.metrics`: spike counts, silent neurons, and with ``record_v`` the membrane
statistics of each call's ``v_seq``); the neurons themselves keep no records. When the monitor
is disabled no hook is attached and the neurons' ``record_v`` is back to what it was, so it
costs nothing.

Definitions (Rouser, docs/methods.md B.6):

* firing rate of a layer = total spikes / (neurons * T * samples);
* a neuron is **dead for an input** when it fails to spike during the presentation of that
  input (Rouser's definition: no spike in any of the ``T`` steps). Three dead fractions of
  a layer follow, each over the samples seen since the last :meth:`ActivityMonitor.reset`:

  ============================ ================================================================
  ``dead_fraction_sample``     per sample (Rouser's, the default shown everywhere): the mean over
                               samples of (neurons silent for that sample) / neurons
  ``dead_fraction_batch``      per batch: the mean over forward calls of (neurons silent for the
                               whole batch) / neurons
  ``dead_fraction``            over the whole set: neurons silent for every sample / neurons
  ============================ ================================================================

  For one layer ``set <= batch <= sample``: a neuron silent on the whole set is silent on
  every batch, and one silent on a batch is silent on each of its samples.
* a neuron is **saturated for an input** when it spikes at every one of the ``T`` steps (the
  other end of a threshold set too low, Rouser's grid search); ``saturated_fraction_sample`` is
  the mean over samples of (neurons saturated for that sample) / neurons.

"Neurons" are the elements of one sample's feature map: a neuron layer that sees
``[T, B, C, H, W]`` has ``C*H*W`` neurons.

Under DDP each rank records its own shard; :meth:`ActivityMonitor.all_reduce` merges the
records of all ranks before :meth:`ActivityMonitor.compute`.

Usage::

    monitor = ActivityMonitor(model, record_v=True)
    with monitor:                      # enable(); disable() on exit, records are kept
        for x, y in test_loader:
            model(x)
    metrics = monitor.compute()        # {"layer1.0.sn1/firing_rate": 0.12, ...}
    monitor.reset()
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from .. import records as R
from ..distributed import all_reduce_dict, is_initialized
from ..neuron.nodes import BaseNode
from .metrics import LayerMetric, MembraneStats, SilentNeurons, SpikeCounts, attach, merge

__all__ = ["ActivityMonitor", "LayerActivity", "ParamStats", "WeightChangeTracker", "unwrap_model"]


def unwrap_model(model: nn.Module) -> nn.Module:
    """The user's model inside ``DistributedDataParallel``/``DataParallel`` or ``torch.compile``.

    Layer names are then the same with and without the wrappers (no ``module.``/``_orig_mod.``).
    """
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel | nn.DataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


def _layer_name(name: str) -> str:
    return name or "root"


@dataclasses.dataclass(frozen=True)
class ParamStats:
    """Summary of a tensor's values (a learned IMP or threshold)."""

    mean: float
    std: float
    min: float
    max: float
    numel: int

    @classmethod
    def of(cls, t: torch.Tensor) -> ParamStats:
        t = t.detach().double().flatten()
        std = t.std(unbiased=False).item() if t.numel() > 0 else math.nan
        return cls(t.mean().item(), std, t.min().item(), t.max().item(), t.numel())


@dataclasses.dataclass(frozen=True)
class LayerActivity:
    """Activity of one neuron layer since the last reset.

    Attributes:
        name: module path in the model (``"root"`` for a bare neuron).
        kind: neuron class name.
        num_neurons: neurons per sample (product of the feature shape).
        num_samples: samples seen.
        num_steps: time steps per sample (of the last call; the rate uses the exact total).
        total_spikes: spikes emitted by all neurons over all steps and samples.
        firing_rate: ``total_spikes / (num_neurons * T * num_samples)``.
        num_dead: neurons that never spiked on any sample.
        dead_fraction: ``num_dead / num_neurons`` (dead over the whole set).
        dead_fraction_sample: mean over samples of the fraction of neurons silent for that sample.
        dead_fraction_batch: mean over forward calls of the fraction of neurons silent for that batch.
        saturated_fraction_sample: mean over samples of the fraction of neurons that spiked at every step.
        v: membrane statistics over every recorded ``V[t]`` (after reset), or ``None``.
        imp: statistics of the learnable IMP, or ``None`` when the IMP is fixed.
        threshold: statistics of the learnable threshold, or ``None`` when fixed.
    """

    name: str
    kind: str
    num_neurons: int
    num_samples: int
    num_steps: int
    total_spikes: float
    firing_rate: float
    num_dead: int
    dead_fraction: float
    dead_fraction_sample: float = math.nan
    dead_fraction_batch: float = math.nan
    saturated_fraction_sample: float = math.nan
    v: ParamStats | None = None
    imp: ParamStats | None = None
    threshold: ParamStats | None = None

    def flat(self) -> dict[str, float]:
        """``{"<name>/firing_rate": ..., "<name>/v_mean": ..., "<name>/imp_std": ...}`` (JSON-friendly)."""
        out: dict[str, float] = {
            f"{self.name}/{R.FIRING_RATE}": self.firing_rate,
            f"{self.name}/{R.DEAD_FRACTION}": self.dead_fraction,
            f"{self.name}/{R.DEAD_FRACTION_SAMPLE}": self.dead_fraction_sample,
            f"{self.name}/{R.DEAD_FRACTION_BATCH}": self.dead_fraction_batch,
            f"{self.name}/{R.SATURATED_FRACTION_SAMPLE}": self.saturated_fraction_sample,
            f"{self.name}/{R.NUM_DEAD}": float(self.num_dead),
            f"{self.name}/{R.NUM_NEURONS}": float(self.num_neurons),
        }
        for prefix, stats in ((R.V_PREFIX, self.v), (R.IMP_PREFIX, self.imp), (R.THRESHOLD_PREFIX, self.threshold)):
            if stats is not None:
                for field in R.STAT_FIELDS:
                    out[f"{self.name}/{R.stat_metric(prefix, field)}"] = getattr(stats, field)
        return out


class _LayerRecords:
    """The metrics of one monitored neuron layer (:mod:`.metrics`), fed by one forward hook."""

    def __init__(self, record_v: bool, extra: Sequence[Callable[[], LayerMetric]] = ()) -> None:
        self.spikes = SpikeCounts()
        self.silent = SilentNeurons()
        self.v = MembraneStats() if record_v else None
        self.extra = [make() for make in extra]

    def metrics(self) -> dict[str, LayerMetric]:
        found: dict[str, LayerMetric] = {"spikes": self.spikes, "silent": self.silent}
        if self.v is not None:
            found["v"] = self.v
        found.update({f"extra{i}": metric for i, metric in enumerate(self.extra)})
        return found

    def reset(self) -> None:
        for metric in self.metrics().values():
            metric.reset()


class ActivityMonitor:
    """Per-layer firing rate, dead-neuron fraction, membrane and learned-parameter statistics.

    Args:
        model: any module containing spikeforge neurons (DDP / compiled wrappers are looked through).
        record_v: also collect membrane statistics (needs the ``[T, B, ...]`` trace of each
            call: memory for one layer's trace at a time, plus a reduction per call).
        layers: only monitor neurons whose module path is in this collection (default: all).
        metrics: more per-layer metrics, each a :class:`~.metrics.LayerMetric` class (or factory):
            one instance per layer, fed by the same hook, merged over ranks with the others, its
            :meth:`~.metrics.LayerMetric.compute` entries logged as ``<layer>/<name>``.

    The monitor is off after construction; :meth:`enable` (or ``with monitor:``) turns it on.
    """

    def __init__(
        self,
        model: nn.Module,
        record_v: bool = False,
        layers: list[str] | None = None,
        metrics: Sequence[Callable[[], LayerMetric]] = (),
    ) -> None:
        self.model = unwrap_model(model)
        self.record_v = record_v
        self.neurons: dict[str, BaseNode] = {
            _layer_name(name): m
            for name, m in self.model.named_modules()
            if isinstance(m, BaseNode) and (layers is None or _layer_name(name) in layers)
        }
        if layers is not None:
            missing = sorted(set(layers) - set(self.neurons))
            if missing:
                raise ValueError(
                    f"ActivityMonitor: no neuron layer named {missing}; neuron layers: {self.layer_names()}"
                )
        self.enabled = False
        self._saved_record_v: dict[str, bool] = {}
        self._hooks: list[RemovableHandle] = []
        self.records: dict[str, _LayerRecords] = {name: _LayerRecords(record_v, metrics) for name in self.neurons}

    def layer_names(self) -> list[str]:
        """Module paths of every spikeforge neuron in the model."""
        return [_layer_name(n) for n, m in self.model.named_modules() if isinstance(m, BaseNode)]

    # ------------------------------------------------------------------ switching
    def enable(self) -> ActivityMonitor:
        """Attach the hooks to the monitored neurons (and their membrane trace if asked) and clear old records."""
        if self.enabled:
            return self
        for name, node in self.neurons.items():
            self._saved_record_v[name] = node.record_v
            node.record_v = node.record_v or self.record_v
            self._hooks.append(attach(node, self.records[name].metrics().values()))
        self.enabled = True
        self.reset()
        return self

    def disable(self) -> ActivityMonitor:
        """Remove the hooks and restore the neurons' ``record_v``; the records stay readable."""
        if not self.enabled:
            return self
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()
        for name, node in self.neurons.items():
            node.record_v = self._saved_record_v.pop(name)
            if not node.record_v:
                node.v_seq = None  # the trace is only needed while monitoring; free it
        self.enabled = False
        return self

    def __enter__(self) -> ActivityMonitor:
        return self.enable()

    def __exit__(self, *exc: object) -> None:
        self.disable()

    def reset(self) -> None:
        """Forget everything recorded so far (call at the start of an epoch, or per batch)."""
        for records in self.records.values():
            records.reset()

    # ------------------------------------------------------------------ results
    def layers(self) -> list[LayerActivity]:
        """Structured per-layer results, in model order; layers not run since the reset are left out."""
        out = []
        for name, node in self.neurons.items():
            rec = self.records[name]
            spikes = rec.spikes
            if not spikes.recorded:
                continue
            counted = spikes.compute()
            silent = rec.silent.compute()
            v = rec.v.stats() if rec.v is not None else None
            out.append(
                LayerActivity(
                    name=name,
                    kind=type(node).__name__,
                    num_neurons=spikes.num_neurons,
                    num_samples=spikes.num_samples,
                    num_steps=spikes.num_steps,
                    total_spikes=spikes.total_spikes,
                    firing_rate=counted[R.FIRING_RATE],
                    num_dead=spikes.num_dead,
                    dead_fraction=counted[R.DEAD_FRACTION],
                    dead_fraction_sample=silent[R.DEAD_FRACTION_SAMPLE],
                    dead_fraction_batch=silent[R.DEAD_FRACTION_BATCH],
                    saturated_fraction_sample=silent[R.SATURATED_FRACTION_SAMPLE],
                    v=ParamStats(*v) if v is not None else None,
                    imp=ParamStats.of(node.imp) if node.learn_imp and node.is_materialized() else None,
                    threshold=(
                        ParamStats.of(node.v_threshold) if node.learn_threshold and node.is_materialized() else None
                    ),
                )
            )
        return out

    @torch.no_grad()
    def all_reduce(self) -> None:
        """Merge the records of every rank of the default process group (no-op without one).

        Spike counts and sample/step counts are summed, membrane statistics merged exactly
        (count, sum and sum of squares; min and max), so :meth:`compute` afterwards gives the
        rates and dead neurons of the whole evaluation set rather than of one rank's shard.
        Call it once per recorded pass on every rank (it is a collective). A layer that did
        not run on every rank is dropped from the records of all ranks.
        """
        if not is_initialized() or not self.neurons:
            return
        names = list(self.neurons)
        ran = all_reduce_dict({n: torch.tensor(float(self.records[n].spikes.recorded)) for n in names}, "min")
        for n in names:
            if not ran[n].item():
                self.records[n].reset()
        merge(
            {
                f"{n}/{kind}": metric
                for n in names
                if ran[n].item()
                for kind, metric in self.records[n].metrics().items()
            }
        )

    def compute(self) -> dict[str, float]:
        """Flat JSON-friendly metrics: ``"<layer>/<metric>"`` plus network totals under ``"all/"``.

        ``all/firing_rate`` and the ``all/dead_fraction*`` totals weight every neuron equally
        (spikes and dead neurons summed over layers, divided by the summed neuron-steps / neurons).
        """
        layers = self.layers()
        out: dict[str, float] = {}
        for layer in layers:
            out.update(layer.flat())
            for metric in self.records[layer.name].extra:
                out.update({f"{layer.name}/{key}": value for key, value in metric.compute().items()})
        if layers:
            neurons = sum(la.num_neurons for la in layers)
            neuron_steps = sum(la.num_neurons * self.records[la.name].spikes.steps_samples for la in layers)
            out[f"{R.ALL_LAYERS}/{R.FIRING_RATE}"] = sum(la.total_spikes for la in layers) / neuron_steps
            out[f"{R.ALL_LAYERS}/{R.DEAD_FRACTION}"] = sum(la.num_dead for la in layers) / neurons
            for key in (R.DEAD_FRACTION_SAMPLE, R.DEAD_FRACTION_BATCH, R.SATURATED_FRACTION_SAMPLE):
                out[f"{R.ALL_LAYERS}/{key}"] = sum(getattr(la, key) * la.num_neurons for la in layers) / neurons
        return out


class WeightChangeTracker:
    """Relative change of every conv/linear weight since creation (Rouser Fig 3).

    ``weight_change = ||W_t - W_0||_F / ||W_0||_F`` per layer, ``W_0`` copied at construction
    (so build it right after initialising the model, before the first optimiser step). The
    copies live on the weights' device; save them with :meth:`state_dict` to resume a run.

    Args:
        model: the model (DDP / compiled wrappers are looked through).
        layer_types: module types whose ``weight`` is tracked.
    """

    DEFAULT_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)

    def __init__(self, model: nn.Module, layer_types: tuple[type[nn.Module], ...] = DEFAULT_TYPES) -> None:
        self.model = unwrap_model(model)
        self.layer_types = layer_types
        self.initial: dict[str, torch.Tensor] = {name: w.detach().clone() for name, w in self._weights()}
        if not self.initial:
            raise ValueError(f"WeightChangeTracker: the model has no {[t.__name__ for t in layer_types]} layer")

    def _weights(self) -> Iterator[tuple[str, torch.Tensor]]:
        for name, m in self.model.named_modules():
            if isinstance(m, self.layer_types) and isinstance(getattr(m, "weight", None), torch.Tensor):
                yield _layer_name(name), m.weight

    @torch.no_grad()
    def compute(self) -> dict[str, float]:
        """``{"<layer>/weight_change": ||W - W0|| / ||W0||, "<layer>/weight_delta_norm": ||W - W0||}``.

        ``weight_change`` is left out for a layer whose ``W_0`` is all zeros.
        """
        out: dict[str, float] = {}
        for name, w in self._weights():
            w0 = self.initial[name]
            # subtract in float64: a small change of a large weight keeps its digits
            delta = torch.linalg.vector_norm(w.detach().double() - w0.double()).item()
            ref = torch.linalg.vector_norm(w0.double()).item()
            if ref > 0:  # a zero-initialised weight has no relative change; its delta norm is still given
                out[f"{name}/{R.WEIGHT_CHANGE}"] = delta / ref
            out[f"{name}/{R.WEIGHT_DELTA_NORM}"] = delta
        return out

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The stored initial weights (put it in a checkpoint to keep ``W_0`` across a resume)."""
        return dict(self.initial)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore ``W_0`` from :meth:`state_dict`; the layer names and shapes must match."""
        current = dict(self._weights())
        if set(state) != set(current):
            raise ValueError(
                f"WeightChangeTracker state has layers {sorted(state)} but the model has {sorted(current)}"
            )
        for name, w0 in state.items():
            if w0.shape != current[name].shape:
                raise ValueError(
                    f"WeightChangeTracker: {name} has shape {tuple(current[name].shape)}, state {tuple(w0.shape)}"
                )
            self.initial[name] = w0.detach().to(current[name].device, current[name].dtype).clone()
