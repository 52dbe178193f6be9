"""The training engine's monitor (``run.monitor: true``): values, resume, histograms, DDP merge, zero cost when off."""

import copy
import sys
import types

import pytest
import torch
from torch import nn

from spikeforge import IFNode
from spikeforge.monitor import ActivityMonitor
from spikeforge.monitor.training import BatchActivity, TrainingMonitor
from spikeforge.neuron.nodes import BaseNode, materialize
from spikeforge.train.builders import build_data, build_model_from_config, encode_batch
from spikeforge.train.checkpoint import load_checkpoint, save_checkpoint
from spikeforge.train.config import config_from_dict
from spikeforge.train.engine import _seed_everything, train
from spikeforge.train.logger import read_metrics

from .ranks import GROUP_TIMEOUT, spawn_ranks

TINY = {
    "name": "tiny",
    "seed": 0,
    "device": "cpu",
    "T": 2,
    "epochs": 2,
    "model": {"name": "spiking_mlp", "options": {"sizes": [64, 24, 10], "spiking_output": False}},
    "neuron": {"type": "lif", "tau": 2.0, "v_reset": None, "imp": "learn", "v_threshold": "learn"},
    "data": {"name": "digits", "batch_size": 32},
    "loss": {"name": "sdt"},
    "optim": {"name": "adam", "lr": 0.01},
    "schedule": {"name": "constant"},
    "run": {"monitor": True, "monitor_membrane": True, "progress": False, "max_steps_per_epoch": 3},
}


@pytest.fixture(autouse=True)
def one_thread():
    # a busy shared CPU runs these small models many times faster on one thread
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_cfg(**changes):
    raw = copy.deepcopy(TINY)
    for key, value in changes.items():
        node = raw
        *parents, leaf = key.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return config_from_dict(raw)


@pytest.fixture(scope="module")
def monitored_run(tmp_path_factory):
    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp("monitored") / "run"
    cfg = tiny_cfg()
    train(cfg, run_dir=run_dir, verbose=False)
    return cfg, run_dir


def restore(cfg, path):
    """The model of checkpoint ``path`` and the test loader, built as the engine builds them."""
    info, _, test_loader = build_data(cfg)
    model = build_model_from_config(cfg, info.num_classes)
    x, _ = test_loader.dataset[0]
    materialize(model, encode_batch(x.unsqueeze(0), "direct", cfg.T))
    model.load_state_dict(load_checkpoint(path)["model"])
    return model, test_loader


def test_membrane_statistics_are_logged_only_when_asked(tmp_path):
    """Recording every layer's membrane trace costs memory and bandwidth: the engine's monitor does it only with
    ``run.monitor_membrane: true`` (``monitored_run`` sets it)."""
    run_dir = tmp_path / "run"
    train(tiny_cfg(epochs=1, run__monitor_membrane=False), run_dir=run_dir, verbose=False)
    logged = read_metrics(run_dir)[-1]
    assert "monitor/layers.1/firing_rate" in logged
    assert not [k for k in logged if k.endswith(("/v_mean", "/v_std", "/v_min", "/v_max"))]


def test_logged_activity_equals_a_direct_monitor_pass(monitored_run):
    cfg, run_dir = monitored_run
    last = read_metrics(run_dir)[-1]
    model, loader = restore(cfg, run_dir / "last.pt")
    model.eval()
    monitor = ActivityMonitor(model, record_v=True)
    with monitor, torch.no_grad():
        for x, _ in loader:
            model(encode_batch(x, "direct", cfg.T))
    direct = monitor.compute()
    assert set(direct) <= {k.removeprefix("monitor/") for k in last}
    for key, value in direct.items():
        assert last[f"monitor/{key}"] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    # learned parameters are summarised too, and the hidden layer's rate is a genuine fraction
    assert "monitor/layers.1/threshold_mean" in last and "monitor/layers.1/imp_std" in last
    assert 0.0 < last["monitor/layers.1/firing_rate"] < 1.0


