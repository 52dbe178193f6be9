"""ActivityMonitor and WeightChangeTracker on hand-computed cases."""

import json
import math

import pytest
import torch
from torch import nn

from spikeforge import IFNode
from spikeforge.layers import MultiStep
from spikeforge.monitor import ActivityMonitor, WeightChangeTracker


class TwoLayers(nn.Module):
    """``a``: IF threshold 1 (hard reset); ``b``: IF threshold 2.5 fed by ``a``'s spikes."""

    def __init__(self):
        super().__init__()
        self.a = IFNode()
        self.b = IFNode(v_threshold=2.5)

    def forward(self, x):
        return self.b(self.a(x))


def constant_input(values, T=4, B=2):
    """[T, B, N] with neuron n receiving values[n] at every step of every sample."""
    return torch.tensor(values, dtype=torch.float64).expand(T, B, len(values)).clone()


def test_firing_rate_and_dead_fraction_by_hand():
    model = TwoLayers()
    monitor = ActivityMonitor(model)
    with monitor:
        model(constant_input([1.0, 0.5, 0.0]))
    m = monitor.compute()
    # a: neuron 0 fires every step (4), neuron 1 every second step (H = .5, 1.0), neuron 2 never.
    assert m["a/firing_rate"] == pytest.approx((4 + 2) * 2 / (3 * 4 * 2))
    assert m["a/dead_fraction"] == pytest.approx(1 / 3)
    assert m["a/num_dead"] == 1 and m["a/num_neurons"] == 3
    # b gets a's spikes: neuron 0 sees 1,1,1,1 (H = 1, 2, 3 -> spike, then 1); neuron 1 sees 0,1,0,1 (H reaches 2).
    assert m["b/firing_rate"] == pytest.approx(1 * 2 / (3 * 4 * 2))
    assert m["b/dead_fraction"] == pytest.approx(2 / 3)
    assert m["all/firing_rate"] == pytest.approx((12 + 2) / (24 + 24))
    assert m["all/dead_fraction"] == pytest.approx(3 / 6)
    json.dumps(m)  # JSON-friendly


def test_dead_means_no_spike_over_all_samples_since_reset():
    model = TwoLayers()
    monitor = ActivityMonitor(model).enable()
    model(constant_input([1.0, 0.5, 0.0]))
    model(constant_input([0.0, 0.0, 1.0], B=1))  # neuron 2 of `a` fires in this batch only
    layer = {la.name: la for la in monitor.layers()}["a"]
    assert layer.num_samples == 3 and layer.num_dead == 0 and layer.dead_fraction == 0.0
    assert layer.total_spikes == 12 + 4
    assert layer.firing_rate == pytest.approx(16 / (3 * 4 * 3))
    monitor.reset()
    model(constant_input([0.0, 0.0, 1.0], B=1))
    assert monitor.compute()["a/dead_fraction"] == pytest.approx(2 / 3)
    monitor.disable()


def test_rate_denominator_follows_varying_T():
    node = IFNode()
    monitor = ActivityMonitor(node).enable()
    node(constant_input([1.0], T=2, B=1))  # 2 spikes in 2 steps
    node(constant_input([0.0], T=6, B=1))  # 0 spikes in 6 steps
    assert monitor.compute()["root/firing_rate"] == pytest.approx(2 / 8)


def test_disabled_monitor_leaves_no_trace():
    model = TwoLayers()
    monitor = ActivityMonitor(model, record_v=True)
    assert not model.a.record_v and not model.a._forward_hooks
    with monitor:
        assert model.a.record_v and len(model.a._forward_hooks) == 1
        model(constant_input([1.0, 0.5, 0.0]))
    assert not model.a.record_v and not model.a._forward_hooks
    assert model.a.v_seq is None
    assert monitor.compute()["a/firing_rate"] > 0  # records stay readable after disable
    recorded = monitor.compute()
    model(constant_input([1.0, 1.0, 1.0]))  # not recorded any more
    assert monitor.compute() == recorded


def test_user_record_flags_are_restored():
    node = IFNode(record_v=True)
    with ActivityMonitor(node):
        pass
    assert node.record_v and not node._forward_hooks


