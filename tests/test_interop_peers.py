"""NIR interop against the released peer libraries themselves: snnTorch 1.0, Norse 1.1 (``./run test``
installs them, with nir and nirtorch). Networks are built, exported and simulated step by step by
those libraries; spikes are compared over ``T`` steps, in both directions and through files."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import spikeforge
from spikeforge import IFNode, LIFNode, export_nir, import_nir
from spikeforge.export.nir import NIRConversionError, NIRExportWarning
from spikeforge.layers import MultiStep

nir = pytest.importorskip("nir")
snn = pytest.importorskip("snntorch")
norse = pytest.importorskip("norse.torch")
from snntorch import utils as snn_utils  # noqa: E402
from snntorch.export_nir import export_to_nir  # noqa: E402
from snntorch.import_nir import import_from_nir  # noqa: E402

T = 16
# the peers call nirtorch's old entry points, which it marks deprecated
pytestmark = pytest.mark.filterwarnings(r"ignore:nirtorch\.\w+ is being deprecated:DeprecationWarning")


def _quarter_weights_(*layers: nn.Module, seed: int = 0) -> None:
    """Weights in {-0.5, ..., 0.5} (steps of 1/4): with spike inputs the potentials hit the threshold exactly."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in layers:
            layer.weight.copy_(torch.randint(-2, 3, layer.weight.shape, generator=g).float() * 0.25)
            if layer.bias is not None:
                layer.bias.zero_()


def _spikes(x: torch.Tensor, p: float = 0.3, seed: int = 0) -> torch.Tensor:
    return (torch.rand(x, generator=torch.Generator().manual_seed(seed)) < p).float()


