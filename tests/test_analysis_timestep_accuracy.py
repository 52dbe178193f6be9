"""Accuracy per time step: a hand-made model whose per-step outputs are known, and a tiny trained run."""

import csv
import json

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from spikeforge.analysis.timestep_accuracy import timestep_accuracy, write_timestep_accuracy
from spikeforge.commands import main
from spikeforge.losses import build_loss
from spikeforge.train.config import config_from_dict
from spikeforge.train.engine import train
from spikeforge.train.evaluate import evaluate_run


class LookupModel(nn.Module):
    """Returns ``logits[:, ids]`` where the input ``[T, B, 1]`` carries each sample's index."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("logits", logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits[:, x[0, :, 0].long()]


# logits[t, sample] for T = 3, four samples, three classes; labels 0, 1, 2, 0.
LOGITS = torch.tensor(
    [
        [[0, 2, 0], [0, 1, 0], [1, 0, 0], [1, 0, 0]],  # t=1: samples 1 and 3 right
        [[3, 0, 0], [0, 1, 0], [1, 0, 0], [1, 0, 0]],  # t=2: samples 0, 1, 3 right
        [[3, 0, 0], [1.5, 0, 0], [0, 0, 4], [1, 0, 0]],  # t=3: samples 0, 2, 3 right
    ],
    dtype=torch.float32,
)
LABELS = torch.tensor([0, 1, 2, 0])
# running means: t=2 -> sample 0 [1.5, 1, 0] right, sample 2 [1, 0, 0] wrong;
# t=3 -> sample 1 [0.5, 0.67, 0] right, sample 2 [0.67, 0, 1.33] right: all four.
ACC_STEP = [0.5, 0.75, 0.75]
ACC_CUM = [0.5, 0.75, 1.0]


def hand_made(loss_name):
    data = TensorDataset(torch.arange(4, dtype=torch.float32).unsqueeze(1), LABELS)
    return LookupModel(LOGITS), DataLoader(data, batch_size=3), build_loss(loss_name)


@pytest.mark.parametrize(("loss", "readout_acc"), [("sdt", 1.0), ("lts", 0.75)])
def test_accuracy_per_step_by_hand(loss, readout_acc):
    model, loader, loss_fn = hand_made(loss)
    res = timestep_accuracy(model, loader, loss_fn, "direct", T=3)
    assert res["acc_step"] == pytest.approx(ACC_STEP)
    assert res["acc_cum"] == pytest.approx(ACC_CUM)
    assert res["acc"] == pytest.approx(readout_acc)  # SDT reads the time mean, LTS the last step
    assert res["n"] == 4 and res["T"] == 3 and res["best_step"] == 2  # the first of the two best steps


def test_written_files(tmp_path):
    model, loader, loss_fn = hand_made("sdt")
    res = timestep_accuracy(model, loader, loss_fn, "direct", T=3)
    paths = write_timestep_accuracy(res, tmp_path, "hand-made")
    rows = list(csv.DictReader(paths["csv"].open()))
    assert [int(r["t"]) for r in rows] == [1, 2, 3]
    assert [float(r["acc_step"]) for r in rows] == pytest.approx(ACC_STEP)
    assert [float(r["acc_cum"]) for r in rows] == pytest.approx(ACC_CUM)
    assert json.loads(paths["json"].read_text())["acc_cum"] == pytest.approx(ACC_CUM)
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp("ts") / "run"
    cfg = config_from_dict(
        {
            "name": "tiny",
            "device": "cpu",
            "T": 3,
            "epochs": 1,
            "model": {"name": "spiking_mlp", "options": {"sizes": [64, 16, 10], "spiking_output": False}},
            "neuron": {"type": "if", "v_reset": None, "imp": "learn"},
            "data": {"name": "digits", "batch_size": 32},
            "loss": {"name": "lts"},
            "run": {"progress": False, "max_steps_per_epoch": 3},
        }
    )
    train(cfg, run_dir=run_dir, verbose=False)
    yield run_dir
    torch.set_num_threads(threads)


def test_cli_on_a_trained_run(tiny_run, tmp_path, capsys):
    assert main(["analyze", "timestep-accuracy", str(tiny_run)]) == 0
    saved = json.loads((tiny_run / "timestep_accuracy.json").read_text())
    direct = evaluate_run(tiny_run, verbose=False)
    assert saved["acc_step"] == pytest.approx(direct["acc_step"])
    assert saved["acc_cum"] == pytest.approx(direct["acc_cum"])
    assert saved["acc"] == pytest.approx(direct["acc_step"][-1])  # LTS reads the last step
    assert (tiny_run / "timestep_accuracy.png").is_file() and (tiny_run / "timestep_accuracy.csv").is_file()
    assert "step t alone" in capsys.readouterr().out
    # a checkpoint file and --out
    assert main(["analyze", "timestep-accuracy", str(tiny_run / "last.pt"), "--out", str(tmp_path / "o")]) == 0
    assert json.loads((tmp_path / "o" / "timestep_accuracy.json").read_text())["checkpoint"].endswith("last.pt")


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["analyze", "timestep-accuracy", str(tmp_path / "missing")]) == 2
    assert "no such run folder" in capsys.readouterr().err
