"""``fire_at_threshold=False``: neurons that spike only when ``H > theta`` (NIR's, snnTorch's and Norse's
condition), on every CPU backend, exactly, without changing anything but the comparison."""

from __future__ import annotations

import pytest
import torch

from spikeforge import CUBALIFNode, IFNode, LIFNode
from spikeforge.neuron.ops.cpu import build

BACKENDS = ["torch", pytest.param("cpu", marks=pytest.mark.skipif(not build.status().ok, reason="no CPU kernels"))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("learn", [False, True])
def test_potential_exactly_at_the_threshold_fires_only_at_equality_by_default(backend, dtype, learn):
    x = torch.tensor([0.5, 0.5, 0.5, 0.25], dtype=dtype).view(4, 1, 1)  # H = 0.5, 1.0, then 1.5 after no reset
    theta = {"v_threshold": "learn", "v_threshold_init": 1.0} if learn else {"v_threshold": 1.0}
    at = IFNode(**theta, backend=backend, feature_shape=(1,))
    above = IFNode(**theta, fire_at_threshold=False, backend=backend, feature_shape=(1,))
    with torch.no_grad():
        assert at(x).flatten().tolist() == [0, 1, 0, 0]
        assert above(x).flatten().tolist() == [0, 0, 1, 0]  # 1.0 is not above 1.0; 1.5 is (then reset to 0)


def _strict_if(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """The definition: ``H = V + X``; ``S = H > theta``; hard reset to 0 (float32 state, as the neurons)."""
    v, out = torch.zeros_like(x[0]), []
    for t in range(x.shape[0]):
        h = v + x[t]
        s = h > theta
        v = torch.where(s, torch.zeros_like(h), h)
        out.append(s.to(x.dtype))
    return torch.stack(out)


@pytest.mark.parametrize("backend", BACKENDS)
def test_strict_condition_equals_its_definition_on_inputs_that_land_on_the_threshold(backend):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(-2, 5, (24, 8, 50), generator=g).float() * 0.125  # sums land on theta exactly, often
    theta = torch.randint(1, 9, (50,), generator=g).float() * 0.125
    neuron = IFNode(v_threshold="learn", fire_at_threshold=False, backend=backend, feature_shape=(50,))
    with torch.no_grad():
        neuron.v_threshold.copy_(theta)
        got = neuron(x)
    want = _strict_if(x, theta)
    assert torch.equal(got, want)
    assert not torch.equal(got, _strict_if(x, torch.nextafter(theta, torch.zeros_like(theta)))), "equality occurs"


@pytest.mark.parametrize("backend", BACKENDS)
def test_learnable_threshold_gets_its_gradient_through_the_strict_condition(backend):
    x = torch.rand(6, 3, 5, generator=torch.Generator().manual_seed(1)) * 2
    grads = []
    for fire in (True, False):
        neuron = LIFNode(tau=2.0, v_threshold="learn", fire_at_threshold=fire, backend=backend, feature_shape=(5,))
        neuron(x).sum().backward()
        grads.append(neuron.v_threshold.grad)
    assert grads[1] is not None and grads[1].abs().sum() > 0
    torch.testing.assert_close(grads[0], grads[1])  # the surrogate is one ulp of u apart


def test_strict_condition_refuses_a_soft_reset():
    with pytest.raises(ValueError, match="fire_at_threshold=False needs a hard reset"):
        CUBALIFNode(v_reset=None, fire_at_threshold=False)
    assert "fire_at_threshold=False" in repr(IFNode(fire_at_threshold=False))
