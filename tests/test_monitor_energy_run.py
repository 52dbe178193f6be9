"""``spikeforge energy RUN_DIR|CHECKPOINT|CONFIG``: measured on real test batches, written next to the run."""

import csv
import json

import pytest
import torch
import yaml

from spikeforge.commands import main
from spikeforge.monitor import EnergyMeter
from spikeforge.train.builders import encode_batch
from spikeforge.train.config import config_from_dict
from spikeforge.train.energy import energy_of_target, is_run_target
from spikeforge.train.engine import train
from spikeforge.train.evaluate import load_trained_model

TINY = {
    "name": "tiny",
    "device": "cpu",
    "T": 3,
    "epochs": 1,
    "model": {"name": "spiking_mlp", "options": {"sizes": [64, 16, 10], "spiking_output": False}},
    "neuron": {"type": "if", "v_reset": None},
    "data": {"name": "digits", "batch_size": 20},
    "run": {"progress": False, "max_steps_per_epoch": 3},
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp("energy") / "run"
    train(config_from_dict(TINY), run_dir=run_dir, verbose=False)
    yield run_dir
    torch.set_num_threads(threads)


def test_run_folder_energy_equals_a_direct_meter(tiny_run, capsys):
    assert main(["energy", str(tiny_run), "--batches", "2"]) == 0
    report = json.loads((tiny_run / "energy.json").read_text())
    model, cfg, _, loader, _, encoder, _, _ = load_trained_model(tiny_run)
    model.eval()
    meter = EnergyMeter(model)
    for i, (x, _) in enumerate(loader):
        if i == 2:
            break
        meter.update(encode_batch(x, encoder, cfg.T))
    direct = meter.compute()
    assert report["num_samples"] == 80  # two test batches of 2 x 20
    assert report["totals"] == pytest.approx(direct["totals"])
    assert [r["sops"] for r in report["layers"]] == pytest.approx([r["sops"] for r in direct["layers"]])
    # the hidden layer sees spikes: its SOPs are rate x T x FLOPs
    hidden = report["layers"][1]
    assert hidden["op"] == "AC" and hidden["sops"] == pytest.approx(hidden["input_rate"] * 3 * 16 * 10)
    assert report["source"]["trained"] is True and report["source"]["checkpoint"].endswith("best.pt")
    rows = list(csv.DictReader((tiny_run / "energy.csv").open()))
    assert [r["layer"] for r in rows] == ["layers.0.0", "layers.2.0", "total"]
    assert float(rows[-1]["energy_pj"]) == pytest.approx(report["totals"]["energy_pj"])
    out = capsys.readouterr().out
    assert "layers.2.0" in out and "energy.json" in out


def test_config_target_is_the_untrained_model(tiny_run, tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    assert not is_run_target(config) and is_run_target(tiny_run) and is_run_target(tiny_run / "last.pt")
    report, run_dir = energy_of_target(config, batches=1)
    assert run_dir is None and report["source"]["trained"] is False and report["num_samples"] == 40
    assert main(["energy", str(config), "--batches", "1"]) == 0
    assert not (tmp_path / "energy.json").exists()  # a config has no run folder: nothing written without --out
    assert main(["energy", str(config), "--batches", "1", "--out", str(tmp_path / "e")]) == 0
    assert json.loads((tmp_path / "e" / "energy.json").read_text())["source"]["config"] == str(config)


def test_config_target_starts_from_model_init_from(tiny_run, tmp_path):
    """The weights the engine would start from: a config's model.init_from is loaded, as in training."""
    weights = torch.load(tiny_run / "best.pt", weights_only=True)["model"]
    silent = {k: torch.zeros_like(v) if k.startswith("layers.0.") else v for k, v in weights.items()}
    torch.save(silent, tmp_path / "silent.pt")  # no input weight: the hidden layer never spikes
    raw = {**TINY, "model": {**TINY["model"], "init_from": str(tmp_path / "silent.pt")}}
    config = tmp_path / "init_from.yaml"
    config.write_text(yaml.safe_dump(raw))
    report, _ = energy_of_target(config, batches=1)
    assert report["source"]["init_from"] == str(tmp_path / "silent.pt")
    assert report["layers"][1]["sops"] == 0.0
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump(TINY))
    assert energy_of_target(plain, batches=1)[0]["layers"][1]["sops"] > 0


def test_errors(tiny_run, capsys):
    assert main(["energy", str(tiny_run), "--model", "spiking_mlp"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["energy"]) == 2
    assert main(["energy", str(tiny_run), "--batches", "0"]) == 2
    assert main(["energy", "no_such_config"]) == 2
