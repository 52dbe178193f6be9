"""PLIF (Fang et al. 2021, learnable membrane time constant), the kind added as one module: neuron/kinds/plif.py.

Dynamics against hand computations, the gradient of ``w`` (``1/tau = sigmoid(w)``) against plain autograd of a
hand-written loop and against finite differences, learnable IMP and threshold with it, the fused backends'
refusal, and a short training run from a config.
"""

import json
import math
import subprocess
import sys

import pytest
import torch

from spikeforge.errors import UserError
from spikeforge.neuron import NEURON_KINDS, Dynamics, backends, build_neuron, multistep
from spikeforge.neuron.kinds.plif import PLIFNode

from .reference_autograd import spike


def run(node, xs):
    x = torch.tensor(xs, dtype=torch.float64).view(len(xs), 1, 1)
    node = node.double()
    node.record_v = True
    s = node(x)
    return s.flatten().tolist(), node.v_seq.flatten().tolist()


def test_plif_is_registered_and_built_from_a_config_mapping():
    assert "plif" in NEURON_KINDS.names() and NEURON_KINDS.get("plif").node is PLIFNode
    node = build_neuron({"type": "plif", "tau_init": 3.0, "v_reset": None, "imp": "learn", "v_threshold": "learn"})
    assert isinstance(node, PLIFNode) and node.learn_imp and node.learn_threshold
    assert node.w.item() == pytest.approx(-math.log(2.0)) and node.tau.item() == pytest.approx(3.0)
    import spikeforge.neuron

    assert spikeforge.neuron.PLIFNode is PLIFNode  # found through the registry, not listed in the package
    with pytest.raises(UserError, match=r"PLIFNode tau_init must be > 1"):
        build_neuron({"type": "plif", "tau_init": 1.0})
    with pytest.raises(UserError, match=r"neuron has no option \['tau'\] for type 'plif'"):
        build_neuron({"type": "plif", "tau": 2.0})


def test_three_steps_by_hand_tau_init_2():
    # tau_init = 2: w = 0, 1/tau = sigmoid(0) = 1/2 exactly. H = V + (X - V) / 2, hard reset to 0, threshold 1.
    # t0: H = 0 + 1.5/2 = 0.75          no spike, V = 0.75
    # t1: H = 0.75 + (0.25 - 0.75)/2 = 0.5   no spike, V = 0.5
    # t2: H = 0.5 + (2 - 0.5)/2 = 1.25   spike, V = 0
    s, v = run(PLIFNode(), [1.5, 0.25, 2.0])
    assert s == [0.0, 0.0, 1.0]
    assert v == [0.75, 0.5, 0.0]


def test_three_steps_by_hand_tau_init_4_soft_reset_and_imp():
    # tau_init = 4: 1/tau = sigmoid(-log 3) = 1/4. Soft reset, IMP 0.5, threshold 0.6, no decay_input:
    # H = V - V/4 + X.  t0: H = 0.5 - 0.125 + 0.3 = 0.675 >= 0.6: spike, V = 0.075
    # t1: H = 0.075 - 0.01875 + 0.3 = 0.35625: no spike.  t2: H = 0.35625 - 0.0890625 + 0.3 = 0.5671875: none
    node = PLIFNode(tau_init=4.0, decay_input=False, v_reset=None, imp=0.5, v_threshold=0.6)
    s, v = run(node, [0.3, 0.3, 0.3])
    assert s == [1.0, 0.0, 0.0]
    # w = -log 3 is stored in float32 (a parameter), so 1/tau is 1/4 to float32 rounding (~3e-9 here)
    assert v == pytest.approx([0.075, 0.35625, 0.5671875], abs=1e-8)


def _hand_loop(x, w, imp, theta):
    """PLIF written out for this test: plain autograd, atan surrogate by its antiderivative, hard reset to 0."""
    k = 1.0 / (1.0 + torch.exp(-w))  # 1 / tau, tau = 1 + exp(-w)
    v = imp + torch.zeros_like(x[0])
    out = []
    for t in range(x.shape[0]):
        h = v + (x[t] - v) * k
        s = spike("atan", {"alpha": 2.0}, h - theta)
        v = h * (1 - s)
        out.append(s)
    return torch.stack(out), v


