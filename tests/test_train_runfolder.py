"""The run-folder contract (train/runfolder.py), config sections checked at load, resume rules, runtime helpers."""

import json

import pytest
import torch

from spikeforge.train import runfolder as RF
from spikeforge.train.config import ConfigError, config_from_dict, resume_changes
from spikeforge.train.runtime import autocast, resolve_device, seed_everything, torch_settings


def test_monitor_keys_round_trip_with_dotted_layer_names():
    key = RF.monitor_key("layer1.0.sn1", "dead_fraction")
    assert key == "monitor/layer1.0.sn1/dead_fraction"
    assert RF.parse_monitor_key(key) == ("layer1.0.sn1", "dead_fraction")
    assert RF.parse_monitor_key(RF.TEST_ACC) is None and RF.parse_monitor_key("monitor/x") is None
    with pytest.raises(ValueError):
        RF.monitor_key("a", "b/c")


def test_reader_skips_a_torn_final_line_only(tmp_path):
    records = [{"epoch": 1, RF.TRAIN_LOSS: 1.5}, {"epoch": 2, RF.TRAIN_LOSS: 1.2}]
    RF.write_records(tmp_path, records)
    assert RF.read_metrics(tmp_path) == records
    with open(tmp_path / RF.METRICS, "a") as f:
        f.write('{"epoch": 3, "tra')  # a crash during the write
    assert RF.read_metrics(tmp_path) == records
    RF.append_record(tmp_path, {"epoch": 3})  # appending after a torn line is corruption from then on
    with pytest.raises(RF.MetricsFileError, match=r"metrics.jsonl:3: not a JSON record"):
        RF.read_metrics(tmp_path)
    (tmp_path / RF.METRICS).write_text('{"epoch": 1}\n[1, 2]\n')
    with pytest.raises(RF.MetricsFileError, match="must be a JSON object"):
        RF.read_metrics(tmp_path / RF.METRICS)
    assert RF.read_metrics(tmp_path / "nowhere") == []


def test_clear_run_removes_only_the_run_files(tmp_path):
    for name in (*RF.RUN_FILES, "notes.txt", ".last.pt.abc.tmp"):
        (tmp_path / name).write_text("x")
    assert RF.holds_run(tmp_path)
    RF.clear_run(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert not RF.holds_run(tmp_path)


def test_lock_names_its_owner_and_is_released(tmp_path):
    with RF.RunLock(tmp_path / "run") as lock:
        owner = json.loads((tmp_path / "run" / RF.LOCK).read_text())
        assert owner["pid"] > 0 and lock.held
        with pytest.raises(RF.RunFolderError, match=f"PID {owner['pid']}"):
            RF.RunLock(tmp_path / "run").acquire()
    assert not (tmp_path / "run" / RF.LOCK).exists()
    RF.RunLock(tmp_path / "run").acquire().release()


def test_resume_changes_apply_training_knobs_and_refuse_the_model():
    old = {"epochs": 2, "optim": {"lr": 0.1, "name": "sgd"}, "model": {"options": {"widths": [4, 8]}}, "T": 4}
    new = {"epochs": 5, "optim": {"lr": 0.01, "name": "adam"}, "model": {"options": {"widths": [4, 16]}}, "T": 4}
    applied, refused = resume_changes(old, new)
    assert applied == {"epochs": (2, 5), "optim.lr": (0.1, 0.01)}
    assert refused == [("model.options.widths", [4, 8], [4, 16]), ("optim.name", "sgd", "adam")]
    assert resume_changes(old, old) == ({}, [])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"model": {"name": "resnet9000"}}, "model.name: unknown model 'resnet9000'"),
        ({"model": {"options": {"depth": 3}}}, "model.options: model 'digits_convnet' has no option ['depth']"),
        ({"neuron": {"type": "lif", "tau": 0.5}}, "neuron: LIFNode tau must be > 1"),
        ({"neuron": {"type": "lif", "shape": 3}}, "neuron: neuron has no option ['shape']"),
        ({"neuron": {"type": "lif", "backend": "nosuch"}}, "neuron: unknown neuron backend 'nosuch'; choose one of"),
        ({"data": {"name": "mnist9"}}, "data.name: unknown dataset 'mnist9'"),
        ({"data": {"options": {"window": 3}}}, "data.options: dataset 'digits' has no option ['window']"),
        (
            {"data": {"name": "nmnist", "root": "/nowhere", "options": {"split_by": "sideways"}}},
            "data.options: dataset 'nmnist': split_by must be one of ('number', 'time'), got 'sideways'",
        ),
        ({"data": {"encoder": "rate"}}, "data.encoder must be one of ['auto', 'direct', 'poisson', 'sequence']"),
        ({"loss": {"name": "mse"}}, "loss.name must be one of ['sdt', 'tet', 'tet_s', 'lts', 'spike_rate']"),
        ({"loss": {"name": "tet", "options": {"gamma": 1}}}, "loss.options ['gamma'] not accepted by 'tet'"),
    ],
)
def test_free_sections_are_checked_at_load_before_any_data(monkeypatch, raw, message):
    def no_data(*args, **kwargs):
        raise AssertionError("data was built before the config was checked")

    monkeypatch.setattr("spikeforge.data.registry.build_dataset", no_data)
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert message in str(info.value)


def test_runtime_helpers():
    assert resolve_device("cpu").type == "cpu" and resolve_device("auto").type in ("cpu", "cuda")
    with autocast("fp32", torch.device("cpu")):
        pass
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        autocast("fp16", torch.device("cpu"))
    seed_everything(3)
    a = torch.rand(2)
    seed_everything(3)
    assert torch.equal(a, torch.rand(2))
    before = torch.get_num_threads()
    with torch_settings(threads=1, deterministic=True):
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
    assert torch.get_num_threads() == before and not torch.are_deterministic_algorithms_enabled()


def test_result_keys_are_the_run_result_fields():
    """result.json is RunResult less its history: its readers' key names must be those fields."""
    import dataclasses

    from spikeforge.train.engine import RunResult

    fields = {f.name for f in dataclasses.fields(RunResult)} - {"history"}
    keys = {RF.RESULT_TEST_ACC, RF.RESULT_BEST_ACC, RF.RESULT_ACC_PER_STEP, RF.RESULT_ACC_CUMULATIVE, RF.RESULT_SECONDS}
    assert keys <= fields
