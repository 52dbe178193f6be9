"""Exact neuron dynamics on hand-worked inputs."""

import pytest
import torch

from spikeforge import CUBALIFNode, IFNode, LIFNode


def seq(*values, n=1):
    """[T, 1, n] float64 input with the same value for every neuron."""
    return torch.tensor(values, dtype=torch.float64).reshape(-1, 1, 1).repeat(1, 1, n)


def run(node, x):
    node.record_v = True
    s = node(x)
    return s[:, 0, 0].tolist(), node.v_seq[:, 0, 0].tolist()


def test_if_soft_reset_keeps_the_overshoot():
    s, v = run(IFNode(v_reset=None), seq(0.6, 0.6, 0.6, 0.6))
    assert s == [0, 1, 0, 1]
    assert v == pytest.approx([0.6, 0.2, 0.8, 0.4])


def test_if_hard_reset_goes_to_v_reset():
    s, v = run(IFNode(v_reset=0.0), seq(0.6, 0.6, 0.6, 0.6))
    assert s == [0, 1, 0, 1]
    assert v == pytest.approx([0.6, 0.0, 0.6, 0.0])
    s, v = run(IFNode(v_reset=-0.5), seq(0.6, 0.6, 0.6, 0.6))
    # V[-1] = v_reset = -0.5: H = 0.1, 0.7, 1.3 (fire, V=-0.5), 0.1
    assert s == [0, 0, 1, 0]
    assert v == pytest.approx([0.1, 0.7, -0.5, 0.1])


def test_fires_at_equality():
    s, _ = run(IFNode(v_reset=None), seq(0.5, 0.5))
    assert s == [0, 1]


def test_lif_hard_reset_decay_input():
    # H = V + (X - V) / 2: 0.75, 1.125 (fire -> 0), 0.75, 1.125
    s, v = run(LIFNode(tau=2.0), seq(1.5, 1.5, 1.5, 1.5))
    assert s == [0, 1, 0, 1]
    assert v == pytest.approx([0.75, 0.0, 0.75, 0.0])


def test_lif_soft_reset_and_no_decay_input():
    # soft reset, decay_input=False: H = V - V/2 + X
    # X=0.8: H0=0.8, H1=0.4+0.8=1.2 fire V=0.2, H2=0.1+0.8=0.9, H3=0.45+0.8=1.25 fire V=0.25
    s, v = run(LIFNode(tau=2.0, decay_input=False, v_reset=None), seq(0.8, 0.8, 0.8, 0.8))
    assert s == [0, 1, 0, 1]
    assert v == pytest.approx([0.8, 0.2, 0.9, 0.25])


def test_lif_hard_reset_leaks_towards_v_reset():
    # v_reset = -1: V[-1] = -1; H = V + (X - (V + 1)) / 2 with X = 0 stays at -1
    s, v = run(LIFNode(tau=2.0, v_reset=-1.0), seq(0.0, 0.0, 4.0))
    # H2 = -1 + (4 - 0) / 2 = 1 -> fires at equality, V = -1
    assert s == [0, 0, 1]
    assert v == pytest.approx([-1.0, -1.0, -1.0])


def test_cuba_paper_defaults():
    node = CUBALIFNode()  # alpha_i 0.75, alpha_v 0.97, threshold 1.25, hard reset 0
    s, v = run(node, seq(1.0, 0.0, 0.0, 0.0))
    # I: 1, .75, .5625, .421875; H: 1, .97+.75=1.72 (fire), .5625, .97*.5625+.421875=.9675
    assert s == [0, 1, 0, 0]
    assert v == pytest.approx([1.0, 0.0, 0.5625, 0.9675])


def test_cuba_custom_decays_and_soft_reset():
    node = CUBALIFNode(alpha_i=0.5, alpha_v=0.5, v_threshold=1.0, v_reset=None)
    s, v = run(node, seq(2.0, 0.0, 0.0))
    # I: 2, 1, .5; H0 = 2 fire V = 1; H1 = .5 + 1 = 1.5 fire V = .5; H2 = .25 + .5 = .75
    assert s == [1, 1, 0]
    assert v == pytest.approx([1.0, 0.5, 0.75])


@pytest.mark.parametrize(("node_cls", "value"), [(IFNode, 0.6), (LIFNode, 1.5)])
def test_imp_shifts_first_spike_earlier(node_cls, value):
    x = seq(value, value, value, value)
    base, _ = run(node_cls(v_reset=None), x)
    early, _ = run(node_cls(v_reset=None, imp=0.9), x)
    late, _ = run(node_cls(v_reset=None, imp=-0.9), x)
    first = [r.index(1) if 1 in r else len(r) for r in (early, base, late)]
    assert first[0] < first[1] < first[2]


def test_imp_is_v_minus_one_for_lif():
    # IMP = V[-1]; H0 = 0.5 + (1.0 - 0.5) / 2 = 0.75 (the charge equation acts on the IMP)
    _, v = run(LIFNode(tau=2.0, imp=0.5), seq(1.0))
    assert v == pytest.approx([0.75])


def test_learned_imp_per_neuron_gives_each_neuron_its_own_start():
    node = IFNode(v_reset=None, imp="learn", feature_shape=(3,))
    with torch.no_grad():
        node.imp.copy_(torch.tensor([0.0, 0.5, -0.5]))
    x = torch.full((2, 1, 3), 0.5)
    s = node(x)
    assert s[:, 0].tolist() == [[0, 1, 0], [1, 0, 0]]


def test_state_is_not_carried_between_calls_unless_stateful():
    x = seq(0.6)
    node = IFNode(v_reset=None)
    assert node(x).sum() == 0 and node(x).sum() == 0
    node = IFNode(v_reset=None, stateful=True)
    assert node(x).sum() == 0
    assert node(x).sum() == 1  # 0.6 carried over + 0.6 >= 1
    node.reset_state()
    assert node(x).sum() == 0


def test_stateful_cuba_carries_current_too():
    node = CUBALIFNode(alpha_i=1.0, alpha_v=1.0, v_threshold=10.0, stateful=True)
    node.record_v = True
    node(seq(1.0))
    node(seq(0.0))
    # I stays 1, V: 1 then 2
    assert node.v_seq[0, 0, 0].item() == pytest.approx(2.0)


def test_recording_off_stores_nothing():
    node = LIFNode()
    node(torch.rand(3, 2, 4))
    assert node.v_seq is None and not hasattr(node, "spike_count")  # spike counting lives in the monitor's hooks


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("shape", [(4, 2, 5), (4, 2, 3, 4, 4)])
def test_dtypes_and_feature_shapes(dtype, shape):
    torch.manual_seed(0)
    node = LIFNode(imp="learn", v_threshold="learn", v_reset=None)
    x = (torch.rand(shape) * 2).to(dtype)
    s = node(x)
    assert s.shape == x.shape and s.dtype == dtype
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    assert node.imp.shape == shape[2:] and node.v_threshold.dtype == torch.float32
    s.float().sum().backward()
    assert node.imp.grad is not None and node.v_threshold.grad is not None


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="tau"):
        LIFNode(tau=0.5)
    with pytest.raises(ValueError, match="imp"):
        IFNode(imp="lern")
    with pytest.raises(ValueError, match="imp_sharing"):
        IFNode(imp="learn", imp_sharing="pixel")
    with pytest.raises(ValueError, match="alpha_v"):
        CUBALIFNode(alpha_v=1.5)
    with pytest.raises(ValueError, match="uniform"):
        IFNode(imp="learn", imp_init="gaussian")
    with pytest.raises(ValueError, match=r"\[T, B"):
        IFNode()(torch.zeros(3))