def _snntorch_run(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """snnTorch's own simulation, one step at a time (``init_hidden`` neurons, output spikes)."""
    snn_utils.reset(net)
    with torch.no_grad():
        return torch.stack([net(x[t])[0] for t in range(x.shape[0])])


def _norse_run(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    state, out = None, []
    with torch.no_grad():
        for t in range(x.shape[0]):
            z, state = model(x[t], state)
            out.append(z)
    return torch.stack(out)


def _run(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net(x)


def _leaky(shape: tuple[int, ...], beta: float, threshold: float) -> nn.Module:
    # snnTorch exports only array-valued beta / threshold, and drops the reset mechanism (NIR: reset to 0)
    return snn.Leaky(
        beta=torch.full(shape, beta),
        threshold=torch.full(shape, threshold),
        init_hidden=True,
        reset_mechanism="zero",
        output=True,
    )


# ------------------------------------------------------------------ snnTorch -> SpikeForge
def test_snntorch_conv_avgpool_leaky_gives_equal_spikes_without_nudging(tmp_path):
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.AvgPool2d(2), _leaky((4, 4, 4), 0.875, 1.0))
    _quarter_weights_(net[0])
    x = _spikes((T, 3, 2, 10, 10))
    graph = export_to_nir(net, x[0, 0])  # snnTorch writes a scalar pooling size (defect 1: crashed the import)
    assert np.asarray(graph.nodes["1"].kernel_size).shape == ()
    want = _snntorch_run(net, x)
    assert 0.05 < want.mean() < 0.95
    nir.write(tmp_path / "snntorch.nir", graph)
    got = _run(import_nir(tmp_path / "snntorch.nir", dt=1e-4), x)
    assert torch.equal(got, want)  # NIR's v > threshold, as snnTorch fires
    # SpikeForge's own condition (v >= threshold) differs where potentials land on the threshold
    at_equality = _run(import_nir(graph, dt=1e-4, fire_at_threshold=True), x)
    assert not torch.equal(at_equality, want)


def test_snntorch_leaky_with_per_neuron_thresholds_gives_equal_spikes():
    leaky = _leaky((5,), 0.75, 1.0)
    with torch.no_grad():
        leaky.threshold.copy_(torch.linspace(0.5, 1.5, 5))
    net = nn.Sequential(nn.Linear(8, 5), leaky)
    _quarter_weights_(net[0], seed=1)
    x = _spikes((T, 4, 8), p=0.5, seed=1)
    want = _snntorch_run(net, x)
    assert 0.05 < want.mean() < 0.95
    back = import_nir(export_to_nir(net, x[0, 0]), dt=1e-4)
    assert torch.equal(_run(back, x), want)
    assert back[1].learn_threshold  # per-neuron thresholds come back as a learnable parameter


def test_snntorch_conv_leaky_flatten_linear_gives_equal_spikes():
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        snn.Leaky(
            beta=torch.full((4, 6, 6), 0.875),
            threshold=torch.full((4, 6, 6), 0.5),
            init_hidden=True,
            reset_mechanism="zero",
        ),
        nn.Flatten(0),  # snnTorch's exporter traces one sample without its batch axis: flatten from dim 0 there
        nn.Linear(4 * 6 * 6, 5),
        _leaky((5,), 0.5, 1.0),
    )
    _quarter_weights_(net[0], net[3], seed=7)
    x = _spikes((T, 3, 2, 6, 6), p=0.5, seed=7)
    graph = export_to_nir(net, x[0, 0])
    net[2] = nn.Flatten(1)  # ... and the same network, run on batches
    want = _snntorch_run(net, x)
    assert 0.05 < want.mean() < 0.95
    assert torch.equal(_run(import_nir(graph, dt=1e-4), x), want)


def test_snntorch_synaptic_agrees_until_the_first_reset():
    """snnTorch's Synaptic (reset "zero") zeroes v one step *after* a spike, dropping that step's current
    from v; NIR's CubaLIF (and SpikeForge) reset at the spike. The spikes agree up to each neuron's
    first spike and part ways after it (docs/api/nir.md: approximate)."""
    syn = snn.Synaptic(
        alpha=torch.full((5,), 0.5),
        beta=torch.full((5,), 0.75),
        threshold=torch.full((5,), 1.0),
        init_hidden=True,
        reset_mechanism="zero",
        output=True,
    )
    net = nn.Sequential(nn.Linear(8, 5), syn)
    _quarter_weights_(net[0], seed=1)
    x = _spikes((T, 4, 8), p=0.5, seed=1)
    snn_utils.reset(net)
    with torch.no_grad():
        want = torch.stack([net(x[t])[0] for t in range(T)])
    got = _run(import_nir(export_to_nir(net, x[0, 0]), dt=1e-4), x)
    first = torch.where(want.any(0), want.argmax(0), T)  # each neuron's first spike step
    upto = torch.arange(T).view(T, 1, 1) <= first
    assert torch.equal(got[upto], want[upto]) and (first < T - 1).any()
    assert not torch.equal(got, want)


# ------------------------------------------------------------------ Norse -> SpikeForge
def _norse_chain(cell: nn.Module, seed: int = 2) -> nn.Module:
    lin = nn.Linear(6, 4)
    _quarter_weights_(lin, seed=seed)
    return norse.SequentialState(lin, cell)


@pytest.mark.parametrize(
    "cell",
    [
        lambda: norse.LIFBoxCell(
            norse.LIFBoxParameters(
                tau_mem_inv=torch.full((4,), 0.25), v_th=torch.full((4,), 0.5), v_leak=torch.zeros(4)
            ),
            dt=1,
        ),
        lambda: norse.IAFCell(norse.IAFParameters(v_th=torch.full((4,), 0.75)), dt=1),
    ],
    ids=["LIFBoxCell", "IAFCell"],
)
def test_norse_cells_exported_with_dt_1_give_equal_spikes_through_a_file(cell, tmp_path):
    model = _norse_chain(cell())
    x = _spikes((T, 3, 6), p=0.5, seed=3)
    want = _norse_run(model, x)
    assert 0.0 < want.mean() < 0.95
    path = tmp_path / "norse.nir"
    nir.write(path, norse.to_nir(model, x[0], dt=1))
    with pytest.raises(ValueError, match="Type inference error"):
        nir.read(path)  # NIR's strict check rejects what Norse writes (defect 3) ...
    assert torch.equal(_run(import_nir(path, dt=1), x), want)  # ... import_nir reads it


def test_norse_conv_and_lifboxcell_give_equal_spikes_through_a_file(tmp_path):
    conv = nn.Conv2d(2, 3, 3, padding=1)
    _quarter_weights_(conv, seed=8)
    shape = (3, 5, 5)
    params = norse.LIFBoxParameters(
        tau_mem_inv=torch.full(shape, 0.25), v_th=torch.full(shape, 0.25), v_leak=torch.zeros(shape)
    )
    model = norse.SequentialState(conv, norse.LIFBoxCell(params, dt=1))
    x = _spikes((T, 3, 2, 5, 5), p=0.5, seed=8)
    want = _norse_run(model, x)
    assert 0.05 < want.mean() < 0.95
    graph = norse.to_nir(model, x[0, 0], dt=1)
    graph.infer_types()  # Norse leaves the conv's input shape unset, which nir.write cannot store
    nir.write(tmp_path / "norse_conv.nir", graph)
    assert torch.equal(_run(import_nir(tmp_path / "norse_conv.nir", dt=1), x), want)


def test_norse_default_dt_is_refused_with_how_to_export_it():
    cell = norse.LIFBoxCell(
        norse.LIFBoxParameters(tau_mem_inv=torch.full((4,), 100.0), v_th=torch.ones(4), v_leak=torch.zeros(4))
    )  # Norse's default dt = 1e-3: to_nir writes tau = dt / tau_mem_inv = 1e-5 s for a 10 ms neuron
    graph = norse.to_nir(_norse_chain(cell), torch.rand(6))
    with pytest.raises(NIRConversionError, match=r"tau/dt = 0\.01 <= 1.*Norse 1\.1's to_nir writes.*dt=1"):
        import_nir(graph, dt=1e-3)


def test_norse_sequence_module_exports_as_none_and_gets_a_specific_line():
    graph = norse.to_nir(norse.SequentialState(nn.Linear(6, 4), norse.LIF(dt=1)), torch.rand(6), dt=1)
    with pytest.raises(NIRConversionError, match=r"^import_nir: node 1 is empty \(None\).*Norse 1\.1's to_nir"):
        import_nir(graph, dt=1)


# ------------------------------------------------------------------ SpikeForge -> snnTorch / Norse
def _spikeforge_chain(neuron: nn.Module) -> nn.Module:
    lin = nn.Linear(6, 4)
    _quarter_weights_(lin, seed=4)
    return nn.Sequential(MultiStep(lin), neuron)


def _stepwise(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A peer's imported graph (snnTorch's GraphExecutor, Norse's): ``(out, state) = m(x[t], state)``."""
    state, out = None, []
    with torch.no_grad():
        for t in range(x.shape[0]):
            z, state = module(x[t], state) if state is not None else module(x[t])
            out.append(z)
    return torch.stack(out)


@pytest.mark.parametrize(
    "neuron",
    [
        lambda: LIFNode(tau=2.0, decay_input=True, v_threshold=0.25, fire_at_threshold=False),
        lambda: spikeforge.CUBALIFNode(alpha_i=0.5, alpha_v=0.75, v_threshold=0.5, fire_at_threshold=False),
    ],
    ids=["LIF", "CUBA"],
)
def test_spikeforge_neurons_run_equal_in_snntorch_and_norse_through_a_file(neuron, tmp_path):
    model = _spikeforge_chain(neuron())
    x = _spikes((T, 3, 6), p=0.5, seed=5)
    want = _run(model, x)
    assert 0.0 < want.mean() < 0.95
    for reader, dt in (("snntorch", 1e-4), ("norse", 1e-3)):  # the dt each reader assumes
        with warnings.catch_warnings():
            warnings.simplefilter("error", NIRExportWarning)  # nothing lossy here: no warning
            graph = export_nir(model, x[:, :1], dt=dt)
        path = tmp_path / f"for_{reader}.nir"
        nir.write(path, graph)
        read = nir.read(path, type_check=False)
        peer = import_from_nir(read) if reader == "snntorch" else norse.from_nir(read, dt=dt)
        assert torch.equal(_stepwise(peer, x), want), reader


def test_spikeforge_default_spike_condition_differs_only_at_equality_in_snntorch():
    """SpikeForge's default fires at v >= threshold; with weights that land on it, snnTorch (v >) differs."""
    model = _spikeforge_chain(LIFNode(tau=2.0, decay_input=False, v_threshold=0.5))
    x = _spikes((T, 3, 6), p=0.5, seed=5)
    got = _stepwise(import_from_nir(export_nir(model, x[:, :1], dt=1e-4)), x)
    assert not torch.equal(got, _run(model, x))
    model[1].fire_at_threshold = False
    assert torch.equal(got, _run(model, x))


# ------------------------------------------------------------------ lossy export: one line each, or refused
def test_export_warns_one_line_per_lossy_item_and_strict_refuses():
    model = nn.Sequential(
        MultiStep(nn.Linear(6, 4)),
        LIFNode(tau=2.0, v_reset=None, imp="learn", v_threshold="learn", feature_shape=(4,)),
    )
    with torch.no_grad():
        model[1].v_threshold.copy_(torch.tensor([0.5, 0.75, 1.0, 1.25]))
    x = torch.rand(T, 1, 6)
    with pytest.warns(NIRExportWarning) as record:
        export_nir(model, x)
    lines = [str(w.message) for w in record]
    assert [ln.split(": ")[2].split(" ")[0:2] for ln in lines] == [
        ["its", "initial"],
        ["its", "soft"],
        ["per-neuron", "thresholds;"],
    ]
    assert all("\n" not in ln and ln.startswith("export_nir: neuron 1: ") for ln in lines)
    with pytest.raises(NIRConversionError, match=r"neuron 1: its initial membrane potential .*strict=True refuses it"):
        export_nir(model, x, strict=True)


# ------------------------------------------------------------------ SpikeForge -> file -> SpikeForge
def test_layer_shared_learnable_imp_and_threshold_round_trip_with_state_dict_and_sgd_step(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(
        MultiStep(nn.Sequential(nn.Conv2d(2, 4, 3, padding=1))),
        LIFNode(tau=2.0, imp="learn", imp_sharing="layer", v_threshold="learn", threshold_sharing="layer"),
        MultiStep(nn.Flatten(1)),
        MultiStep(nn.Linear(4 * 6 * 6, 5)),
        IFNode(v_reset=None, imp="learn", imp_sharing="channel", v_threshold="learn", threshold_sharing="neuron"),
    )
    x = _spikes((T, 3, 2, 6, 6), p=0.5, seed=6)
    spikeforge.materialize(model, x)
    with torch.no_grad():
        model[1].imp.fill_(0.3)
        model[1].v_threshold.fill_(0.8)
    with pytest.warns(NIRExportWarning):
        graph = export_nir(model, x)
    nir.write(tmp_path / "sf.nir", graph)
    back = import_nir(tmp_path / "sf.nir", backend="auto")  # the same kernels as the original
    assert back.state_dict().keys() == model.state_dict().keys()
    assert back.get_submodule("1").imp.shape == () and back.get_submodule("1").v_threshold.shape == ()
    back.load_state_dict(model.state_dict())  # strict: same names, same shapes
    for net in (model, back):
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        net(x).sum().backward()
        opt.step()
    for (name, a), b in zip(model.state_dict().items(), back.state_dict().values()):
        assert torch.equal(a, b), name
    assert torch.equal(_run(back, x), _run(model, x))
    # and the imported network exports again: the same graph
    with pytest.warns(NIRExportWarning):
        again = import_nir(export_nir(back, x), backend="auto")
    assert again.state_dict().keys() == model.state_dict().keys()
    assert torch.equal(_run(again, x), _run(model, x))


# ------------------------------------------------------------------ the figures of docs/api/nir.md
def _agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a == b).float().mean().item()


def measure_agreement(batch: int = 64) -> dict[str, str]:
    """Fraction of equal spikes (``T`` steps x ``batch`` samples x neurons) of the approximate
    crossings in docs/api/nir.md: ``./run python -m tests.test_interop_peers`` prints them."""
    out: dict[str, str] = {}
    x = _spikes((T, batch, 6), p=0.5, seed=5)
    to_peers = {
        "SpikeForge default v >= threshold (LIF)": LIFNode(tau=2.0, v_threshold=0.25),
        "SpikeForge LIF decay_input=False": LIFNode(
            tau=2.0, decay_input=False, v_threshold=0.5, fire_at_threshold=False
        ),
        "SpikeForge IMP 0.2 (LIF tau=8)": LIFNode(tau=8.0, v_threshold=0.25, imp=0.2, fire_at_threshold=False),
        "SpikeForge soft reset (LIF)": LIFNode(tau=2.0, v_threshold=0.25, v_reset=None),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, neuron in to_peers.items():
            model = _spikeforge_chain(neuron)
            want = _run(model, x)
            in_snntorch = _stepwise(import_from_nir(export_nir(model, x[:, :1], dt=1e-4)), x)
            in_norse = _stepwise(norse.from_nir(export_nir(model, x[:, :1], dt=1e-3), dt=1e-3, ignore_warnings=True), x)
            out[name] = f"snnTorch {_agreement(in_snntorch, want):.3f}, Norse {_agreement(in_norse, want):.3f}"
        syn = snn.Synaptic(
            alpha=torch.full((5,), 0.5),
            beta=torch.full((5,), 0.75),
            threshold=torch.full((5,), 1.0),
            init_hidden=True,
            reset_mechanism="zero",
            output=True,
        )
        net = nn.Sequential(nn.Linear(8, 5), syn)
        _quarter_weights_(net[0], seed=1)
        x8 = _spikes((T, batch, 8), p=0.5, seed=1)
        want = _snntorch_run(net, x8)
        got = _run(import_nir(export_to_nir(net, x8[0, 0]), dt=1e-4), x8)
        out["snnTorch Synaptic -> SpikeForge"] = f"{_agreement(got, want):.3f}"
        subtract = snn.Leaky(
            beta=torch.full((5,), 0.75), threshold=torch.full((5,), 1.0), init_hidden=True, output=True
        )  # snnTorch's default reset_mechanism="subtract"
        net = nn.Sequential(nn.Linear(8, 5), subtract)
        _quarter_weights_(net[0], seed=1)
        want = _snntorch_run(net, x8)
        got = _run(import_nir(export_to_nir(net, x8[0, 0]), dt=1e-4), x8)
        out["snnTorch Leaky (subtract) -> SpikeForge"] = f"{_agreement(got, want):.3f}"
        net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.AvgPool2d(2), _leaky((4, 4, 4), 0.875, 1.0))
        _quarter_weights_(net[0])
        xc = _spikes((T, batch, 2, 10, 10))
        want, graph = _snntorch_run(net, xc), export_to_nir(net, xc[0, 0])
        strict = _run(import_nir(graph, dt=1e-4), xc)
        at_equality = _run(import_nir(graph, dt=1e-4, fire_at_threshold=True), xc)
        out["snnTorch Conv + AvgPool2d -> SpikeForge"] = (
            f"{_agreement(strict, want):.4f} (v >= threshold: {_agreement(at_equality, want):.4f})"
        )
        shape = (4,)
        cell = norse.LIFCell(
            norse.LIFParameters(
                tau_mem_inv=torch.full(shape, 0.25),
                tau_syn_inv=torch.full(shape, 0.5),
                v_th=torch.full(shape, 0.5),
                v_leak=torch.zeros(shape),
                v_reset=torch.zeros(shape),
            ),
            dt=1,
        )
        model = _norse_chain(cell)
        want = _norse_run(model, x)
        got = _run(import_nir(norse.to_nir(model, x[0, 0], dt=1), dt=1), x)
        out["Norse LIFCell -> SpikeForge"] = f"{_agreement(got, want):.3f}"
    return out


if __name__ == "__main__":
    for case, figure in measure_agreement().items():
        print(f"{case}: {figure}")
