"""Membrane / first-spike analysis (Shen et al. Fig 1) against hand-computed dynamics."""

import argparse
import csv
import json
import math

import pytest
import torch

from spikeforge.analysis.membrane import first_spike_times, run_membrane, simulate
from spikeforge.commands.analyze import add_analyze_parser, run_analyze


def test_if_soft_reset_first_spikes_by_hand():
    # (IMP, input) -> first step with IMP + (t+1)*input >= 1
    cases = {(0.5, 0.25): 1, (0.0, 0.3): 3, (0.9, 0.2): 0, (-0.5, 0.25): 5}
    for (imp, c), expected in cases.items():
        res = simulate([imp], [c], T=8)
        assert first_spike_times(res["spikes"]).item() == expected, (imp, c)
    assert math.isnan(first_spike_times(simulate([0.0], [0.0], T=8)["spikes"]).item())


def test_grid_layout_and_soft_reset_counts():
    res = simulate([0.0, 0.5], [0.5, 0.25], T=8)
    assert res["spikes"].shape == (2, 2, 8) and res["v"].shape == (2, 2, 8)
    # IMP 0, input .5: spikes at t = 1, 3, 5, 7; V after reset alternates .5, 0
    assert res["spikes"][0, 0].tolist() == [0, 1, 0, 1, 0, 1, 0, 1]
    assert res["v"][0, 0, :4].tolist() == pytest.approx([0.5, 0.0, 0.5, 0.0])
    # IMP .5, input .25: H = .75, 1 (spike), .25, .5, .75, 1 (spike), .25, .5
    assert res["spikes"][1, 1].sum().item() == 2 and res["v"][1, 1, -1].item() == pytest.approx(0.5)


def test_lif_hard_reset_by_hand():
    lif = {"type": "lif", "tau": 2.0, "v_reset": 0.0}
    # H = V + (X - V)/2: from 0 with X = 1.5 -> .75, 1.125 (spike, V = 0), .75, 1.125
    res = simulate([0.0], [1.5], T=4, neuron=lif)
    assert res["spikes"][0, 0].tolist() == [0, 1, 0, 1]
    # the IMP leaks: 1.2 -> H = 0.6 at t = 0 without input, no spike
    res = simulate([1.2], [0.0], T=2, neuron=lif)
    assert res["spikes"].sum() == 0 and res["v"][0, 0, 0].item() == pytest.approx(0.6)
    with pytest.raises(ValueError, match="imp"):
        simulate([0.0], [1.0], neuron={"type": "if", "imp": 0.5})


def test_run_writes_figure1_numbers_and_files(tmp_path):
    res = run_membrane(tmp_path, T=16, imps=torch.linspace(-0.5, 0.5, 5), intensities=torch.linspace(0, 0.4, 3))
    # Fig 1a: IMP k/12 with input 1/12 first fires at t = 11 - k; Fig 1b: input just below 1/k at t = k.
    assert res["fig1_first_spike_vs_imp"] == [11 - k for k in range(7)]
    assert res["fig1_first_spike_vs_intensity"] == list(range(12, 5, -1))
    assert res["imp_range"] == [-0.5, 0.5, 5] and res["spike_count_range"][0] == 0
    with open(tmp_path / "membrane_grid.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 15 and len(table[0]["spikes"]) == 16
    silent = [r for r in table if float(r["intensity"]) == 0 and float(r["imp"]) < 1]
    assert all(r["first_spike"] == "" and r["spike_count"] == "0" for r in silent)
    for name in ("membrane_fig1.png", "membrane_summary.png", "membrane_traces.png", "membrane_fig1.csv"):
        assert (tmp_path / name).stat().st_size > 1000
    assert json.loads((tmp_path / "membrane.json").read_text())["T"] == 16


def test_cli(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_analyze_parser(parser.add_subparsers(dest="cmd"))
    argv = ["analyze", "membrane", "--out", str(tmp_path), "--neuron", "lif", "--v-reset", "none", "--T", "8"]
    argv += ["--imps=-1:1:3", "--intensities", "0,0.5"]  # '=' since argparse reads '-1:...' as an option
    assert run_analyze(parser.parse_args(argv)) == 0
    assert json.loads((tmp_path / "membrane.json").read_text())["neuron"] == {
        "type": "lif",
        "v_reset": None,
        "tau": 2.0,
    }
    assert "first spike step vs IMP" in capsys.readouterr().out
