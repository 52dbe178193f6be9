"""Time layout: time-first batches from a DataLoader, and neurons that refuse a batch-first input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import spikeforge
from spikeforge import LIFNode, TimeLayoutError, set_time_steps
from spikeforge.data import TimeFirstCollate, time_first_collate
from spikeforge.models import build_model
from spikeforge.train import engine
from spikeforge.train.builders import encode_batch


def test_collate_gives_time_first_batches_equal_to_the_trainers_encoding():
    x = torch.randn(10, 4, 3, 5)  # 10 samples [T=4, 3, 5]
    y = torch.arange(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=6, collate_fn=time_first_collate)
    xb, yb = next(iter(loader))
    assert xb.shape == (4, 6, 3, 5) and xb.is_contiguous()
    assert torch.equal(yb, y[:6])
    assert torch.equal(xb, x[:6].transpose(0, 1))
    # the trainer moves time first with the 'sequence' encoder: the same tensor
    default = next(iter(DataLoader(TensorDataset(x, y), batch_size=6)))[0]
    assert torch.equal(encode_batch(default, "sequence", 4), xb)


def test_collate_takes_numpy_samples_and_pads_on_request():
    samples = [(np.ones((3, 2), np.float32), 0), (np.ones((5, 2), np.float32), 1)]
    with pytest.raises(ValueError, match=r"different numbers of time steps \[3, 5\].*pad=True"):
        time_first_collate(samples)
    xb, yb = TimeFirstCollate(pad=True)(samples)
    assert xb.shape == (5, 2, 2) and yb.tolist() == [0, 1]
    assert xb[:3, 0].eq(1).all() and xb[3:, 0].eq(0).all() and xb[:, 1].eq(1).all()
    with pytest.raises(ValueError, match="sample 0 has 3 time steps"):
        TimeFirstCollate(T=5)(samples)


def test_neuron_that_knows_T_names_a_batch_first_input():
    node = LIFNode()
    node(torch.rand(64, 4, 10))  # T unknown: time-first is the contract
    set_time_steps(node, 4)
    with pytest.raises(
        TimeLayoutError, match=r"\[T=4, B, \.\.\.\] input but got shape \(64, 4, 10\); it looks batch-first"
    ):
        node(torch.rand(64, 4, 10))
    assert node(torch.rand(4, 64, 10)).shape == (4, 64, 10)
    with pytest.raises(TimeLayoutError, match="set_time_steps"):
        node(torch.rand(6, 5, 10))
    set_time_steps(node, None)
    assert node(torch.rand(6, 5, 10)).shape == (6, 5, 10)


def test_model_told_its_T_fails_in_one_line_for_a_transposed_batch():
    model = build_model("spiking_mlp", sizes=(10, 8, 3))
    set_time_steps(model, 4)
    with pytest.raises(TimeLayoutError) as info:
        model(torch.rand(64, 4, 10))
    assert "\n" not in str(info.value) and "time_first_collate" in str(info.value)
    with pytest.raises(ValueError, match="positive int"):
        set_time_steps(model, 0)


def test_trainer_sets_T_on_its_model(monkeypatch, tmp_path):
    seen: list[int | None] = []
    real = engine.set_time_steps

    def spy(model, T):
        seen.append(T)
        return real(model, T)

    monkeypatch.setattr(engine, "set_time_steps", spy)
    cfg = spikeforge.load_config(
        "digits_imp_lts",
        ["epochs=1", "run.max_steps_per_epoch=1", "run.checkpoint=false", "run.plots=false", "T=2"],
    )
    engine.train(cfg, run_dir=tmp_path / "run", verbose=False)
    assert seen == [2]


def test_the_cli_prints_a_time_layout_error_as_one_line(tmp_path, monkeypatch, capsys):
    """A dataset whose sequences have another length than the config's ``T``: the encoder refuses the batch, and
    ``spikeforge train`` prints that as one ``spikeforge: error:`` line (a UserError), not a traceback."""
    import dataclasses

    import spikeforge.data.registry as registry
    from spikeforge.commands import main

    def five_steps(root, split, T):  # [N, 5, 4] sequences whatever T the config asks for
        g = torch.Generator().manual_seed(0)
        return TensorDataset(torch.rand(16, 5, 4, generator=g), torch.arange(16) % 2)

    info = dataclasses.replace(
        registry.dataset_info("digits"), name="five_steps", kind="sequence", num_classes=2, builder=five_steps
    )
    info = dataclasses.replace(info, options_type=None, default_T=None, needs_root=False, layout=None)
    monkeypatch.setitem(registry.DATASETS, "five_steps", info)
    config = tmp_path / "five.yaml"
    config.write_text(
        "name: five\nT: 4\nepochs: 1\ndevice: cpu\n"
        "model: {name: spiking_mlp, options: {sizes: [4, 8, 2]}}\n"
        "data: {name: five_steps, batch_size: 8}\nloss: {name: tet}\n"
    )
    assert main(["train", str(config), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("spikeforge: error: ") and "sequence input has 5 time steps but T=4" in err[-1]
    assert not any("Traceback" in line for line in err)
    assert issubclass(TimeLayoutError, spikeforge.errors.UserError) and issubclass(TimeLayoutError, ValueError)


def test_mnist1d_at_another_T_is_one_line(tmp_path, capsys):
    """``spikeforge train mnist1d_lif --set T=20``: the dataset's fixed length is a user error, printed as one line."""
    from spikeforge.commands import main

    assert main(["train", "mnist1d_lif", "--set", "T=20", "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("spikeforge: error: ") and "mnist1d sequences have 40 steps; set T: 40" in err[-1]
    assert not any("Traceback" in line for line in err)
