"""SpikeForge's IF/LIF nodes against SpikingJelly 2.0's (multi-step mode), same inputs.

Same spikes and same input gradients for the same surrogate (SpikingJelly's default
``Sigmoid(alpha=4)`` and ``ATan(alpha=2)``), hard and soft reset, with both the reference
(``backend="torch"``) and the fused CPU kernels. Skipped when SpikingJelly is not
installed (``pip install --no-deps spikingjelly==2.0.0 loguru``).
"""

from __future__ import annotations

import itertools

import pytest
import torch

from spikeforge import IFNode, LIFNode

sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
sj_surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")

SURROGATES = {"sigmoid": (lambda: sj_surrogate.Sigmoid(alpha=4.0), {"name": "sigmoid", "alpha": 4.0})}
SURROGATES["atan"] = (lambda: sj_surrogate.ATan(alpha=2.0), {"name": "atan", "alpha": 2.0})


def _backends() -> list[str]:
    from spikeforge.neuron.ops.cpu import build as cpu_build

    return ["torch", "cpu"] if cpu_build.status().ok else ["torch"]


def _pair(kind: str, surrogate: str, v_reset: float | None, detach_reset: bool, decay_input: bool, backend: str):
    make_sj, ours = SURROGATES[surrogate]
    common = dict(v_threshold=1.0, v_reset=v_reset, detach_reset=detach_reset)
    if kind == "lif":
        sj = sj_neuron.LIFNode(tau=2.0, decay_input=decay_input, surrogate_function=make_sj(), step_mode="m", **common)
        sf = LIFNode(tau=2.0, decay_input=decay_input, surrogate=ours, imp=None, backend=backend, **common)
    else:
        sj = sj_neuron.IFNode(surrogate_function=make_sj(), step_mode="m", **common)
        sf = IFNode(surrogate=ours, imp=None, backend=backend, **common)
    return sj, sf


CASES = list(itertools.product(["lif", "if"], SURROGATES, [0.0, None], [False, True], [torch.float32, torch.float64]))


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize(("kind", "surrogate", "v_reset", "detach_reset", "dtype"), CASES)
def test_same_spikes_and_input_gradients(kind, surrogate, v_reset, detach_reset, dtype, backend):
    torch.manual_seed(hash((kind, surrogate, v_reset, detach_reset)) % 2**31)
    x = (torch.randn(8, 4, 3, 5) * 0.8 + 0.5).to(dtype)
    w = torch.randn(x.shape, dtype=dtype)
    decay_input = kind == "lif" and not detach_reset  # cover both LIF input modes across the cases
    sj, sf = _pair(kind, surrogate, v_reset, detach_reset, decay_input, backend)
    grads, spikes = [], []
    for node in (sj, sf):
        xi = x.clone().requires_grad_()
        s = node(xi)
        (s * w).sum().backward()
        spikes.append(s.detach())
        grads.append(xi.grad)
    sj.reset()
    assert 0 < spikes[0].mean() < 1, "the case should contain both spikes and silence"
    assert torch.equal(spikes[0], spikes[1])
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(grads[1], grads[0], rtol=tol, atol=tol)
