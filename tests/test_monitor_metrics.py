"""The per-layer metric classes: hand-computed updates, hooks silent during recomputation, keys from one module."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from spikeforge import IFNode, LIFNode, materialize
from spikeforge import records as R
from spikeforge.distributed import all_reduce_dict
from spikeforge.layers import MultiStep
from spikeforge.memory import apply_plan, blocks
from spikeforge.models.common import ConvUnit
from spikeforge.monitor import ActivityMonitor, WeightChangeTracker
from spikeforge.monitor.metrics import (
    BatchDeadNeurons,
    LayerMetric,
    MembraneStats,
    SilentNeurons,
    SpikeCounts,
    attach,
)
from spikeforge.monitor.training import BatchActivity


def test_spike_counts_accumulate_per_neuron_and_reset():
    node = IFNode(v_reset=None)
    counts = SpikeCounts()
    handle = attach(node, [counts])
    x = torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]]])  # [T=2, B=1, N=2]
    node(x)
    node(x)
    assert counts.counts.tolist() == [4.0, 0.0]
    assert (counts.num_samples, counts.num_steps, counts.steps_samples) == (2, 2, 4)
    assert counts.compute() == {R.FIRING_RATE: 0.5, R.DEAD_FRACTION: 0.5, R.NUM_DEAD: 1.0, R.NUM_NEURONS: 2.0}
    handle.remove()
    node(x)  # no hook: not counted
    assert counts.counts.tolist() == [4.0, 0.0]
    counts.reset()
    assert not counts.recorded and counts.compute() == {}


def test_state_round_trip_gives_the_same_numbers():
    """``load_state(state())`` is what a merge over one rank does: the numbers stay as they were."""
    node = IFNode(record_v=True)
    metrics = [SpikeCounts(), SilentNeurons(), MembraneStats(), BatchDeadNeurons()]
    attach(node, metrics)
    torch.manual_seed(0)
    node(torch.rand(3, 2, 5) * 2)
    node(torch.rand(4, 1, 5) * 2)
    for metric in metrics:
        before = metric.compute()
        metric.load_state(all_reduce_dict(metric.state()))  # no process group: float64 copies, by name
        assert metric.compute() == before, type(metric).__name__


def test_all_reduce_dict_keeps_names_and_shapes():
    tensors = {"counts": torch.arange(6.0).view(2, 3), "calls": torch.tensor(4), "empty": torch.zeros(0)}
    out = all_reduce_dict(tensors, "sum")
    assert list(out) == ["counts", "calls", "empty"]
    assert torch.equal(out["counts"], tensors["counts"].double()) and out["calls"].item() == 4
    assert out["empty"].shape == (0,)


def _blocky_model() -> nn.Module:
    """Two ``conv -> neuron`` units (memory blocks) on ``[T, B, 2, 4, 4]``."""
    torch.manual_seed(0)
    model = nn.Sequential(
        ConvUnit(2, 4, LIFNode, norm="none", bias=True), ConvUnit(4, 3, lambda: IFNode(v_threshold=0.5), norm="none")
    )
    materialize(model, torch.rand(3, 1, 2, 4, 4))
    return model


@pytest.mark.parametrize("mode", ["none", "checkpoint"])
def test_training_batches_are_counted_once_when_blocks_recompute(mode):
    """With memory mode checkpoint the blocks run their forward again in the backward: the hooks skip it."""
    model = copy.deepcopy(_blocky_model())
    apply_plan(model, mode)
    assert mode == "none" or blocks(model)
    x = torch.rand(3, 5, 2, 4, 4) * 2
    batches = BatchActivity({"0.1": model[0].sn, "1.1": model[1].sn})
    with batches.recording():
        model(x).sum().backward()
        model(x).sum().backward()
    for metric in batches.metrics.values():
        assert (metric.calls, metric.num_samples) == (2, 10)  # two forwards of 5 samples, each counted once
    reference = copy.deepcopy(_blocky_model())
    ref_batches = BatchActivity({"0.1": reference[0].sn, "1.1": reference[1].sn})
    with ref_batches.recording():
        reference(x).sum().backward()
        reference(x).sum().backward()
    assert batches.compute() == ref_batches.compute()


def test_evaluation_spikes_are_counted_once_under_checkpoint_with_gradients():
    """An evaluation pass that keeps the graph (gradients on) under checkpoint: spikes counted once."""
    model = _blocky_model()
    apply_plan(model, "checkpoint")
    x = torch.rand(3, 2, 2, 4, 4) * 2
    monitor = ActivityMonitor(model)
    with monitor:
        model(x).sum().backward()
    plain = _blocky_model()
    with ActivityMonitor(plain) as ref:
        plain(x)
    assert monitor.compute() == ref.compute()
    assert [la.num_samples for la in monitor.layers()] == [2, 2]


def test_every_key_the_monitors_write_is_named_in_records():
    """The ``<metric>`` part of every monitor key is a constant of spikeforge.records (none spelt elsewhere)."""
    node = IFNode(imp="learn", v_threshold="learn", feature_shape=(3,))
    model = nn.Sequential(MultiStep(nn.Linear(2, 3)), node)
    x = torch.rand(4, 2, 2) * 3
    with ActivityMonitor(model, record_v=True) as monitor:
        model(x)
    batches = BatchActivity(monitor.neurons)
    with batches.recording():
        model(x)
    keys = {**monitor.compute(), **batches.compute(), **WeightChangeTracker(model).compute()}
    named = {v for k, v in vars(R).items() if k.isupper() and isinstance(v, str)}
    named |= {R.stat_metric(p, f) for p in (R.V_PREFIX, R.IMP_PREFIX, R.THRESHOLD_PREFIX) for f in R.STAT_FIELDS}
    metrics = {key.rpartition("/")[2] for key in keys}
    assert metrics <= named, metrics - named
    assert {R.FIRING_RATE, R.TRAIN_FIRING_RATE, R.THRESHOLD_MEAN, R.WEIGHT_CHANGE, "v_std"} <= metrics


def test_monitors_records_and_distributed_import_nothing_from_the_trainer():
    """Dependencies point one way: the engine drives the monitors (callbacks), the monitors know nothing of it."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "spikeforge"
    files = [*sorted((root / "monitor").glob("*.py")), root / "records.py", root / "distributed.py"]
    offenders = []
    for path in files:
        package = "spikeforge." + ".".join(path.relative_to(root).parent.parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.rstrip(".").split(".")
                target = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
                target = target if node.level else (node.module or "")
                names = [target] + [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            offenders += [
                f"{path.name}: {n}" for n in names if n.startswith(("spikeforge.train", "spikeforge.reproduce"))
            ]
    assert offenders == []


class PeakSpikes(LayerMetric):
    """A metric written outside the library: the most spikes one neuron fired for one sample (merged by max)."""

    reductions = {"peak": "max"}

    def reset(self) -> None:
        self.peak: torch.Tensor | None = None

    def update(self, module, spikes):
        peak = spikes.detach().flatten(2).sum(0).max().double()
        self.peak = peak if self.peak is None else torch.maximum(self.peak, peak)

    @property
    def recorded(self) -> bool:
        return self.peak is not None

    def state(self):
        return {"peak": self.peak if self.peak is not None else torch.tensor(0.0, dtype=torch.float64)}

    def load_state(self, state):
        self.peak = state["peak"]

    def compute(self):
        return {} if self.peak is None else {"peak_spikes_per_sample": self.peak.item()}


def test_a_metric_class_is_all_a_new_metric_needs():
    node = IFNode()
    with ActivityMonitor(node, metrics=[PeakSpikes]) as monitor:
        node(torch.tensor([1.0, 0.5, 0.0]).expand(4, 2, 3).clone())  # neuron 0: 4 spikes per sample
        node(torch.tensor([0.5, 0.0, 0.0]).expand(4, 1, 3).clone())  # 2 per sample
    m = monitor.compute()
    assert m["root/peak_spikes_per_sample"] == 4.0
    assert m["root/firing_rate"] == pytest.approx((12 + 2) / (3 * (4 * 2 + 4 * 1)))  # the built-in ones as before
    state = PeakSpikes()
    state.load_state(all_reduce_dict(monitor.records["root"].extra[0].state(), "max"))
    assert state.compute() == {"peak_spikes_per_sample": 4.0}
