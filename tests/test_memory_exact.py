"""spikeforge.memory: each mode gives the gradients, batch-norm statistics and RNG stream of mode none, bit for bit."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from spikeforge import LIFNode, materialize
from spikeforge.layers import MultiStep
from spikeforge.memory import apply_plan, blocks, memory_plan, optimize, remove_plan, saved_bytes
from spikeforge.memory import modes as memory_modes
from spikeforge.memory.spikes import SpikeMarks, pack_bits, unpack_bits
from spikeforge.models.registry import build_model

LEARNED = {"type": "if", "v_reset": None, "imp": "learn", "v_threshold": "learn", "surrogate": "atan"}


def _model_and_input(name: str) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    if name == "sew_resnet18_cifar":
        model = build_model(name, neuron=LEARNED)
        x = torch.rand(1, 2, 3, 32, 32).expand(2, 2, 3, 32, 32)  # direct encoding, T=2
    elif name == "sew_and":
        model = build_model("sew_resnet18_cifar", neuron=LEARNED, connect="and")
        x = torch.rand(2, 2, 3, 32, 32)
    else:
        model = build_model("vgg11_48", T=2)
        x = torch.rand(2, 2, 2, 48, 48)
    materialize(model, x)
    return model, x


def _step(model: nn.Module, x: torch.Tensor, mode: str, recompute=()):
    model = copy.deepcopy(model)
    apply_plan(model, mode, recompute)
    torch.manual_seed(5)
    y = model(x)
    weights = torch.linspace(-1, 1, y.numel()).view_as(y)
    (y * weights).sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    return y.detach(), grads, {n: b.clone() for n, b in model.named_buffers()}, torch.rand(4)


@pytest.mark.parametrize("name", ["sew_resnet18_cifar", "vgg11_48"])
@pytest.mark.parametrize("mode", ["compress", "checkpoint"])
def test_gradients_statistics_and_rng_are_bit_exact(name, mode):
    model, x = _model_and_input(name)
    ref = _step(model, x, "none")
    got = _step(model, x, mode)
    assert torch.equal(got[0], ref[0])
    learned = [n for n in ref[1] if n.endswith((".imp", ".v_threshold"))]
    assert name != "sew_resnet18_cifar" or len(learned) > 10  # IMP and thresholds are among the compared gradients
    for n, g in ref[1].items():
        assert got[1][n] is not None and torch.equal(got[1][n], g), n
    for n, b in ref[2].items():
        assert torch.equal(got[2][n], b), n  # running statistics updated once, counters once
    assert torch.equal(got[3], ref[3])  # the random stream after the step is the same


def test_sew_and_connect_blocks_recompute_exactly():
    model, x = _model_and_input("sew_and")
    ref = _step(model, x, "none")
    got = _step(model, x, "checkpoint")
    assert all(torch.equal(got[1][n], g) for n, g in ref[1].items())


class _DropoutBlock(nn.Module):
    """conv -> dropout -> neuron: a block whose recomputation must replay the random stream."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.syn = MultiStep(nn.Conv2d(in_channels, 4, 3, padding=1), nn.Dropout(0.5))
        self.sn = LIFNode(imp="learn", v_threshold="learn")

    def forward(self, x):
        return self.sn(self.syn(x))


def test_recomputation_replays_dropout(monkeypatch):
    monkeypatch.setattr(memory_modes, "BLOCK_TYPES", [*memory_modes.BLOCK_TYPES, _DropoutBlock])
    torch.manual_seed(0)
    model = nn.Sequential(_DropoutBlock(2), _DropoutBlock(4))
    x = torch.rand(3, 2, 2, 6, 6)
    materialize(model, x)
    assert [n for n, _ in blocks(model)] == ["0", "1"]
    ref = _step(model, x, "none")
    got = _step(model, x, "checkpoint")
    assert torch.equal(got[0], ref[0])
    for n, g in ref[1].items():
        assert torch.equal(got[1][n], g), n
    assert torch.equal(got[3], ref[3])


def test_spike_inputs_are_saved_as_bits_and_counts_as_bytes():
    model, x = _model_and_input("sew_resnet18_cifar")
    none = saved_bytes(model, x)
    apply_plan(model, "compress")
    packed = saved_bytes(model, x)
    apply_plan(model, "checkpoint")
    recomputed = saved_bytes(model, x)
    # layer1.0's convolutions take the stem's spikes and sn1's: each kept 4 bytes per element, now 1 bit
    stem_spikes = 64 * 32 * 32 * x.shape[0] * x.shape[1]
    assert none.per_block["layer1.0"] - packed.per_block["layer1.0"] == 2 * (4 * stem_spikes - stem_spikes // 8)
    # a recomputed block keeps only its packed input: layer1.1 gets layer1.0's ADD counts (0..2) as bytes
    assert recomputed.per_block["layer1.1"] == stem_spikes
    assert recomputed.per_block["layer1.0"] == stem_spikes // 8
    assert none.total > packed.total > recomputed.total
    remove_plan(model)
    assert memory_plan(model) is None and saved_bytes(model, x).total == none.total


def test_marks_follow_the_graph_not_the_values():
    marks = SpikeMarks()
    t = torch.tensor([0.0, 1.0, 1.0])
    assert marks.bound(t) is None  # 0/1 values alone do not make a spike tensor
    marks.mark(t, 1)
    assert marks.bound(t.view(3, 1)) == 1  # a view of it shares its storage
    t.mul_(2)
    assert marks.bound(t) is None  # modified in place: no longer packed


def test_bit_packing_round_trip():
    values = (torch.rand(1001) > 0.5).float()
    packed = pack_bits(values)
    assert packed.dtype == torch.uint8 and packed.numel() == 126
    assert torch.equal(unpack_bits(packed, 1001).float(), values)


def test_optimize_picks_blocks_within_a_budget_and_leaves_the_model_untouched():
    model, x = _model_and_input("vgg11_48")
    before = copy.deepcopy(model.state_dict())
    rng = torch.get_rng_state()
    plan = optimize(model, x, budget=0)
    assert plan.mode == "auto" and plan.recomputed == [n for n, _ in blocks(model)]  # budget 0: everything
    compress_total = sum(plan.details["compress_bytes"].values())
    assert saved_bytes(model, x).total == plan.details["predicted_bytes"] < compress_total
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng)
    plan = optimize(model, x, max_overhead=0.0)
    assert plan.recomputed == []
