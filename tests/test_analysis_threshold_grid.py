"""Threshold grid: neuron bookkeeping, and a tiny fixed-vs-learned sweep whose records are checked run by run."""

import copy
import csv
import json

import pytest
import torch

from spikeforge.analysis.threshold_grid import DEFAULT_CONFIG, layer_names, run_threshold_grid, threshold_neuron
from spikeforge.commands import main
from spikeforge.train.checkpoint import load_checkpoint
from spikeforge.train.logger import read_metrics


def test_threshold_neuron():
    base = {"type": "cuba", "v_threshold": "learn", "v_threshold_init": 1.25, "threshold_sharing": "layer", "x": 1}
    fixed = threshold_neuron(base, 4.0, learned=False)
    assert fixed == {"type": "cuba", "v_threshold": 4.0, "x": 1}
    learned = threshold_neuron({"type": "cuba", "v_threshold": 2.0}, 0.25, learned=True)
    assert learned == {"type": "cuba", "v_threshold": "learn", "v_threshold_init": 0.25}
    assert base["v_threshold"] == "learn"  # the input is not modified


def test_layer_names():
    records = [{"monitor/a.1/dead_fraction": 0.1, "monitor/all/dead_fraction": 0.2, "monitor/b/dead_fraction": 0}]
    assert layer_names(records) == ["a.1", "b"]


def tiny_base():
    base = copy.deepcopy(DEFAULT_CONFIG)
    base.update({"T": 4, "epochs": 2, "device": "cpu"})
    base["model"]["options"]["sizes"] = [64, 12, 10]
    base["run"].update({"max_steps_per_epoch": 2})
    return base


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("grid")
    res = run_threshold_grid(tiny_base(), out, inits=(0.5, 3.0), seeds=(0,), log=None)
    yield out, res
    torch.set_num_threads(threads)


def test_every_run_has_its_threshold_and_the_same_start(grid):
    out, _ = grid
    starts = {}
    for init in ("0.5", "3"):
        for mode in ("fixed", "learned"):
            ckpt = load_checkpoint(out / "runs" / f"th{init}-{mode}-s0" / "last.pt")
            neuron = ckpt["config"]["neuron"]
            if mode == "fixed":
                assert neuron["v_threshold"] == float(init) and "layers.1.v_threshold" not in ckpt["model"]
            else:
                assert neuron["v_threshold"] == "learn" and neuron["v_threshold_init"] == float(init)
                assert ckpt["model"]["layers.1.v_threshold"].shape == (12,)
            starts[(init, mode)] = ckpt["monitor"]["weight_init"]["layers.0.0"]
    # fixed and learned runs of one seed start from the same weights
    assert torch.equal(starts[("0.5", "fixed")], starts[("0.5", "learned")])
    assert torch.equal(starts[("0.5", "fixed")], starts[("3", "learned")])


def test_curves_and_summary_are_the_runs_records(grid):
    out, res = grid
    assert res["layers"] == ["layers.1", "layers.3"]
    records = read_metrics(out / "runs" / "th3-learned-s0")
    curves = res["curves"]["3/learned"]
    assert curves["test/acc"] == [[r["test/acc"] for r in records]]
    assert curves["layers.1/dead_fraction"] == [[r["monitor/layers.1/dead_fraction"] for r in records]]
    assert curves["layers.3/train_dead_fraction"] == [[r["monitor/layers.3/train_dead_fraction"] for r in records]]
    assert curves["layers.1/threshold_mean"][0][-1] == pytest.approx(
        load_checkpoint(out / "runs" / "th3-learned-s0" / "last.pt")["model"]["layers.1.v_threshold"].mean().item()
    )
    assert "layers.1/threshold_mean" not in res["curves"]["3/fixed"]
    rows = {(r["init"], r["mode"]): r for r in res["summary"]}
    assert set(rows) == {(0.5, "fixed"), (0.5, "learned"), (3.0, "fixed"), (3.0, "learned")}
    assert rows[(3.0, "learned")]["final_acc_mean"] == records[-1]["test/acc"]
    assert rows[(3.0, "learned")]["final_layers.3/dead_fraction"] == records[-1]["monitor/layers.3/dead_fraction"]
    best_final = max(r["final_acc_mean"] for r in rows.values())
    for r in rows.values():  # epochs to 95% of the grid's best final accuracy
        curve = res["curves"][f"{r['init']:g}/{r['mode']}"]["test/acc"][0]
        hit = [e + 1 for e, v in enumerate(curve) if v >= 0.95 * best_final]
        assert r["epochs_to_95pct_of_best"] == (hit[0] if hit else None)


def test_files(grid):
    out, _ = grid
    for name in ("accuracy", "dead", "thresholds"):
        assert (out / f"threshold_grid_{name}.png").read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader((out / "threshold_grid_curves.csv").open()))
    assert len(rows) == 2 * 2 * 2  # init x mode x epoch
    assert "layers.1/dead_fraction" in rows[0]
    data = json.loads((out / "threshold_grid.json").read_text())
    assert data["layers"] == ["layers.1", "layers.3"] and len(data["summary"]) == 4


def test_cli(tmp_path, capsys):
    threads = torch.get_num_threads()
    argv = ["analyze", "threshold-grid", "--inits", "2", "--modes", "learned", "--epochs", "1", "--threads", "1"]
    argv += ["--set", "T=2", "--set", "model.options.sizes=[64,8,10]", "--set", "run.max_steps_per_epoch=1"]
    try:
        assert main([*argv, "--out", str(tmp_path)]) == 0
    finally:
        torch.set_num_threads(threads)
    assert "dead layers.1" in capsys.readouterr().out
    assert (tmp_path / "runs" / "th2-learned-s0" / "result.json").is_file()
    assert main(["analyze", "threshold-grid", "--inits", "nan", "--out", str(tmp_path)]) == 2