def test_weight_change_is_relative_to_the_initial_weights(monitored_run):
    cfg, run_dir = monitored_run
    last = read_metrics(run_dir)[-1]
    _seed_everything(cfg.seed)  # the engine seeds, builds the data, then the model
    info, _, _ = build_data(cfg)
    initial = build_model_from_config(cfg, info.num_classes)
    trained, _ = restore(cfg, run_dir / "last.pt")
    for name in ("layers.0.0", "layers.2.0"):
        w0 = initial.get_submodule(name).weight.detach().double()
        w = trained.get_submodule(name).weight.detach().double()
        expected = (w - w0).norm() / w0.norm()
        assert last[f"monitor/{name}/weight_change"] == pytest.approx(expected.item(), rel=1e-9)
        assert last[f"monitor/{name}/weight_delta_norm"] == pytest.approx((w - w0).norm().item(), rel=1e-9)
    stored = load_checkpoint(run_dir / "last.pt")["monitor"]["weight_init"]
    assert torch.equal(stored["layers.0.0"], initial.get_submodule("layers.0.0").weight.detach())


def test_training_batch_dead_fraction_is_logged_every_epoch(monitored_run):
    _, run_dir = monitored_run
    for r in read_metrics(run_dir):
        for key in ("layers.1/train_dead_fraction", "layers.1/train_firing_rate", "all/train_dead_fraction"):
            assert 0.0 <= r[f"monitor/{key}"] <= 1.0
        # the mean over 3 batches of (silent neurons / 24): a multiple of 1/72
        assert r["monitor/layers.1/train_dead_fraction"] * 72 == pytest.approx(
            round(r["monitor/layers.1/train_dead_fraction"] * 72), abs=1e-9
        )


def test_layer_curves_of_a_real_run(monitored_run, capsys):
    from spikeforge.commands import main

    _, run_dir = monitored_run
    assert main(["analyze", "layer-curves", str(run_dir)]) == 0
    for metric in ("dead_fraction", "train_dead_fraction", "firing_rate", "weight_change"):
        assert (run_dir / "plots" / f"layers_{metric}.png").read_bytes()[:4] == b"\x89PNG"
    assert "layers_weight_change.png" in capsys.readouterr().out


def test_batch_activity_by_hand():
    node = IFNode()
    batches = BatchActivity({"n": node})
    x1 = torch.tensor([1.0, 0.5, 0.0]).expand(4, 2, 3).clone()  # neuron 2 silent
    x2 = torch.tensor([0.0, 0.0, 1.0]).expand(4, 1, 3).clone()  # neurons 0, 1 silent
    with batches.recording():
        node(x1)
        node(x2)
    node(x1)  # outside the block: not counted
    m = batches.compute()
    # batch 1: 1 of 3 dead, batch 2: 2 of 3 dead -> mean 1/2
    assert m["n/train_dead_fraction"] == pytest.approx((1 / 3 + 2 / 3) / 2)
    # spikes: batch 1 neuron 0 fires 4x per sample, neuron 1 twice (hard reset) -> 12; batch 2: 4
    assert m["n/train_firing_rate"] == pytest.approx((12 + 4) / (4 * 2 * 3 + 4 * 1 * 3))
    assert m["all/train_dead_fraction"] == pytest.approx(m["n/train_dead_fraction"])
    assert not node._forward_hooks


def test_resume_keeps_the_stored_initial_weights(tmp_path):
    run_dir = tmp_path / "run"
    train(tiny_cfg(epochs=1), run_dir=run_dir, verbose=False)
    # Tamper with the stored W_0: a resumed run must measure against the checkpoint's copy,
    # not against weights re-initialised from the seed.
    ckpt = load_checkpoint(run_dir / "last.pt")
    ckpt["monitor"]["weight_init"] = {k: 2 * v for k, v in ckpt["monitor"]["weight_init"].items()}
    save_checkpoint(run_dir / "last.pt", ckpt)
    cfg = tiny_cfg(epochs=2)
    train(cfg, resume=run_dir, verbose=False)
    last = read_metrics(run_dir)[-1]
    assert last["epoch"] == 2
    model, _ = restore(cfg, run_dir / "last.pt")
    w0 = ckpt["monitor"]["weight_init"]["layers.2.0"].double()
    w = model.get_submodule("layers.2.0").weight.detach().double()
    assert last["monitor/layers.2.0/weight_change"] == pytest.approx(((w - w0).norm() / w0.norm()).item())
    saved_again = load_checkpoint(run_dir / "last.pt")["monitor"]["weight_init"]["layers.2.0"]
    assert torch.equal(saved_again, ckpt["monitor"]["weight_init"]["layers.2.0"])  # and it is carried on


def test_monitor_off_costs_nothing(tmp_path):
    run_dir = tmp_path / "run"
    result = train(tiny_cfg(epochs=1, run__monitor=False), run_dir=run_dir, verbose=False)
    assert not any(k.startswith("monitor/") for k in result.history[-1])
    assert "monitor" not in load_checkpoint(run_dir / "last.pt")
    model, _ = restore(tiny_cfg(), run_dir / "last.pt")
    assert all(not m.record_v and not m._forward_hooks for m in model.modules() if isinstance(m, BaseNode))