def test_membrane_statistics_merge_over_calls():
    model = TwoLayers()
    monitor = ActivityMonitor(model, record_v=True)
    with monitor:
        x = constant_input([1.0, 0.5, 0.0], B=1)
        model(x)
        model(x)
    # a's V after reset: neuron 0 is 0 every step (fires, resets), neuron 1 is .5, 0, .5, 0, neuron 2 is 0.
    # 24 values over both calls, four of them 0.5.
    m = monitor.compute()
    assert m["a/v_mean"] == pytest.approx(2 / 24)
    assert m["a/v_std"] == pytest.approx(math.sqrt(4 * 0.25 / 24 - (2 / 24) ** 2))
    assert m["a/v_min"] == 0.0 and m["a/v_max"] == 0.5


def test_learned_imp_and_threshold_statistics():
    node = IFNode(imp="learn", v_threshold="learn", feature_shape=(3,))
    with torch.no_grad():
        node.imp.copy_(torch.tensor([0.1, 0.2, 0.3]))
        node.v_threshold.copy_(torch.tensor([1.0, 1.0, 2.0]))
    model = nn.Sequential(MultiStep(nn.Linear(2, 3)), node)
    with ActivityMonitor(model) as monitor:
        model(torch.rand(4, 2, 2))
    m = monitor.compute()
    assert m["1/imp_mean"] == pytest.approx(0.2)
    assert m["1/imp_std"] == pytest.approx(math.sqrt(2 / 300))
    assert (m["1/imp_min"], m["1/imp_max"]) == (pytest.approx(0.1), pytest.approx(0.3))
    assert m["1/threshold_mean"] == pytest.approx(4 / 3)
    assert m["1/threshold_max"] == 2.0
    assert "1/v_mean" not in m  # record_v off


def test_fixed_parameters_have_no_statistics_and_unrun_layers_are_omitted():
    model = nn.Sequential(IFNode(), IFNode())
    with ActivityMonitor(model) as monitor:
        model[0](torch.ones(2, 1, 3))
    m = monitor.compute()
    assert "0/firing_rate" in m and not any(k.startswith("1/") for k in m)
    assert not any("imp" in k or "threshold" in k for k in m)


def test_layer_selection_and_wrapped_models():
    class Compiled(nn.Module):  # what torch.compile returns keeps the model in _orig_mod
        def __init__(self, inner):
            super().__init__()
            self._orig_mod = inner

    inner = nn.Sequential(nn.Identity(), IFNode(), IFNode())
    monitor = ActivityMonitor(Compiled(inner), layers=["2"])
    assert list(monitor.neurons) == ["2"] and monitor.layer_names() == ["1", "2"]
    with pytest.raises(ValueError, match="no neuron layer named"):
        ActivityMonitor(inner, layers=["nope"])


def test_weight_change_by_hand():
    model = nn.Sequential(MultiStep(nn.Conv2d(1, 1, 1, bias=False)), IFNode(), nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        model[0][0].weight.fill_(2.0)
        model[2].weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 4.0]]))
    tracker = WeightChangeTracker(model)
    assert set(tracker.initial) == {"0.0", "2"}
    with torch.no_grad():
        model[2].weight.add_(torch.tensor([[0.0, 1.0], [0.0, 0.0]]))  # ||dW|| = 1, ||W0|| = 5
        model[0][0].weight.mul_(1.5)
    m = tracker.compute()
    assert m["2/weight_change"] == pytest.approx(0.2)
    assert m["2/weight_delta_norm"] == pytest.approx(1.0)
    assert m["0.0/weight_change"] == pytest.approx(0.5)


def test_weight_change_state_round_trip_and_zero_init():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    with torch.no_grad():
        model[1].weight.zero_()
    tracker = WeightChangeTracker(model)
    saved = {k: v.clone() for k, v in tracker.state_dict().items()}
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].weight.add_(1.0)
    fresh = WeightChangeTracker(model)  # W0 would be the current weights ...
    fresh.load_state_dict(saved)  # ... until the saved ones are restored
    m = fresh.compute()
    assert m["0/weight_change"] > 0
    assert "1/weight_change" not in m and m["1/weight_delta_norm"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="layers"):
        fresh.load_state_dict({"0": saved["0"]})
