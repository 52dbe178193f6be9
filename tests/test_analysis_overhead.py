"""IMP / threshold overhead timing (Shen et al. Fig 6) on a tiny grid."""

import argparse
import csv

import pytest
import torch

from spikeforge import IFNode
from spikeforge.analysis.overhead import CALLS, run_overhead, time_neuron
from spikeforge.commands.analyze import add_analyze_parser, run_analyze


def test_timed_chain_follows_the_protocol():
    node = IFNode(imp="learn", feature_shape=(8,))
    calls = []
    node.register_forward_hook(lambda *a: calls.append(1))
    x = torch.randn(4, 1, 8, requires_grad=True)
    fwd, bwd = time_neuron(node, x, torch.randn(4, 1, 8))
    assert len(calls) == CALLS == 10
    assert fwd > 0 and bwd > 0
    assert node.imp.grad is not None and x.grad is not None  # the backward pass reached IMP and input


def test_tiny_grid_writes_csv_and_plots(tmp_path):
    res = run_overhead(tmp_path, neurons=[16, 64], steps=[2], variants=["imp"], repeats=2, warmup=1)
    rows = res["rows"]
    assert [(r["neurons"], r["variant"]) for r in rows] == [
        (16, "baseline"),
        (16, "imp"),
        (64, "baseline"),
        (64, "imp"),
    ]
    for r in rows:
        assert r["fwd_ms"] > 0 and r["bwd_ms"] > 0 and r["bwd_ms_min"] <= r["bwd_ms"]
        assert r["fwd_bwd_ms_min"] <= r["fwd_bwd_ms"]
    base, imp = rows[0], rows[1]
    assert base["bwd_overhead_pct"] == 0.0
    assert imp["bwd_overhead_pct"] == pytest.approx(100 * (imp["bwd_ms"] / base["bwd_ms"] - 1))
    with open(tmp_path / "imp_overhead.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 4 and table[1]["backend"] == "torch" and table[1]["variant"] == "imp"
    for name in ("imp_overhead.png", "imp_overhead_times.png", "imp_overhead.json"):
        assert (tmp_path / name).stat().st_size > 1000


def test_backend_is_passed_through(tmp_path):
    with pytest.raises(ValueError, match="unknown neuron backend 'no-such'"):
        run_overhead(tmp_path, neurons=[8], steps=[2], repeats=1, warmup=0, backend="no-such")
    with pytest.raises(ValueError, match="variants"):
        run_overhead(tmp_path, variants=["fast"])


def test_cli(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_analyze_parser(parser.add_subparsers(dest="cmd"))
    argv = ["analyze", "imp-overhead", "--out", str(tmp_path), "--neurons", "2^4", "--steps", "2"]
    argv += ["--variants", "threshold", "--repeats", "1", "--warmup", "0"]
    assert run_analyze(parser.parse_args(argv)) == 0
    assert "threshold" in capsys.readouterr().out
    assert (tmp_path / "imp_overhead.csv").is_file()
    argv[-5:] = ["threshold", "--backend", "no-such", "--repeats", "1"]
    assert run_analyze(parser.parse_args(argv)) == 2
