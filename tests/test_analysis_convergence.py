"""Convergence sweep: the bookkeeping on synthetic histories, then a tiny real sweep through the engine."""

import csv
import json
import math

import pytest
import torch

from spikeforge.analysis.convergence import run_convergence, summarize_convergence
from spikeforge.analysis.sweep import epochs_to_reach, mean_std, metric_curve, stack_mean_std
from spikeforge.commands import main
from spikeforge.train.logger import read_metrics


def test_epochs_to_reach():
    assert epochs_to_reach([0.2, 0.5, 0.9, 0.95], 0.9) == 3
    assert epochs_to_reach([0.2, 0.5], 0.9) is None
    assert epochs_to_reach([math.nan, 0.95], 0.9) == 2
    assert epochs_to_reach([0.3, 0.95], 0.9, epochs=[5, 10]) == 10  # evaluated every 5 epochs


def test_metric_curve_and_band():
    records = [{"epoch": 1, "test/acc": 0.5}, {"epoch": 2}, {"epoch": 3, "test/acc": 0.7}]
    assert metric_curve(records, "test/acc", 3)[::2] == [0.5, 0.7]
    assert math.isnan(metric_curve(records, "test/acc", 3)[1])
    mean, std = stack_mean_std([[0.2, 0.4], [0.4, math.nan]])
    assert mean.tolist() == pytest.approx([0.3, 0.4]) and std.tolist() == pytest.approx([0.1, 0.0])
    assert mean_std([1.0, 3.0, math.nan]) == (2.0, 1.0)


def test_summary_by_hand():
    curves = {
        (2, "sdt"): [[0.50, 0.80, 0.90], [0.70, 0.80, 0.94]],  # mean 0.60, 0.80, 0.92
        (2, "lts"): [[0.88, 0.95, 0.96], [0.86, 0.93, 0.96]],  # mean 0.87, 0.94, 0.96
        (4, "sdt"): [[0.10, 0.20, 0.30], [0.10, 0.20, 0.50]],  # mean 0.10, 0.20, 0.40
    }
    rows = {(r["T"], r["loss"]): r for r in summarize_convergence(curves)}
    lts, sdt = rows[(2, "lts")], rows[(2, "sdt")]
    # T=2: the best final mean is LTS's 0.96, so the target is 0.912
    assert lts["target"] == pytest.approx(0.912) and sdt["target"] == pytest.approx(0.912)
    assert lts["epochs_to_target"] == 2 and sdt["epochs_to_target"] == 3
    assert sdt["epochs_to_target_per_seed"] == [None, 3]
    assert sdt["final_acc_mean"] == pytest.approx(0.92) and sdt["final_acc_std"] == pytest.approx(0.02)
    assert sdt["best_acc_mean"] == pytest.approx(0.92)
    # T=4 is judged against its own best (0.40 * 0.95 = 0.38), not against T=2
    assert rows[(4, "sdt")]["target"] == pytest.approx(0.38) and rows[(4, "sdt")]["epochs_to_target"] == 3


TINY = {
    "name": "tiny",
    "device": "cpu",
    "epochs": 2,
    "model": {"name": "spiking_mlp", "options": {"sizes": [64, 16, 10], "spiking_output": False}},
    "neuron": {"type": "if", "v_reset": None},
    "data": {"name": "digits", "batch_size": 32},
    "loss": {"name": "tet", "options": {"lam": 0.1}},
    "optim": {"name": "adam", "lr": 0.01},
    "run": {"max_steps_per_epoch": 2, "checkpoint": False},
}


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_tiny_sweep_through_the_engine(tmp_path, one_thread):
    res = run_convergence(TINY, tmp_path, Ts=(1, 2), losses=("sdt", "lts"), seeds=(0, 1), log=None)
    assert [(r["T"], r["loss"]) for r in res["summary"]] == [(1, "sdt"), (1, "lts"), (2, "sdt"), (2, "lts")]
    # every run is an ordinary run folder whose records are the curves
    records = read_metrics(tmp_path / "runs" / "T2-lts-s1")
    assert [r["test/acc"] for r in records] == res["curves"]["T2/lts"]["test/acc"][1]
    cfg = (tmp_path / "runs" / "T2-lts-s1" / "config.yaml").read_text()
    assert "name: lts" in cfg and "T: 2" in cfg and "seed: 1" in cfg and "lam" not in cfg
    finals = [c[-1] for c in res["curves"]["T1/sdt"]["test/acc"]]
    row = next(r for r in res["summary"] if (r["T"], r["loss"]) == (1, "sdt"))
    assert row["final_acc_mean"] == pytest.approx(sum(finals) / 2)
    for name in ("convergence.png", "convergence_summary.csv", "convergence_curves.csv", "convergence.json"):
        assert (tmp_path / name).is_file()
    long_rows = list(csv.DictReader((tmp_path / "convergence_curves.csv").open()))
    assert len(long_rows) == 2 * 2 * 2 * 2  # T x loss x seed x epoch
    assert json.loads((tmp_path / "convergence.json").read_text())["summary"][0]["loss"] == "sdt"
    # a second call reuses the finished runs instead of training again
    stamp = (tmp_path / "runs" / "T1-sdt-s0" / "metrics.jsonl").stat().st_mtime_ns
    again = run_convergence(TINY, tmp_path, Ts=(1,), losses=("sdt",), seeds=(0,), log=None)
    assert (tmp_path / "runs" / "T1-sdt-s0" / "metrics.jsonl").stat().st_mtime_ns == stamp
    assert again["curves"]["T1/sdt"]["test/acc"][0] == res["curves"]["T1/sdt"]["test/acc"][0]


def test_cli(tmp_path, one_thread, capsys):
    import yaml

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    argv = ["analyze", "convergence", "--config", str(config), "--T", "1", "--losses", "sdt", "tet_s"]
    argv += ["--seeds", "0", "--epochs", "1", "--set", "run.max_steps_per_epoch=1", "--out", str(tmp_path / "o")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "TET-S" in out and "epochs to 95% of best" in out
    assert (tmp_path / "o" / "runs" / "T1-tet_s-s0" / "result.json").is_file()
    assert main(["analyze", "convergence", "--config", str(config), "--losses", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown loss" in capsys.readouterr().err
