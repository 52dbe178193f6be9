"""`spikeforge memory CONFIG`: bytes per sample per mode, fixed bytes, the largest batch that fits."""

from __future__ import annotations

import re

import pytest

from spikeforge.commands import main
from spikeforge.commands.memory import parse_bytes
from spikeforge.memory.planner import CUDA_CONTEXT, MemoryEstimate, optimizer_state_factor


def test_sizes_parse_and_a_bad_one_is_one_line(capsys):
    assert parse_bytes("24GiB") == 24 * 2**30 and parse_bytes("80GB") == 80 * 10**9 and parse_bytes("512") == 512
    assert main(["memory", "digits_imp_lts", "--gpu-mem", "lots"]) == 2
    assert capsys.readouterr().err.strip() == "spikeforge: error: --gpu-mem: a size like 24GiB or 80GB, got 'lots'"


def test_largest_batch_is_the_largest_that_fits():
    est = MemoryEstimate(batch_measured=2, param_bytes=100, grad_bytes=100, optimizer_bytes=200)
    est.per_sample["none"], est.per_step["none"], est.transient_per_sample = 1000.0, 50.0, 500.0
    memory = CUDA_CONTEXT + 400 + 50 + 7 * 1500 + 1499
    assert est.largest_batch("none", memory) == 7
    assert est.total("none", 7) <= memory < est.total("none", 8)
    assert optimizer_state_factor("adamw", 0.0) == 2 and optimizer_state_factor("sgd", 0.9) == 1
    assert optimizer_state_factor("sgd", 0.0) == 0


def test_planner_prints_every_mode_and_the_fit(capsys):
    assert main(["memory", "digits_imp_lts", "--batch", "64", "--gpu-mem", "2GiB"]) == 0
    out = capsys.readouterr().out
    header = re.search(r"^block\s+none\s+compress\s+checkpoint\s+auto$", out, re.M)
    assert header is not None and "features.0" in out and "features.1" in out
    totals = [float(v) for v in re.search(r"^total\s+(.*)$", out, re.M).group(1).split()]
    none, compress, checkpoint, auto = totals
    assert none > compress >= auto >= checkpoint  # MiB per sample
    rows = {m: re.search(rf"^{m}\s+([\d.,]+) GiB\s+(yes|no)\s+(\d+)$", out, re.M) for m in ("none", "checkpoint")}
    assert all(rows.values())
    assert int(rows["checkpoint"].group(3)) > int(rows["none"].group(3))  # more samples fit when recomputing


@pytest.mark.parametrize("bad", ["--batch=0", "--measure-batch=0"])
def test_batches_must_be_positive(bad, capsys):
    assert main(["memory", "digits_imp_lts", bad]) == 2
    assert "must be >= 1" in capsys.readouterr().err
