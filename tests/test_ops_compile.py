"""The fused backends as PyTorch custom ops: default selection, torch.compile, torch.export, ONNX.

``backend="auto"`` is every node's default; on CPU it runs the fused kernel and says so in
one log line. The kernels are ``torch.ops.spikeforge.*`` custom ops with fake and autograd
registrations: ``torch._dynamo.explain`` finds no graph break in a network of fused nodes
with learnable IMP and threshold, compiled spikes equal eager spikes, ``torch.export``
records one op per neuron layer, and ONNX export either uses the reference (``auto``) or
says in one line to use it.
"""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from spikeforge import IFNode, LIFNode
from spikeforge.neuron import backends, log
from spikeforge.neuron.reference import Dynamics


@pytest.fixture(scope="module")
def built():
    from spikeforge.neuron.ops.cpu import build

    status = build.status()
    if not status.ok:
        pytest.skip(f"CPU kernels unavailable: {status.message}")


class Net(nn.Module):
    """Linear -> LIF (per-neuron IMP and threshold) -> linear -> IF (layer threshold), on ``[T, B, 8]``."""

    def __init__(self, **node_kw) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(8, 16), nn.Linear(16, 4)
        self.sn1 = LIFNode(imp="learn", v_threshold="learn", feature_shape=(16,), **node_kw)
        self.sn2 = IFNode(imp="learn", v_threshold="learn", threshold_sharing="layer", feature_shape=(4,), **node_kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B = x.shape[:2]
        h = self.sn1(self.fc1(x.flatten(0, 1)).view(T, B, -1))
        return self.sn2(self.fc2(h.flatten(0, 1)).view(T, B, -1))


def _net_and_input(seed: int = 0):
    torch.manual_seed(seed)
    net = Net()
    with torch.no_grad():
        net.sn1.v_threshold.uniform_(0.3, 0.9)  # so that both layers spike
        net.sn2.v_threshold.fill_(0.2)
    return net, torch.randn(6, 3, 8) * 2


def test_default_backend_is_auto_and_runs_the_cpu_kernel(built):
    assert LIFNode().backend == "auto" and IFNode().backend == "auto"
    assert backends.select("auto", torch.device("cpu"), torch.float32, Dynamics(kind="lif")).name == "cpu"
    node = LIFNode()
    x = torch.randn(4, 2, 5, requires_grad=True)
    s = node(x)
    grad_fn = s.grad_fn
    while grad_fn is not None and "spikeforge_cpu_neuron" not in type(grad_fn).__name__:
        grad_fn = grad_fn.next_functions[0][0]
    assert grad_fn is not None, "the default LIFNode did not run the fused CPU op"
    assert torch.equal(s, LIFNode(backend="torch")(x))


def test_auto_says_once_which_backend_runs_and_why(built):
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    log.logger.addHandler(handler)
    log._said.clear()
    try:
        for _ in range(3):
            LIFNode()(torch.randn(3, 2, 4))
        LIFNode()(torch.randn(3, 2, 4, dtype=torch.float16))  # no CPU kernel for float16: the reference
    finally:
        log.logger.removeHandler(handler)
    lines = [r.getMessage() for r in records]
    assert lines == [
        "neuron backend auto -> 'cpu' (fused C++ kernels) for cpu float32 tensors",
        "neuron backend auto -> 'torch' (reference): no fused CPU kernel for torch.float16 "
        "(float32/float64/bfloat16 have one)",
    ]


def test_dynamo_sees_no_graph_break_and_compiled_spikes_equal_eager(built):
    net, x = _net_and_input()
    eager = net(x)
    assert eager.sum() > 0
    explained = torch._dynamo.explain(net)(x)
    assert explained.graph_break_count == 0 and explained.graph_count == 1
    compiled = torch.compile(net, backend="aot_eager", fullgraph=True)
    out = compiled(x)
    assert torch.equal(out, eager)
    out.sum().backward()
    compiled_grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    eager.sum().backward()
    for g_c, p in zip(compiled_grads, net.parameters(), strict=True):
        torch.testing.assert_close(g_c, p.grad)


def test_torch_export_records_one_op_per_neuron_layer(built):
    net, x = _net_and_input(1)
    program = torch.export.export(net, (x,))
    ops = [n.target for n in program.graph.nodes if "spikeforge" in str(n.target)]
    assert len(ops) == 2 and all("cpu_neuron_forward" in str(op) for op in ops)
    assert torch.equal(program.module()(x), net(x))


@pytest.mark.parametrize(
    ("kind", "record_v", "theta"), [("lif", False, "neuron"), ("cuba", True, "layer"), ("if", False, "float")]
)
def test_custom_op_registrations_pass_opcheck(built, kind, record_v, theta):
    from spikeforge.neuron.ops.call import flatten_call
    from spikeforge.neuron.ops.cpu import op

    torch.manual_seed(2)
    x = torch.randn(5, 2, 6, dtype=torch.float64, requires_grad=True)
    th = {"neuron": torch.rand(6, dtype=torch.float64) + 0.5, "layer": torch.tensor(0.7, dtype=torch.float64)}
    th = th.get(theta, 0.8)
    if isinstance(th, torch.Tensor):
        th.requires_grad_()
    imp = (torch.rand(6, dtype=torch.float64) * 0.2).requires_grad_()
    call = flatten_call(x, Dynamics(kind=kind), th, imp, None)
    s = call.spec
    args = (call.x, call.theta.values, call.v0.values, call.i0, s.kind, s.soft, s.detach, s.surrogate)
    args += ([s.tau, s.alpha_i, s.alpha_v, s.v_rest, s.v_reset, s.c0, s.c1], call.theta.inner, call.v0.inner, record_v)
    torch.library.opcheck(op.neuron_forward, args)


def test_onnx_export_uses_the_reference_or_says_to(built, monkeypatch):
    import torch.onnx

    monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda: True)
    dyn = Dynamics(kind="lif")
    assert backends.select("auto", torch.device("cpu"), torch.float32, dyn).name == "torch"
    with pytest.raises(ValueError, match="no ONNX translation; build the model with backend='torch'"):
        backends.select("cpu", torch.device("cpu"), torch.float32, dyn)


def test_a_failed_build_announces_itself_and_falls_back_in_one_line(tmp_path):
    import subprocess
    import sys

    code = (
        "import torch\n"
        "from spikeforge import LIFNode\n"
        "x = torch.randn(3, 2, 4)\n"
        "for _ in range(3):\n"
        "    assert torch.equal(LIFNode()(x), LIFNode(backend='torch')(x))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "CXX": "false", "SPIKEFORGE_KERNEL_CACHE": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("[spikeforge] building the fused CPU neuron kernels with")
    assert lines[1].startswith("[spikeforge] neuron backend auto -> 'torch' (reference): the fused CPU kernels are")
    assert "compiling the CPU kernels with" in lines[1] and "failed" in lines[1]
