"""NIR export / import: exact round trips through a file, graphs written as other libraries write them, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import spikeforge
from spikeforge import CUBALIFNode, IFNode, LIFNode, export_nir, import_nir
from spikeforge.export.nir import NIRConversionError
from spikeforge.layers import MultiStep
from spikeforge.models import build_model
from spikeforge.models.common import SumPool2d
from spikeforge.models.registry import model_info

nir = pytest.importorskip("nir")
# the mixed networks here are lossy for other readers on purpose (tests/test_interop_peers.py checks the warnings)
pytestmark = pytest.mark.filterwarnings("ignore::spikeforge.export.nir.NIRExportWarning")


def _randomise_(model: nn.Module, seed: int = 0, weight_gain: float = 1.0) -> None:
    """Learned-looking neuron parameters: per-neuron/channel thresholds and IMPs away from their init."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear | nn.Conv2d):
                m.weight.mul_(weight_gain)
            if isinstance(m, LIFNode | IFNode | CUBALIFNode):
                if m.learn_threshold:
                    m.v_threshold.copy_(0.5 + torch.rand(m.v_threshold.shape, generator=g))
                if m.learn_imp:
                    m.imp.copy_(torch.rand(m.imp.shape, generator=g) - 0.5)


def _spike_trace(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The spikes of every neuron, in order, and the output."""
    seen: list[torch.Tensor] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
        for m in model.modules()
        if spikeforge.neuron.nodes.is_neuron(m)
    ]
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for h in hooks:
            h.remove()
    return [*seen, out]


def mixed_network() -> nn.Sequential:
    """Conv, pooling, flatten, dense; IF, LIF (soft and hard reset) and CUBA neurons; learnable IMP/thresholds."""
    return nn.Sequential(
        MultiStep(nn.Conv2d(2, 6, 3, padding=1)),
        LIFNode(tau=2.0, v_reset=None, imp="learn", v_threshold="learn", threshold_sharing="channel"),
        MultiStep(SumPool2d(2)),
        MultiStep(nn.Conv2d(6, 8, 3, stride=2, bias=False)),
        IFNode(v_threshold="learn", imp="learn", imp_sharing="channel"),
        MultiStep(nn.AvgPool2d(1)),
        MultiStep(nn.Flatten(1)),
        MultiStep(nn.Linear(8 * 1 * 1, 20)),
        LIFNode(tau=4 / 3, decay_input=False, v_reset=0.0, imp="learn", v_threshold="learn"),
        MultiStep(nn.Linear(20, 5, bias=False)),
        CUBALIFNode(alpha_i=0.75, alpha_v=0.97, v_threshold="learn", imp="learn"),
    )


def test_round_trip_through_a_file_gives_equal_spikes(tmp_path):
    torch.manual_seed(0)
    model = mixed_network()
    x = (torch.rand(6, 3, 2, 8, 8) < 0.5).float() * 2.0
    spikeforge.materialize(model, x[:, :1])
    _randomise_(model, weight_gain=4.0)
    graph = export_nir(model, x[:, :1])
    path = tmp_path / "net.nir"
    nir.write(path, graph)
    back = import_nir(nir.read(path))  # dt comes from the graph's metadata
    want, got = _spike_trace(model, x), _spike_trace(back, x)
    assert len(want) == len(got) == 5
    for w, g in zip(want, got, strict=True):
        assert torch.equal(w, g)
    assert all(0 < w.mean() < 1 for w in want[:-1]), "every layer must spike sometimes (a test that can fail)"
    # learnable values survive as parameters: the imported network fine-tunes like the original
    names = {n for n, _ in back.named_parameters()}
    assert {n for n in names if n.endswith(("imp", "v_threshold"))} and all(p.requires_grad for p in back.parameters())
    # and the path form works too
    assert torch.equal(_spike_trace(import_nir(path), x)[-1], want[-1])


def test_graph_holds_the_nir_equations_and_the_imp_as_metadata():
    model = mixed_network()
    x = torch.rand(2, 1, 2, 8, 8)
    spikeforge.materialize(model, x)
    _randomise_(model)
    graph = export_nir(model, x)
    kinds = [type(n).__name__ for n in graph.nodes.values()]
    assert kinds == [
        "Input",
        "Conv2d",
        "LIF",
        "SumPool2d",
        "Conv2d",
        "IF",
        "Flatten",
        "Affine",
        "LIF",
        "Linear",
        "CubaLIF",
        "Output",
    ]  # AvgPool2d(1) is the identity: no node
    lif = graph.nodes["1"]
    assert lif.tau.shape == (6, 8, 8) and np.allclose(lif.tau, 2.0) and np.allclose(lif.r, 1.0)
    # a per-channel threshold is written for every neuron of the layer
    theta = model[1].v_threshold.detach().numpy()
    assert np.array_equal(lif.v_threshold, np.broadcast_to(theta, (6, 8, 8)))
    assert np.array_equal(lif.metadata["v_init"], model[1].imp.detach().numpy())
    assert lif.metadata["reset"] == "subtract"
    legacy = graph.nodes["8"]  # decay_input=False: r = tau so that dt/tau * r = 1
    assert np.allclose(legacy.r, 4 / 3) and np.allclose(legacy.tau, 4 / 3) and legacy.metadata["reset"] == "to_v_reset"
    cuba = graph.nodes["10"]
    assert np.allclose(1 - 1 / cuba.tau_syn, 0.75) and np.allclose(1 - 1 / cuba.tau_mem, 0.97)
    assert np.allclose(cuba.w_in / cuba.tau_syn * cuba.r / cuba.tau_mem, 1.0)
    assert graph.metadata["dt"] == 1.0


def test_shipped_model_with_batch_norm_is_folded():
    torch.manual_seed(1)
    model = build_model(
        "digits_convnet", neuron={"type": "lif", "v_reset": None, "imp": "learn", "v_threshold": "learn"}
    )
    x = torch.rand(4, 16, 1, 8, 8)
    spikeforge.materialize(model, x[:, :1])
    model.train()
    with torch.no_grad():  # non-trivial running statistics
        for _ in range(3):
            model(x * 3 + 0.5)
    model.eval()
    _randomise_(model)
    graph = export_nir(model, x[:, :1])
    assert "features_0_synapse_bn" not in graph.nodes  # folded into the conv
    back = import_nir(graph)
    want, got = _spike_trace(model, x), _spike_trace(back, x)
    for w, g in zip(want[:-1], got[:-1], strict=True):
        assert (w == g).float().mean() > 0.999  # folding BN reorders float arithmetic
    assert torch.allclose(want[-1], got[-1], atol=1e-3)


def _simulate_leaky(x, w1, beta, w2, thr):
    """snnTorch ``Leaky`` with reset to zero: ``v = beta v + W x``; spike where ``v > thr``; ``v = 0`` after a spike."""
    v1 = np.zeros(w1.shape[0])
    v2 = np.zeros(w2.shape[0])
    out = []
    for xt in x:
        v1 = beta * v1 + w1 @ xt
        s1 = (v1 > thr).astype(float)
        v1 = v1 * (1 - s1)
        v2 = beta * v2 + w2 @ s1
        s2 = (v2 > thr).astype(float)
        v2 = v2 * (1 - s2)
        out.append(s2)
    return np.stack(out)


def test_graph_written_the_snntorch_way_imports_and_runs():
    # snnTorch's exporter: Leaky(beta) -> LIF(tau = dt/(1-beta), r = tau/dt, v_leak = 0), dt = 1e-4.
    rng = np.random.default_rng(0)
    dt, beta, thr = 1e-4, 0.9, 1.0
    w1 = rng.normal(0, 0.8, (12, 5)).astype(np.float32)
    w2 = rng.normal(0, 0.8, (3, 12)).astype(np.float32)
    tau = dt / (1 - beta)

    def lif(n):
        return nir.LIF(tau=np.full(n, tau), r=np.full(n, tau / dt), v_leak=np.zeros(n), v_threshold=np.full(n, thr))

    graph = nir.NIRGraph.from_list(nir.Linear(weight=w1), lif(12), nir.Linear(weight=w2), lif(3))
    with pytest.raises(NIRConversionError, match="dt="):
        import_nir(graph)
    net = import_nir(graph, dt=dt)
    x = rng.uniform(0, 1, (20, 5)).astype(np.float32)
    got = net(torch.from_numpy(x)[:, None]).detach().numpy()[:, 0]
    want = _simulate_leaky(x.astype(np.float64), w1, beta, w2, thr)
    assert want.sum() > 0 and np.array_equal(got, want)


def test_norse_style_lif_scales_its_input_by_dt_over_tau():
    # Norse's LIF: v += dt/tau (v_leak - v + r i), r = 1: SpikeForge's LIF with decay_input, tau = 10 steps.
    rng = np.random.default_rng(2)
    dt, tau, n = 1e-3, 1e-2, 6
    w = rng.normal(0, 3.0, (n, 4)).astype(np.float32)
    lif = nir.LIF(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.full(n, 0.4))
    net = import_nir(nir.NIRGraph.from_list(nir.Linear(weight=w), lif), dt=dt)
    assert net[1].decay_input and net[1].tau == pytest.approx(10.0)
    x = rng.uniform(0, 2, (25, 4)).astype(np.float32)
    got = net(torch.from_numpy(x)[:, None]).detach().numpy()[:, 0]
    v, want = np.zeros(n), []
    for xt in x.astype(np.float64):
        v = v + dt / tau * (-v + w @ xt)
        s = (v > 0.4).astype(float)
        v = v * (1 - s)
        want.append(s)
    assert np.stack(want).sum() > 0 and np.array_equal(got, np.stack(want))


def test_graph_written_the_norse_way_imports_and_runs():
    # Norse's CubaLIF defaults: tau_syn = 5 ms, tau_mem = 10 ms, r = 1, w_in = 1, dt = 1 ms.
    rng = np.random.default_rng(1)
    dt, tau_syn, tau_mem, n = 1e-3, 5e-3, 1e-2, 4
    w = rng.normal(0, 4.0, (n, 3)).astype(np.float32)
    cuba = nir.CubaLIF(
        tau_syn=np.full(n, tau_syn),
        tau_mem=np.full(n, tau_mem),
        r=np.ones(n),
        v_leak=np.zeros(n),
        v_threshold=np.full(n, 0.3),
        v_reset=np.zeros(n),
    )
    net = import_nir(nir.NIRGraph.from_list(nir.Affine(weight=w, bias=np.zeros(n, np.float32)), cuba), dt=dt)
    x = rng.uniform(0, 2, (30, 3)).astype(np.float32)
    got = net(torch.from_numpy(x)[:, None]).detach().numpy()[:, 0]
    # Euler at dt with the current of the same step: I += dt/tau_syn (-I + w_in x); v += dt/tau_mem (-v + r I)
    i = np.zeros(n)
    v = np.zeros(n)
    want = []
    for xt in x.astype(np.float64):
        i = i + dt / tau_syn * (-i + w @ xt)
        v = v + dt / tau_mem * (-v + i)
        s = (v > 0.3).astype(float)
        v = v * (1 - s)
        want.append(s)
    assert np.stack(want).sum() > 0 and np.array_equal(got, np.stack(want))


@pytest.mark.parametrize(
    ("name", "kwargs", "needle"),
    [
        ("sew_resnet18_cifar", {}, "unsupported layer <root>: SEWResNet"),
        ("vgg11_48", {"T": 2}, "unsupported layer features.0.tebn: TEBN"),
        ("mnist1d_snn", {}, "unsupported layer window: TimeWindow"),
    ],
)
def test_unsupported_layers_fail_with_one_line_naming_them(name, kwargs, needle):
    model = build_model(name, **kwargs)
    shape = model_info(name).input_shape
    x = torch.rand(2, 1, *shape)
    with pytest.raises(NIRConversionError) as info:
        export_nir(model, x)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_unsupported_nir_nodes_and_graphs_fail_with_one_line():
    li = nir.LI(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3))
    with pytest.raises(NIRConversionError, match="unsupported node li: LI"):
        import_nir(nir.NIRGraph.from_list(nir.Linear(weight=np.ones((3, 2))), li), dt=1.0)
    lif = nir.LIF(tau=np.array([2.0, 3.0]), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2))
    with pytest.raises(NIRConversionError, match="tau differs between neurons"):
        import_nir(nir.NIRGraph.from_list(nir.Linear(weight=np.ones((2, 2))), lif), dt=1.0)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2])}),
        "a": nir.Linear(weight=np.ones((2, 2))),
        "b": nir.Linear(weight=np.ones((2, 2))),
        "output": nir.Output(output_type={"output": np.array([2])}),
    }
    edges = [("input", "a"), ("input", "b"), ("a", "output"), ("b", "output")]
    with pytest.raises(NIRConversionError, match="branches at node input"):
        import_nir(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), dt=1.0)


def test_cli_reports_conversion_errors_in_one_line():
    from spikeforge.commands import _is_user_error

    assert _is_user_error(NIRConversionError("x"))