def test_w_imp_threshold_gradients_match_a_hand_written_loop():
    torch.manual_seed(0)
    shape = (6, 3, 5)
    node = PLIFNode(tau_init=2.5, imp="learn", v_threshold="learn", v_threshold_init=0.7, feature_shape=(5,))
    node = node.double()
    x = (torch.randn(shape, dtype=torch.float64) * 0.6 + 0.4).requires_grad_()
    weights = torch.randn(shape, dtype=torch.float64)
    s = node(x)
    assert 0 < s.sum() < s.numel()  # some spikes: the surrogate and reset paths are exercised
    (s * weights).sum().backward()

    w = node.w.detach().clone().requires_grad_()
    imp = node.imp.detach().clone().requires_grad_()
    theta = node.v_threshold.detach().clone().requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    s2, _ = _hand_loop(x2, w, imp, theta)
    assert torch.equal(s.detach(), s2.detach())
    (s2 * weights).sum().backward()
    for got, want in ((node.w.grad, w.grad), (node.imp.grad, imp.grad), (node.v_threshold.grad, theta.grad)):
        assert got is not None and got.abs().sum() > 0
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-10, atol=1e-12)


def test_w_gradient_passes_gradcheck():
    """Below the threshold (where the rectangle surrogate is exactly 0) the trace is smooth in ``w``: autograd's
    gradient equals the finite differences."""
    x = torch.rand(5, 2, 3, dtype=torch.float64) * 0.5
    imp = torch.rand(2, 3, dtype=torch.float64) * 0.2

    def trace(w):
        dyn = Dynamics("plif", w=w, v_reset=0.0, surrogate=build_neuron({"surrogate": "rectangle"}).surrogate)
        return multistep(x, dyn, 10.0, imp, record_v=True).v_seq

    w = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(trace, (w,))
    (g,) = torch.autograd.grad(trace(w).sum(), w)
    assert g != 0


def test_learnable_imp_and_threshold_train_with_plif_and_survive_a_state_dict():
    torch.manual_seed(1)
    node = PLIFNode(imp="learn", imp_sharing="channel", v_threshold="learn", threshold_sharing="layer")
    x = torch.rand(4, 2, 3, 2) + 0.3
    node(x).sum().backward()
    assert node.imp.shape == (3, 1) and node.v_threshold.shape == () and node.w.shape == ()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in (node.imp, node.v_threshold, node.w))
    assert {name: group for name, _, group in node.neuron_parameters()} == {
        "imp": "imp",
        "v_threshold": "v_threshold",
        "w": "tau",
    }
    with torch.no_grad():
        node.w.fill_(1.25)
    fresh = PLIFNode(imp="learn", imp_sharing="channel", v_threshold="learn", threshold_sharing="layer")
    fresh.load_state_dict(node.state_dict())
    assert fresh.w.item() == 1.25 and torch.equal(fresh(x), node(x))


def test_fused_backends_refuse_plif_in_one_line_and_auto_runs_the_reference():
    with pytest.raises(ValueError, match=r"^neuron kind 'plif' has no fused 'cpu' kernel; choose backend 'auto'"):
        PLIFNode(backend="cpu")
    with pytest.raises(UserError, match="neuron kind 'plif' has no fused 'triton' kernel"):
        build_neuron({"type": "plif", "backend": "triton"})
    dyn = PLIFNode().dynamics()
    cpu = torch.device("cpu")
    with pytest.raises(ValueError, match="neuron kind 'plif' has no fused kernel"):
        backends.resolve_backend("cpu", cpu, torch.float32, dyn)
    assert backends.resolve_backend("auto", cpu, torch.float32, dyn).name == "torch"
    from spikeforge.neuron.ops.cpu import op as cpu_op
    from spikeforge.neuron.ops.spec import kernel_spec

    with pytest.raises(ValueError, match="neuron kind 'plif' has no fused kernel"):
        kernel_spec(dyn)
    with pytest.raises(ValueError, match="neuron kind 'plif' has no fused kernel"):  # no silent LIF kernel
        cpu_op.multistep(torch.rand(3, 2, 4), dyn, 1.0, 0.0)
    x = torch.rand(4, 2, 5)
    torch.manual_seed(3)
    auto = PLIFNode(imp="learn")
    torch.manual_seed(3)
    ref = PLIFNode(imp="learn", backend="torch")
    assert torch.equal(auto(x), ref(x))


