"""Dead neurons as Rouser defines them (silent while an input is presented): per sample, per batch, whole set.

Hand-computed on one IF layer (threshold 1, hard reset): a neuron fed 1.0 spikes at every step,
one fed 0.0 never does.
"""

import copy

import pytest
import torch

from spikeforge import IFNode
from spikeforge.monitor import ActivityMonitor
from spikeforge.monitor.training import BatchActivity, TrainingMonitor
from spikeforge.train.config import config_from_dict
from spikeforge.train.engine import train
from spikeforge.train.logger import read_metrics


def batch(rows, T=2):
    """[T, B, N]: sample b feeds neuron n the constant rows[b][n]."""
    return torch.tensor(rows, dtype=torch.float32).expand(T, len(rows), len(rows[0])).clone()


FIRST = [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]]  # silent neurons per sample: 3, 2, 4
SECOND = [[0, 0, 1, 0]]  # silent: 3


def test_three_dead_fractions_by_hand():
    node = IFNode()
    monitor = ActivityMonitor(node)
    with monitor:
        node(batch(FIRST))
    m = monitor.compute()
    assert m["root/dead_fraction_sample"] == pytest.approx((3 + 2 + 4) / (3 * 4))
    assert m["root/dead_fraction_batch"] == pytest.approx(2 / 4)  # neurons 2, 3 silent on the batch
    assert m["root/dead_fraction"] == pytest.approx(2 / 4)
    with monitor:  # enable() starts afresh
        node(batch(FIRST))
        node(batch(SECOND))
    m = monitor.compute()
    assert m["root/dead_fraction_sample"] == pytest.approx((3 + 2 + 4 + 3) / (4 * 4))
    assert m["root/dead_fraction_batch"] == pytest.approx((2 + 3) / (2 * 4))
    assert m["root/dead_fraction"] == pytest.approx(1 / 4)  # only neuron 3 is silent on every sample
    assert m["all/dead_fraction_sample"] == m["root/dead_fraction_sample"]


def test_saturated_fraction_by_hand():
    """A constant input of 1 makes an IF neuron (threshold 1, hard reset) spike at every step: saturated."""
    node = IFNode()
    monitor = ActivityMonitor(node)
    with monitor:
        node(batch(FIRST, T=3))  # saturated neurons per sample: 1, 2, 0
        node(batch([[1, 1, 1, 1]], T=3))  # 4
        node(batch([[0.5, 0.5, 0.5, 0.5]], T=3))  # a spike every other step: 0
    m = monitor.compute()
    assert m["root/saturated_fraction_sample"] == pytest.approx((1 + 2 + 0 + 4 + 0) / (5 * 4))
    assert m["all/saturated_fraction_sample"] == m["root/saturated_fraction_sample"]
    layer = monitor.layers()[0]
    assert layer.saturated_fraction_sample == m["root/saturated_fraction_sample"]


def test_network_totals_weight_every_neuron_equally():
    a, b = IFNode(), IFNode()
    monitor = ActivityMonitor(torch.nn.ModuleDict({"a": a, "b": b}))
    with monitor:
        a(batch(FIRST))  # 9 silent of 12 neuron-samples (4 neurons)
        b(batch([[1, 0], [0, 0], [1, 1]]))  # 1 + 2 + 0 = 3 silent of 6 (2 neurons)
    m = monitor.compute()
    assert m["b/dead_fraction_sample"] == pytest.approx(3 / 6)
    assert m["all/dead_fraction_sample"] == pytest.approx((4 * 9 / 12 + 2 * 3 / 6) / 6)


def test_training_batches_dead_fraction_per_sample_by_hand():
    node = IFNode()
    batches = BatchActivity({"n": node})
    with batches.recording():
        node(batch(FIRST))
        node(batch(SECOND))
    m = batches.compute()
    assert m["n/train_dead_fraction_sample"] == pytest.approx(12 / 16)
    assert m["n/train_dead_fraction"] == pytest.approx(5 / 8)
    assert m["all/train_dead_fraction_sample"] == pytest.approx(12 / 16)


def test_initial_activity_is_measured_before_training():
    node = IFNode()
    monitor = TrainingMonitor(torch.nn.Sequential(torch.nn.Linear(4, 4, bias=False), node))
    with torch.no_grad():
        monitor.activity.model[0].weight.copy_(torch.eye(4))
    init = monitor.initial(lambda: monitor.activity.model(batch(FIRST)))
    assert init["1/init_dead_fraction_sample"] == pytest.approx(9 / 12)
    assert init["1/init_dead_fraction"] == pytest.approx(2 / 4)
    assert "1/dead_fraction_sample" not in init


TINY = {
    "name": "tiny",
    "seed": 0,
    "device": "cpu",
    "T": 2,
    "epochs": 2,
    "model": {"name": "spiking_mlp", "options": {"sizes": [64, 24, 10], "spiking_output": False}},
    "neuron": {"type": "lif", "tau": 2.0, "v_reset": None, "v_threshold": "learn"},
    "data": {"name": "digits", "batch_size": 32},
    "loss": {"name": "sdt"},
    "optim": {"name": "adam", "lr": 0.01},
    "schedule": {"name": "constant"},
    "run": {"monitor": True, "progress": False, "max_steps_per_epoch": 3, "checkpoint": False, "plots": False},
}


def test_engine_logs_epoch0_activity_and_trains_as_without_monitor(tmp_path):
    torch.set_num_threads(1)
    train(config_from_dict(copy.deepcopy(TINY)), run_dir=tmp_path / "on", verbose=False)
    off = copy.deepcopy(TINY)
    off["run"]["monitor"] = False
    train(config_from_dict(off), run_dir=tmp_path / "off", verbose=False)
    on_records, off_records = read_metrics(tmp_path / "on"), read_metrics(tmp_path / "off")
    first = on_records[0]
    for key in ("layers.1/init_dead_fraction_sample", "layers.1/init_dead_fraction", "all/init_firing_rate"):
        assert 0.0 <= first[f"monitor/{key}"] <= 1.0
    assert first["monitor/layers.1/init_dead_fraction_sample"] >= first["monitor/layers.1/init_dead_fraction"]
    assert not any(k.endswith("init_dead_fraction_sample") for k in on_records[1])
    # the epoch-0 evaluation does not disturb the random stream: same batches, same losses
    assert [r["train/loss"] for r in on_records] == [r["train/loss"] for r in off_records]


def test_epoch0_of_a_batch_norm_model_uses_the_data_statistics_and_trains_as_without_monitor(tmp_path):
    """With running statistics (0, 1) the untrained conv net was 100% dead per sample: an artifact, not a finding."""
    torch.set_num_threads(1)
    raw = copy.deepcopy(TINY)
    raw["model"] = {"name": "digits_convnet", "options": {"widths": [8, 16]}}
    train(config_from_dict(copy.deepcopy(raw)), run_dir=tmp_path / "on", verbose=False)
    raw["run"]["monitor"] = False
    train(config_from_dict(raw), run_dir=tmp_path / "off", verbose=False)
    on_records, off_records = read_metrics(tmp_path / "on"), read_metrics(tmp_path / "off")
    dead0 = on_records[0]["monitor/all/init_dead_fraction_sample"]
    assert dead0 < 0.99, dead0  # 92% measured: T=2, LIF tau 2, no IMP: most neurons stay silent, not all
    assert [r["train/loss"] for r in on_records] == [r["train/loss"] for r in off_records]
    assert [r["test/acc"] for r in on_records] == [r["test/acc"] for r in off_records]
