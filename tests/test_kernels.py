"""The fused CPU backend against the reference (``spikeforge.neuron.reference.multistep``).

Property-based: random dynamics, shapes, dtypes, parameter sharing, initial states and
traced outputs. Spikes, final state and membrane trace must be *identical*; gradients
of the input, the threshold, the initial potential and CUBA's initial current must
agree to rounding. ``case_strategy``, ``make_inputs`` and ``check_backend`` are shared
with ``test_kernels_triton.py``.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikeforge import LIFNode
from spikeforge.neuron import backends
from spikeforge.neuron.reference import Dynamics, multistep, state_dtype
from spikeforge.neuron.surrogate import ATan, Exponential, Rectangle, Sigmoid, Surrogate, Triangle

SURROGATES = st.one_of(
    st.builds(ATan, alpha=st.sampled_from([2.0, 3.5])),
    st.builds(Sigmoid, alpha=st.sampled_from([4.0, 1.7])),
    st.builds(Triangle, gamma=st.sampled_from([1.0, 0.7])),
    st.builds(Rectangle, width=st.sampled_from([1.0, 0.6])),
    st.builds(Exponential, scale=st.sampled_from([1.5, 1.0]), tau=st.sampled_from([3.75, 1.3])),
)
# How a threshold / initial potential is given: a float, a shared parameter, or a full state.
PARAM_KINDS = ["float", "layer", "channel", "neuron", "full", "odd"]


@dataclasses.dataclass
class Case:
    dyn: Dynamics
    shape: tuple[int, ...]
    dtype: torch.dtype
    theta: str
    v_init: str
    i_init: bool
    record_v: bool
    seed: int


@st.composite
def case_strategy(draw, dtypes=(torch.float64, torch.float32, torch.bfloat16)) -> Case:
    kind = draw(st.sampled_from(["if", "lif", "cuba"]))
    dyn = Dynamics(
        kind=kind,
        tau=draw(st.sampled_from([2.0, 1.5, 3.7])),
        decay_input=draw(st.booleans()),
        alpha_i=draw(st.sampled_from([0.75, 0.3])),
        alpha_v=draw(st.sampled_from([0.97, 0.6])),
        v_reset=draw(st.sampled_from([0.0, None, -0.3, 0.25])),
        detach_reset=draw(st.booleans()),
        surrogate=draw(SURROGATES),
    )
    features = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    shape = (draw(st.integers(1, 9)), draw(st.integers(1, 3)), *features)
    return Case(
        dyn=dyn,
        shape=shape,
        dtype=draw(st.sampled_from(dtypes)),
        theta=draw(st.sampled_from(PARAM_KINDS)),
        v_init=draw(st.sampled_from(PARAM_KINDS)),
        i_init=kind == "cuba" and draw(st.booleans()),
        record_v=draw(st.booleans()),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


def _param(kind: str, shape: tuple[int, ...], base: float, spread: float, gen: torch.Generator):
    """A threshold / initial potential of the given sharing (float64 master copy, requires grad)."""
    step, features = shape[1:], shape[2:]
    if kind == "float":
        return base + spread * (torch.rand((), generator=gen, dtype=torch.float64).item() - 0.5)
    pshape = {
        "layer": (),
        "channel": (features[0],) + (1,) * (len(features) - 1),
        "neuron": features,
        "full": step,
        "odd": (step[0], *(1,) * (len(features) - 1), features[-1]),  # batch x last feature: expanded to [M]
    }[kind]
    return (base + spread * (torch.rand(pshape, generator=gen, dtype=torch.float64) - 0.5)).requires_grad_()


def make_inputs(case: Case, device: str = "cpu") -> dict:
    """One case's ``x``, ``v_threshold``, ``v_init``, ``i_init`` (leaves in ``case.dtype``) and loss weights."""
    gen = torch.Generator().manual_seed(case.seed)

    def leaf(t):
        return t.to(case.dtype).to(device).detach().requires_grad_() if isinstance(t, torch.Tensor) else t

    x = torch.randn(case.shape, generator=gen, dtype=torch.float64) * 0.9 + 0.35
    theta = _param(case.theta, case.shape, 0.9, 0.4, gen)
    v_init = _param(case.v_init, case.shape, 0.0, 0.8, gen)
    i_init = torch.randn(case.shape[1:], generator=gen, dtype=torch.float64) * 0.3 if case.i_init else None
    sdt = state_dtype(case.dtype)
    return {
        "x": leaf(x),
        "v_threshold": leaf(theta),
        "v_init": leaf(v_init),
        "i_init": leaf(i_init),
        "w_spikes": torch.randn(case.shape, generator=gen, dtype=torch.float64).to(case.dtype).to(device),
        "w_trace": torch.randn(case.shape, generator=gen, dtype=torch.float64).to(sdt).to(device),
        "w_state": torch.randn(case.shape[1:], generator=gen, dtype=torch.float64).to(sdt).to(device),
    }


