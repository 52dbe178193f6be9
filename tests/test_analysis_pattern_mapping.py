"""Pattern mapping of the IF neuron (Shen et al. Fig 3, docs/methods.md A.7)."""

import argparse
import csv
import itertools
import json

import pytest
import torch

from spikeforge import IFNode
from spikeforge.analysis import pattern_mapping as pm
from spikeforge.commands.analyze import add_analyze_parser, run_analyze


def slow_mapping(imps, weights, T=4, threshold=1.0):
    """Plain-Python soft-reset IF, one (IMP, w, pattern) at a time: an independent check of the vectorised code."""
    hits = [[0] * 2**T for _ in range(2**T)]
    for imp, w, i in itertools.product(imps, weights, range(2**T)):
        v, out = imp, 0
        for t in range(T):
            v += w * ((i >> (T - 1 - t)) & 1)
            spike = v >= threshold
            v -= threshold * spike
            out = (out << 1) | spike
        hits[out][i] += 1
    return torch.tensor(hits)


def test_patterns_msb_first():
    p = pm.input_patterns(4)
    assert p.shape == (16, 4)
    assert p[5].tolist() == [0, 1, 0, 1] and p[8].tolist() == [1, 0, 0, 0]
    assert pm.pattern_indices(p).tolist() == list(range(16))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_official_grids_give_the_spec_counts(dtype):
    imps, weights = pm.pattern_grid("zero")
    assert int((pm.mapping_matrix(imps, weights, dtype=dtype) > 0).sum()) == 54
    imps, weights = pm.pattern_grid("sweep")
    assert int((pm.mapping_matrix(imps, weights, dtype=dtype) > 0).sum()) == 108


def test_matches_a_plain_python_neuron_including_chunking(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    imps = (torch.rand(7, generator=gen) * 2 - 1).tolist()
    weights = torch.rand(5, generator=gen).tolist()
    monkeypatch.setattr(pm, "_CHUNK", 100)  # 5 weights x 16 patterns per IMP: one IMP per chunk
    assert torch.equal(pm.mapping_matrix(imps, weights), slow_mapping(imps, weights))
    assert torch.equal(pm.mapping_matrix([0.25], [0.3, 0.8], T=3), slow_mapping([0.25], [0.3, 0.8], T=3))


def test_hand_checked_mappings_at_imp_zero():
    reach = pm.mapping_matrix(*pm.pattern_grid("zero")) > 0
    assert reach.diagonal().all()  # w = 1 copies every pattern
    assert reach[0b0101, 0b1111]  # w = 0.5: H = .5, 1 (spike), .5, 1 (spike)
    assert reach[:, 0].tolist() == [True] + [False] * 15  # no input, IMP 0: silence only
    assert reach[0b0001, 0b1111] and reach[0b0001, 0b0011]  # w = 0.25 / w = 0.5: one spike at the end


def test_nonzero_imp_makes_silent_input_fire():
    sweep = pm.mapping_matrix(*pm.pattern_grid("sweep")) > 0
    assert sweep[0b1000, 0b0000]  # IMP = 1 reaches the threshold at t = 0 without input


def test_firing_at_equality_matters():
    # Strict H > threshold (threshold nudged up) loses every mapping that needs an exact hit.
    for grid, spec in (("zero", 54), ("sweep", 108)):
        strict = int((pm.mapping_matrix(*pm.pattern_grid(grid), v_threshold=1 + 1e-9) > 0).sum())
        assert strict < spec
    # copying a pattern needs H = 1 exactly at every input spike (w = 1, the largest weight)
    strict = pm.mapping_matrix(*pm.pattern_grid("zero"), v_threshold=1 + 1e-9) > 0
    assert not strict.diagonal()[1:].any()


def test_run_writes_files(tmp_path):
    res = pm.run_pattern_mapping(tmp_path, "zero")
    assert res["num_mappings"] == 54 and res["mappings_per_input"] == 54 / 16 and res["reachable_outputs"] == 16
    stem = tmp_path / "pattern_mapping_zero"
    saved = json.loads(stem.with_suffix(".json").read_text())
    assert saved["num_mappings"] == 54 and len(saved["matrix"]) == 16
    with open(stem.with_suffix(".csv")) as f:
        table = list(csv.DictReader(f))
    assert len(table) == 256 and sum(int(r["reachable"]) for r in table) == 54
    assert stem.with_suffix(".png").stat().st_size > 10_000


def test_learned_imps_from_a_model_and_a_state_dict(tmp_path):
    model = torch.nn.Sequential(IFNode(imp="learn", feature_shape=(3,)))
    with torch.no_grad():
        model[0].imp.copy_(torch.tensor([0.0, 0.25, 0.5]))
    imps = pm.imps_from_model(model)
    assert imps.tolist() == [0.0, 0.25, 0.5]
    assert torch.equal(pm.imps_from_state_dict({"model": model.state_dict(), "epoch": 3}), imps)
    res = pm.run_pattern_mapping(tmp_path, imps)
    expected = pm.mapping_matrix(imps, torch.linspace(0, 1, 17)) > 0
    assert res["label"] == "given" and res["num_mappings"] == int(expected.sum())
    few = pm.run_pattern_mapping(tmp_path, torch.linspace(-1, 1, 101), max_imps=5, label="few")
    assert few["num_imps"] == 5 and few["imp_min"] == -1 and few["imp_max"] == 1
    with pytest.raises(ValueError, match="imp='learn'"):
        pm.imps_from_model(torch.nn.Sequential(IFNode()))


def test_cli(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_analyze_parser(parser.add_subparsers(dest="cmd"))
    ckpt = tmp_path / "ckpt.pt"
    torch.save({"model": {"layer.imp": torch.tensor([0.0, 0.25])}}, ckpt)
    args = parser.parse_args(["analyze", "pattern-mapping", "--out", str(tmp_path), "--imp", "zero", "--imp", "sweep"])
    assert run_analyze(args) == 0
    out = capsys.readouterr().out
    assert "54 reachable" in out and "108 reachable" in out
    assert (tmp_path / "pattern_mapping.png").is_file()
    args = parser.parse_args(["analyze", "pattern-mapping", "--out", str(tmp_path), "--imp", str(ckpt)])
    assert run_analyze(args) == 0
    summary = json.loads((tmp_path / "pattern_mapping_summary.json").read_text())
    assert summary["ckpt"]["num_mappings"] == int((pm.mapping_matrix([0.0, 0.25], torch.linspace(0, 1, 17)) > 0).sum())
    args = parser.parse_args(["analyze", "pattern-mapping", "--out", str(tmp_path), "--imp", "lots"])
    assert run_analyze(args) == 2
    assert "error" in capsys.readouterr().err
