"""Gradients of input, IMP and threshold against an independent plain-autograd neuron (float64)."""

import itertools

import pytest
import torch

from spikeforge import CUBALIFNode, IFNode, LIFNode
from spikeforge.neuron.surrogate import SURROGATES

from .reference_autograd import neuron as independent_neuron

SURROGATE_CASES = [
    ("atan", {"alpha": 2.0}),
    ("atan", {"alpha": 3.5}),
    ("sigmoid", {"alpha": 4.0}),
    ("triangle", {"gamma": 1.0}),
    ("triangle", {"gamma": 0.7}),
    ("rectangle", {"width": 1.0}),
    ("exponential", {"scale": 1.5, "tau": 3.75}),
]
KINDS = {"if": IFNode, "lif": LIFNode, "cuba": CUBALIFNode}
RESETS = [0.0, None, -0.3]  # hard to 0, soft, hard to -0.3


def _build(kind, sur, v_reset, detach_reset, sharing, shape):
    name, params = sur
    kw = dict(
        surrogate={"name": name, **params},
        v_reset=v_reset,
        detach_reset=detach_reset,
        imp="learn",
        imp_sharing=sharing,
        imp_init="uniform(-0.5, 0.5)",
        v_threshold="learn",
        v_threshold_init=0.8,
        threshold_sharing=sharing,
        feature_shape=shape[2:],
    )
    if kind == "lif":
        kw["tau"] = 1.7
    if kind == "cuba":
        kw.update(alpha_i=0.6, alpha_v=0.9)
    node = KINDS[kind](**kw).double()
    with torch.no_grad():  # thresholds differ per element so sharing matters
        node.v_threshold.add_(0.3 * torch.rand_like(node.v_threshold))
    return node


CASES = list(itertools.product(KINDS, SURROGATE_CASES, RESETS, [False, True], ["neuron", "channel", "layer"]))


@pytest.mark.parametrize(("kind", "sur", "v_reset", "detach_reset", "sharing"), CASES)
def test_gradients_match_independent_autograd(kind, sur, v_reset, detach_reset, sharing):
    torch.manual_seed(hash((kind, sur[0], v_reset, detach_reset, sharing)) % 2**31)
    shape = (5, 3, 4, 2, 2)
    node = _build(kind, sur, v_reset, detach_reset, sharing, shape)
    x = (torch.randn(shape, dtype=torch.float64) * 0.8 + 0.4).requires_grad_()
    w = torch.randn(shape, dtype=torch.float64)

    s = node(x)
    (s * w).sum().backward()

    x2 = x.detach().clone().requires_grad_()
    imp2 = node.imp.detach().clone().requires_grad_()
    th2 = node.v_threshold.detach().clone().requires_grad_()
    extra = {"tau": 1.7} if kind == "lif" else {"a_i": 0.6, "a_v": 0.9} if kind == "cuba" else {}
    s2, _ = independent_neuron(x2, kind, sur[0], sur[1], th2, imp2, v_reset=v_reset, detach_reset=detach_reset, **extra)
    (s2 * w).sum().backward()

    assert torch.equal(s, s2)
    assert 0 < s.mean() < 1, "the case should contain both spikes and silence"
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(node.imp.grad, imp2.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(node.v_threshold.grad, th2.grad, rtol=1e-10, atol=1e-12)
    assert node.v_threshold.grad.abs().sum() > 0


def test_threshold_gradient_is_minus_the_surrogate_through_the_fire_path():
    # One step, IF, hard reset, no later steps: dS/dtheta = -g(H - theta).
    node = IFNode(v_threshold="learn", v_threshold_init=1.0, feature_shape=(3,), surrogate="exponential").double()
    x = torch.tensor([[[0.5, 1.0, 2.0]]], dtype=torch.float64)
    node(x).sum().backward()
    u = x[0, 0] - 1.0
    expected = -(1.5 / 3.75) * torch.exp(-u.abs() / 3.75)
    torch.testing.assert_close(node.v_threshold.grad, expected)


def test_every_registered_surrogate_is_covered():
    assert {c[0] for c in SURROGATE_CASES} == set(SURROGATES) - {"zif"}