# Gradient tolerance relative to the largest gradient (backends round differently, e.g. x/tau vs x*(1/tau)).
GRAD_TOL = {torch.float64: 1e-10, torch.float32: 2e-5, torch.float16: 2e-2, torch.bfloat16: 2e-2}


def _run(fn, case: Case, inputs: dict):
    out = fn(inputs["x"], case.dyn, inputs["v_threshold"], inputs["v_init"], inputs["i_init"], case.record_v)
    loss = (out.spikes * inputs["w_spikes"]).sum() + (out.v * inputs["w_state"]).sum()
    if case.record_v:
        loss = loss + (out.v_seq * inputs["w_trace"]).sum()
    if out.i is not None:
        loss = loss + (out.i * inputs["w_state"]).sum()
    leaves = [inputs[k] for k in ("x", "v_threshold", "v_init", "i_init") if isinstance(inputs[k], torch.Tensor)]
    return out, torch.autograd.grad(loss, leaves)


def check_backend(fn, case: Case, device: str = "cpu") -> None:
    """``fn`` (a backend's multistep) matches the reference on ``case``: exact outputs, gradients to rounding."""
    inputs = make_inputs(case, device)
    ref, ref_grads = _run(multistep, case, inputs)
    out, grads = _run(fn, case, inputs)
    assert out.spikes.dtype == case.dtype and out.v.dtype == state_dtype(case.dtype)
    assert torch.equal(out.spikes, ref.spikes)
    assert torch.equal(out.v, ref.v)
    if case.dyn.kind == "cuba":
        assert torch.equal(out.i, ref.i)
    else:
        assert out.i is None
    if case.record_v:
        assert torch.equal(out.v_seq, ref.v_seq)
    else:
        assert out.v_seq is None
    tol = GRAD_TOL[case.dtype]
    for g, r in zip(grads, ref_grads, strict=True):
        assert g.shape == r.shape and g.dtype == r.dtype
        scale = max(1.0, r.abs().max().item())
        torch.testing.assert_close(g.double(), r.double(), rtol=tol, atol=tol * scale)


@pytest.fixture(scope="module")
def cpu_backend():
    from spikeforge.neuron.ops.cpu import build as cpu_build
    from spikeforge.neuron.ops.cpu import op as cpu

    status = cpu_build.status()
    if not status.ok:
        pytest.skip(f"CPU kernels unavailable: {status.message}")
    return cpu.multistep


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=case_strategy())
def test_cpu_matches_reference(cpu_backend, case):
    check_backend(cpu_backend, case)


