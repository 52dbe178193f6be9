"""Shipped configs keep working under every memory mode: the same gradients, on tiny inputs."""

from __future__ import annotations

import pytest
import torch

from spikeforge.memory import MODES, apply_memory, blocks, remove_plan
from spikeforge.train.memory_check import build_for_planning

pytestmark = pytest.mark.usefixtures("one_thread")


def _grads(model, x, loss_fn, y, mode):
    apply_memory(model, mode, x)
    torch.manual_seed(3)
    model.zero_grad(set_to_none=True)
    loss_fn(model(x), y).backward()
    remove_plan(model)
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize(
    ("config", "has_blocks"),
    [
        ("digits_imp_lts", True),  # conv units, LTS, learnable IMP
        ("digits_tet", True),
        ("mnist1d_lif", False),
        ("cifar10_dvs_vgg11_48_t8_tet_s_imp", True),  # TEBN conv units, dropout, T=8
    ],
)
def test_every_mode_gives_the_default_gradients(config, has_blocks):
    _, model, x, loss_fn = build_for_planning(config, 1, ["precision=fp32"])
    model.train()
    y = torch.zeros(x.shape[1], dtype=torch.long)
    ref = _grads(model, x, loss_fn, y, "none")
    assert bool(blocks(model)) == has_blocks
    for mode in MODES[1:]:
        got = _grads(model, x, loss_fn, y, mode)
        assert got.keys() == ref.keys()
        for name, g in ref.items():
            assert torch.equal(got[name], g), (config, mode, name)
