"""`memory:` in a config: validated at load, applied by the trainer, the same metrics bit for bit."""

from __future__ import annotations

import pytest
import torch

from spikeforge.train.config import ConfigError, load_config
from spikeforge.train.engine import train

pytestmark = pytest.mark.usefixtures("one_thread")


def _metrics(row: dict) -> dict:
    """A history row without its timings."""
    return {k: v for k, v in row.items() if not k.startswith("time") and "per_s" not in k}


def _digits(memory: str):
    return load_config(
        "digits_imp_lts",
        [f"memory={memory}", "epochs=2", "run.max_steps_per_epoch=4", "run.progress=false", "run.plots=false"],
    )


def test_unknown_memory_mode_fails_at_load():
    with pytest.raises(ConfigError, match=r"memory must be one of \['none', 'compress', 'checkpoint', 'auto'\]"):
        _digits("small")


def test_digits_run_with_auto_and_checkpoint_gives_the_default_metrics_bit_for_bit(tmp_path):
    results = {m: train(_digits(m), run_dir=tmp_path / m, verbose=False) for m in ("none", "auto", "checkpoint")}
    ref = results["none"]
    for mode in ("auto", "checkpoint"):
        got = results[mode]
        assert got.test_acc == ref.test_acc and got.acc_per_step == ref.acc_per_step
        for a, b in zip(got.history, ref.history, strict=True):
            assert _metrics(a) == _metrics(b) and len(_metrics(a)) >= 5
        weights = torch.load(tmp_path / mode / "last.pt", weights_only=False)
        ref_weights = torch.load(tmp_path / "none" / "last.pt", weights_only=False)
        model, ref_model = weights["model"], ref_weights["model"]
        assert all(torch.equal(model[k], ref_model[k]) for k in ref_model)