class FakeWriter:
    """Stands in for TensorBoard's SummaryWriter (the package is optional)."""

    instances: list["FakeWriter"] = []

    def __init__(self, log_dir=None):
        self.scalars, self.histograms = [], []
        FakeWriter.instances.append(self)

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def add_histogram(self, tag, values, global_step=None):
        self.histograms.append((tag, values.clone(), global_step))

    def flush(self):
        pass

    def close(self):
        pass


def test_learned_parameters_go_to_tensorboard_histograms(tmp_path, monkeypatch):
    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = FakeWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    FakeWriter.instances.clear()
    cfg = tiny_cfg()
    train(cfg, run_dir=tmp_path / "run", verbose=False)
    (writer,) = FakeWriter.instances
    tags = {(tag, step) for tag, _, step in writer.histograms}
    assert tags == {(f"{kind}/layers.1", step) for kind in ("imp", "threshold") for step in (1, 2)}
    model, _ = restore(cfg, tmp_path / "run" / "last.pt")
    final = {tag: values for tag, values, step in writer.histograms if step == 2}
    assert torch.equal(final["threshold/layers.1"], model.layers[1].v_threshold.detach())
    assert torch.equal(final["imp/layers.1"], model.layers[1].imp.detach())


def test_training_monitor_compute_reports_what_ran():
    model = nn.Sequential(nn.Linear(3, 3), IFNode())
    monitor = TrainingMonitor(model)
    assert set(monitor.compute()) == {"0/weight_change", "0/weight_delta_norm"}  # nothing ran yet
    with monitor.train_epoch():
        model(torch.ones(2, 1, 3))
    assert "1/train_dead_fraction" in monitor.compute() and "1/firing_rate" not in monitor.compute()
    with monitor.evaluation():
        model(torch.ones(2, 1, 3))
    assert "1/firing_rate" in monitor.compute()
    assert "1/v_mean" not in TrainingMonitor(model, record_v=False).compute()


# ----------------------------------------------------------------------------- DDP: counts are summed over ranks
def _ddp_worker(rank: int, world: int, init_file: str, out_file: str) -> None:
    from spikeforge import distributed as D

    D.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world, timeout=GROUP_TIMEOUT)
    torch.manual_seed(0)
    model = nn.Sequential(IFNode(), IFNode(v_threshold=2.5))
    monitor = TrainingMonitor(model, record_v=True)  # membrane statistics are merged over ranks too
    shard = _ddp_inputs()[rank]
    with monitor.train_epoch():
        model(shard)
    with monitor.evaluation():
        model(shard)
    result = monitor.compute()
    if rank == 0:
        torch.save(result, out_file)
    D.cleanup(synchronize=True)  # as the engine does: no rank tears the group down while a peer still uses it


def _ddp_inputs():
    # rank 0: neuron 2 silent; rank 1: only neuron 2 active -> no neuron is dead over both ranks
    return [
        torch.tensor([1.0, 0.5, 0.0]).expand(4, 2, 3).clone(),
        torch.tensor([0.0, 0.0, 1.0]).expand(4, 1, 3).clone(),
    ]


def test_ddp_sums_spike_counts_over_ranks(tmp_path):
    out = tmp_path / "rank0.pt"
    spawn_ranks(_ddp_worker, (2, str(tmp_path / "init"), str(out)))
    merged = torch.load(out)
    # the same two shards seen by one process
    model = nn.Sequential(IFNode(), IFNode(v_threshold=2.5))
    single = ActivityMonitor(model, record_v=True)
    with single:
        for shard in _ddp_inputs():
            model(shard)
    expected = single.compute()
    for key, value in expected.items():
        assert merged[key] == pytest.approx(value, rel=1e-12), key
    assert merged["0/dead_fraction"] == 0.0  # dead on rank 0 alone, alive on rank 1
    # saturated (a spike at each of the 4 steps): neuron 0 on rank 0's 2 samples, neuron 2 on rank 1's one
    assert merged["0/saturated_fraction_sample"] == pytest.approx(3 / (3 * 3))
    # per-batch dead fraction: mean over both ranks' batches (1/3 and 2/3)
    assert merged["0/train_dead_fraction"] == pytest.approx(0.5)