@pytest.fixture
def threads(request):
    """Run with ``request.param`` intra-op threads (the suite's conftest sets one), then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("dtype", "theta", "v_init", "threads"),
    [
        (torch.float32, "channel", "neuron", 2),  # shared rows for theta, owned slices for v_init
        (torch.bfloat16, "neuron", "neuron", 3),  # owned slices of uneven length
        (torch.float64, "layer", "full", 2),
        (torch.float32, "neuron", "float", 1),
    ],
    indirect=["threads"],
)
def test_cpu_large_layer_threads_and_streaming_stores(cpu_backend, dtype, theta, v_init, threads):
    # Big enough for several threads, several neuron blocks per thread, non-temporal stores
    # and per-neuron parameters whose gradient slices are owned by threads.
    assert torch.get_num_threads() == threads
    case = Case(
        dyn=Dynamics(kind="lif", v_reset=None, surrogate=Sigmoid()),
        shape=(4, 4, 16, 64, 64),
        dtype=dtype,
        theta=theta,
        v_init=v_init,
        i_init=False,
        record_v=True,
        seed=3,
    )
    check_backend(cpu_backend, case)


def test_cpu_saves_no_per_step_tensor_but_the_input(cpu_backend):
    x = torch.randn(6, 2, 50, requires_grad=True)
    theta = torch.full((50,), 0.8, requires_grad=True)
    out = cpu_backend(x, Dynamics(kind="lif"), theta, 0.0)
    node = out.spikes.grad_fn
    # behind the view that restores x's shape
    while type(node).__name__ != "GeneratedBackwardFor_spikeforge_cpu_neuron_forward_defaultBackward":
        node = node.next_functions[0][0]
    saved = [t for t in node.saved_tensors if t is not None]
    per_step = [t for t in saved if t.numel() >= x.numel()]
    assert len(per_step) == 1 and per_step[0].data_ptr() == x.data_ptr()
    assert sum(t.numel() for t in saved if t.numel() < x.numel()) <= 2 * 50


def test_cpu_detects_input_modified_before_backward(cpu_backend):
    x = torch.randn(3, 2, 8)
    x_leaf = x.clone().requires_grad_()
    y = x_leaf * 1.0
    out = cpu_backend(y, Dynamics(kind="if"), 0.5, 0.0)
    y.add_(1.0)  # the backward recomputes H from y, so this must not go unnoticed
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.spikes.sum().backward()


def test_cpu_non_contiguous_input_and_empty_batch(cpu_backend):
    dyn = Dynamics(kind="lif", surrogate=Triangle())
    x = torch.randn(5, 7, 3, dtype=torch.float64).transpose(1, 2)
    assert torch.equal(cpu_backend(x, dyn, 0.6, 0.1).spikes, multistep(x, dyn, 0.6, 0.1).spikes)
    empty = torch.randn(4, 0, 3)
    assert cpu_backend(empty, dyn, 1.0, 0.0).spikes.shape == (4, 0, 3)


def test_cpu_node_training_steps_match_reference(cpu_backend):
    # Learnable IMP (channel) and threshold (neuron) through the module, two calls in stateful mode.
    torch.manual_seed(0)
    kw = dict(imp="learn", imp_sharing="channel", v_threshold="learn", threshold_sharing="neuron", stateful=True)
    ref, fused = LIFNode(**kw, feature_shape=(3, 4)), LIFNode(**kw, feature_shape=(3, 4), backend="cpu")
    fused.load_state_dict(ref.state_dict())
    for _ in range(2):
        x = torch.randn(5, 2, 3, 4) + 0.5
        s_ref, s_fused = ref(x), fused(x)
        assert torch.equal(s_ref, s_fused) and torch.equal(ref._v, fused._v)
        (s_ref * x).sum().backward()
        (s_fused * x).sum().backward()
    for name in ("imp", "v_threshold"):
        torch.testing.assert_close(getattr(fused, name).grad, getattr(ref, name).grad, rtol=1e-5, atol=1e-6)


def test_output_pool_reuses_dead_buffers_only(cpu_backend):
    from spikeforge.neuron.ops.cpu import pool as cpu_pool

    shape = (8, 1 << 18)  # 8 MiB float32: pooled
    cpu_pool.empty_cache()
    a = cpu_pool.empty(shape, torch.float32)
    a.fill_(1.0)
    b = cpu_pool.empty(shape, torch.float32)  # `a` is alive: must get other memory
    assert a.data_ptr() != b.data_ptr()
    ptr, hits = a.data_ptr(), cpu_pool.stats()["hits"]
    view = a[1:]
    del a
    c = cpu_pool.empty(shape, torch.float32)  # a view keeps the block alive
    assert c.data_ptr() != ptr
    del view
    d = cpu_pool.empty(shape, torch.float32)
    assert d.data_ptr() == ptr and cpu_pool.stats()["hits"] == hits + 1
    assert d.shape == shape and d.dtype == torch.float32 and d.is_contiguous()
    assert cpu_pool.empty((4, 4), torch.float32).data_ptr() not in (ptr, b.data_ptr(), c.data_ptr())


def test_auto_picks_the_cpu_kernel_for_cpu_tensors(cpu_backend):
    dyn = Dynamics(kind="lif")
    assert backends.resolve_backend("auto", torch.device("cpu"), torch.float32, dyn).name == "cpu"
    # float16 and custom surrogates have no CPU kernel: auto falls back, an explicit request explains
    assert backends.resolve_backend("auto", torch.device("cpu"), torch.float16, dyn).name == "torch"
    with pytest.raises(ValueError, match="float32/float64/bfloat16"):
        backends.resolve_backend("cpu", torch.device("cpu"), torch.float16, dyn)

    class Scaled(ATan):
        def grad(self, u):
            return 2 * super().grad(u)

    custom = Dynamics(kind="lif", surrogate=Scaled())
    assert backends.resolve_backend("auto", torch.device("cpu"), torch.float32, custom).name == "torch"
    assert backends.resolve_backend("auto", torch.device("cpu"), torch.float32, Dynamics()).name == "cpu"
    assert isinstance(custom.surrogate, Surrogate)


def test_missing_compiler_falls_back_silently_and_explains_when_named(tmp_path):
    # A fresh interpreter with a broken compiler and an empty cache: nothing is built.
    code = (
        "import torch, warnings\n"
        "warnings.simplefilter('error')\n"
        "from spikeforge.neuron import backends\n"
        "from spikeforge.neuron.reference import Dynamics\n"
        "cpu = torch.device('cpu')\n"
        "assert backends.resolve_backend('auto', cpu, torch.float32, Dynamics()).name == 'torch'\n"
        "try:\n"
        "    backends.resolve_backend('cpu', cpu, torch.float32, Dynamics())\n"
        "except ValueError as e:\n"
        "    print(e)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "CXX": "false", "SPIKEFORGE_KERNEL_CACHE": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "compiling the CPU kernels with" in proc.stdout and "failed" in proc.stdout
    assert proc.stderr == ""


def test_the_check_catches_a_wrong_gradient_and_a_wrong_spike():
    case = Case(Dynamics(kind="lif", surrogate=ATan()), (4, 2, 6), torch.float64, "neuron", "float", False, False, 5)

    def wrong_surrogate(x, dyn, *args):
        return multistep(x, dataclasses.replace(dyn, surrogate=ATan(alpha=2.01)), *args)

    def wrong_threshold(x, dyn, theta, *args):
        return multistep(x, dyn, theta * (1 + 1e-3), *args)

    check_backend(multistep, case)
    for wrong in (wrong_surrogate, wrong_threshold):
        with pytest.raises(AssertionError):
            check_backend(wrong, case)
