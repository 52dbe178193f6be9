"""Per-layer spiking activity: firing rates, dead neurons, membrane statistics, learned IMP/threshold.

:class:`ActivityMonitor` reads what the neurons record themselves (``record_spikes`` ->
per-neuron ``spike_count``) and, for membrane statistics, a forward hook that folds each
call's ``v_seq`` into running statistics. When the monitor is disabled the neurons' record
flags are back to what they were and no hook is attached, so it costs nothing.

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
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from ..distributed import all_reduce, backend_device, is_initialized
from ..neuron.nodes import BaseNode
from ..train import runfolder as RF

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
            f"{self.name}/{RF.FIRING_RATE}": self.firing_rate,
            f"{self.name}/{RF.DEAD_FRACTION}": self.dead_fraction,
            f"{self.name}/{RF.DEAD_FRACTION_SAMPLE}": self.dead_fraction_sample,
            f"{self.name}/dead_fraction_batch": self.dead_fraction_batch,
            f"{self.name}/saturated_fraction_sample": self.saturated_fraction_sample,
            f"{self.name}/num_dead": float(self.num_dead),
            f"{self.name}/num_neurons": float(self.num_neurons),
        }
        for prefix, stats in (("v", self.v), ("imp", self.imp), ("threshold", self.threshold)):
            if stats is not None:
                for field in ("mean", "std", "min", "max"):
                    out[f"{self.name}/{prefix}_{field}"] = getattr(stats, field)
        return out


class _RunningStats:
    """Mean / variance / min / max over many tensors, merged per call (Chan et al.) in float64.

    A call's statistics stay on its device until read (:meth:`flush`, one host sync for all the
    calls since the last read): four ``.item()`` per layer call would stall the GPU at every layer.
    """

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min = math.inf
        self.max = -math.inf
        self._pending: list[tuple[int, torch.Tensor]] = []  # (numel, [mean, m2, min, max]) per call

    def update(self, t: torch.Tensor) -> None:
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

    def stats(self) -> ParamStats | None:
        self.flush()
        if self.n == 0:
            return None
        return ParamStats(self.mean, math.sqrt(self.m2 / self.n), self.min, self.max, self.n)


class ActivityMonitor:
    """Per-layer firing rate, dead-neuron fraction, membrane and learned-parameter statistics.

    Args:
        model: any module containing spikeforge neurons (DDP / compiled wrappers are looked through).
        record_v: also collect membrane statistics (needs the ``[T, B, ...]`` trace of each
            call: memory for one layer's trace at a time, plus a reduction per call).
        layers: only monitor neurons whose module path is in this collection (default: all).

    The monitor is off after construction; :meth:`enable` (or ``with monitor:``) turns it on.
    """

    def __init__(self, model: nn.Module, record_v: bool = False, layers: list[str] | None = None) -> None:
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
        self._saved_flags: dict[str, tuple[bool, bool]] = {}
        self._hooks: list[Any] = []
        self._v_stats: dict[str, _RunningStats] = {}
        self._steps_samples: dict[str, int] = {}
        # per layer, on the neurons' device: [silent (sample, neuron) pairs, silent (batch, neuron) pairs,
        # saturated (sample, neuron) pairs]
        self._silent: dict[str, torch.Tensor] = {}
        self._calls: dict[str, int] = {}
        self._samples: dict[str, int] = {}

    def layer_names(self) -> list[str]:
        """Module paths of every spikeforge neuron in the model."""
        return [_layer_name(n) for n, m in self.model.named_modules() if isinstance(m, BaseNode)]

    # ------------------------------------------------------------------ switching
    def enable(self) -> ActivityMonitor:
        """Switch recording on for the monitored neurons and clear old records."""
        if self.enabled:
            return self
        for name, node in self.neurons.items():
            self._saved_flags[name] = (node.record_spikes, node.record_v)
            node.record_spikes = True
            node.record_v = node.record_v or self.record_v
            self._hooks.append(node.register_forward_hook(self._make_hook(name)))
        self.enabled = True
        self.reset()
        return self

    def disable(self) -> ActivityMonitor:
        """Restore the neurons' record flags and remove the hooks; the records stay readable."""
        if not self.enabled:
            return self
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()
        for name, node in self.neurons.items():
            node.record_spikes, node.record_v = self._saved_flags.pop(name)
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
        for name, node in self.neurons.items():
            node.reset_records()
            self._v_stats[name] = _RunningStats()
            self._steps_samples[name] = 0
            self._silent.pop(name, None)
            self._calls[name] = 0
            self._samples[name] = 0

    def _make_hook(self, name: str):
        def hook(module: BaseNode, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            # T*B of this call: the rate's denominator stays exact even if T changes between calls.
            self._steps_samples[name] += output.shape[0] * output.shape[1]
            # spikes of each neuron for each sample of the call: [B, neurons]; no host sync here
            per_sample = output.detach().flatten(2).sum(0, dtype=torch.float32)
            T = output.shape[0]
            silent = torch.stack([(per_sample == 0).sum(), (per_sample.sum(0) == 0).sum(), (per_sample == T).sum()])
            silent = silent.double()
            self._silent[name] = silent if name not in self._silent else self._silent[name] + silent
            self._calls[name] += 1
            self._samples[name] += output.shape[1]
            if self.record_v and module.v_seq is not None:
                self._v_stats[name].update(module.v_seq)

        return hook

    # ------------------------------------------------------------------ results
    def layers(self) -> list[LayerActivity]:
        """Structured per-layer results, in model order; layers not run since the reset are left out."""
        out = []
        for name, node in self.neurons.items():
            counts = node.spike_count
            steps_samples = self._steps_samples.get(name, 0)
            if counts is None or steps_samples == 0:
                continue
            n = counts.numel()
            total = counts.sum().item()
            dead = int((counts == 0).sum().item())
            calls, samples = self._calls.get(name, 0), self._samples.get(name, 0)
            pairs = self._silent[name].tolist() if name in self._silent else (math.nan,) * 3
            silent_sample, silent_batch, saturated_sample = pairs
            out.append(
                LayerActivity(
                    name=name,
                    kind=type(node).__name__,
                    num_neurons=n,
                    num_samples=node.num_samples,
                    num_steps=node.num_steps,
                    total_spikes=total,
                    firing_rate=total / (n * steps_samples),
                    num_dead=dead,
                    dead_fraction=dead / n,
                    dead_fraction_sample=silent_sample / (n * samples) if samples else math.nan,
                    dead_fraction_batch=silent_batch / (n * calls) if calls else math.nan,
                    saturated_fraction_sample=saturated_sample / (n * samples) if samples else math.nan,
                    v=self._v_stats[name].stats() if self.record_v else None,
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
        device = next((n.spike_count.device for n in self.neurons.values() if n.spike_count is not None), None)
        if device is None:  # nothing recorded here; still take part in the presence check below
            device = backend_device()
        present = torch.tensor(
            [float(self.neurons[n].spike_count is not None and self._steps_samples.get(n, 0) > 0) for n in names],
            device=device,
        )
        all_reduce(present, "min")
        names = [n for n, ok in zip(names, present.tolist()) if ok]
        for n in set(self.neurons) - set(names):
            self.neurons[n].reset_records()
            self._steps_samples[n] = 0
        if not names:
            return
        nodes = [self.neurons[n] for n in names]
        counts = torch.cat([node.spike_count.flatten() for node in nodes])
        sums, extrema = [], []
        for n, node in zip(names, nodes):
            st = self._v_stats[n]
            st.flush()
            silent = self._silent[n].tolist() if n in self._silent else [0.0, 0.0, 0.0]
            sums.append(
                [
                    self._steps_samples[n],
                    node.num_samples,
                    st.n,
                    st.n * st.mean,
                    st.m2 + st.n * st.mean**2,
                    *silent,
                    self._calls.get(n, 0),
                    self._samples.get(n, 0),
                ]
            )
            extrema.append([st.min, -st.max])
        sums_t = torch.tensor(sums, dtype=torch.float64, device=device)
        ext_t = torch.tensor(extrema, dtype=torch.float64, device=device)
        all_reduce(counts)
        all_reduce(sums_t)
        all_reduce(ext_t, "min")
        offset = 0
        for i, (n, node) in enumerate(zip(names, nodes)):
            size = node.spike_count.numel()
            node.spike_count = counts[offset : offset + size].view_as(node.spike_count).clone()
            offset += size
            steps_samples, num_samples, nv, sv, qv, *pairs, calls, samples = sums_t[i].tolist()
            self._silent[n] = torch.tensor(pairs, dtype=torch.float64, device=device)  # where the hook adds to it
            self._calls[n], self._samples[n] = int(calls), int(samples)
            self._steps_samples[n] = int(steps_samples)
            node.num_samples = int(num_samples)
            st = self._v_stats[n]
            st.n = int(nv)
            st.mean = sv / nv if nv else 0.0
            st.m2 = max(qv - nv * st.mean**2, 0.0)  # rounding can make a zero variance slightly negative
            st.min, st.max = ext_t[i, 0].item(), -ext_t[i, 1].item()

    def compute(self) -> dict[str, float]:
        """Flat JSON-friendly metrics: ``"<layer>/<metric>"`` plus network totals under ``"all/"``.

        ``all/firing_rate`` and the ``all/dead_fraction*`` totals weight every neuron equally
        (spikes and dead neurons summed over layers, divided by the summed neuron-steps / neurons).
        """
        layers = self.layers()
        out: dict[str, float] = {}
        for layer in layers:
            out.update(layer.flat())
        if layers:
            neurons = sum(la.num_neurons for la in layers)
            neuron_steps = sum(la.num_neurons * self._steps_samples[la.name] for la in layers)
            out[f"{RF.ALL_LAYERS}/{RF.FIRING_RATE}"] = sum(la.total_spikes for la in layers) / neuron_steps
            out[f"{RF.ALL_LAYERS}/{RF.DEAD_FRACTION}"] = sum(la.num_dead for la in layers) / neurons
            for key in (RF.DEAD_FRACTION_SAMPLE, "dead_fraction_batch", "saturated_fraction_sample"):
                out[f"{RF.ALL_LAYERS}/{key}"] = sum(getattr(la, key) * la.num_neurons for la in layers) / neurons
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
                out[f"{name}/{RF.WEIGHT_CHANGE}"] = delta / ref
            out[f"{name}/weight_delta_norm"] = delta
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