def test_auto_says_once_that_plif_runs_on_the_reference():
    code = (
        "import logging, torch\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from spikeforge.neuron import build_neuron\n"
        "node = build_neuron({'type': 'plif'})\n"
        "for _ in range(3):\n"
        "    node(torch.rand(3, 2, 4))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "plif" in line]
    assert len(lines) == 1, proc.stderr
    assert "auto -> 'torch' (reference): neuron kind 'plif' has no fused kernel" in lines[0]


def test_a_short_config_trains_plif_and_learns_tau(tmp_path):
    from spikeforge.train.config import config_from_dict
    from spikeforge.train.engine import train

    raw = {
        "name": "tiny-plif",
        "T": 2,
        "epochs": 2,
        "model": {"name": "digits_convnet", "options": {"widths": [4, 8]}},
        "neuron": {"type": "plif", "tau_init": 2.0, "imp": "learn", "v_threshold": "learn"},
        "data": {"name": "digits", "batch_size": 32},
        "loss": {"name": "lts"},
        "optim": {"name": "adamw", "lr": 0.01, "weight_decay": 0.01, "neuron_lr": 0.05},
        "run": {"max_steps_per_epoch": 4, "progress": False},
    }
    cfg = config_from_dict(json.loads(json.dumps(raw)))
    res = train(cfg, run_dir=tmp_path / "run", verbose=False)
    assert 0.0 <= res.test_acc <= 1.0
    payload = torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=False)
    ws = dict(_tensors_named(payload, ".w"))
    assert ws and all(v.shape == () for v in ws.values())
    assert any(float(v) != 0.0 for v in ws.values())  # tau moved from tau_init = 2 (w = 0)


def _tensors_named(obj, suffix):
    """``(key, tensor)`` of every tensor under a key ending in ``suffix`` in a (nested) checkpoint payload."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if isinstance(value, torch.Tensor) and isinstance(key, str) and key.endswith(suffix):
                yield key, value
            else:
                yield from _tensors_named(value, suffix)


def test_the_optimiser_asks_the_neuron_for_its_groups():
    from spikeforge.train.config import OptimConfig
    from spikeforge.train.optim import build_optimizer, parameter_kinds

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), PLIFNode(imp="learn", v_threshold="learn", feature_shape=(4,)))
    kinds = {name: kind for name, _, kind in parameter_kinds(model)}
    assert kinds == {
        "0.weight": "weight",
        "0.bias": "bias",
        "1.imp": "imp",
        "1.v_threshold": "v_threshold",
        "1.w": "tau",
    }
    opt = build_optimizer(model, OptimConfig(lr=0.1, weight_decay=0.01, neuron_lr=0.05))
    groups = {g["name"]: g for g in opt.param_groups}
    assert set(groups) == {"network", "network_no_decay", "neuron_no_decay"}
    assert groups["neuron_no_decay"]["lr"] == 0.05 and groups["neuron_no_decay"]["weight_decay"] == 0.0
    assert [p.shape for p in groups["neuron_no_decay"]["params"]] == [(4,), (4,), ()]  # imp, v_threshold, w
    opt = build_optimizer(model, OptimConfig(weight_decay=0.01, no_decay=["imp", "v_threshold", "bias"]))
    groups = {g["name"]: g for g in opt.param_groups}
    assert [p.shape for p in groups["neuron"]["params"]] == [()]  # w decays when "tau" is not exempt
