"""The Triton backend against the reference.

On a machine with a CUDA GPU the kernels run on it. Without one they run in Triton's
interpreter (``TRITON_INTERPRET=1``, set here before the kernels are first imported) on
CPU tensors: that checks the kernels' arithmetic and indexing, not GPU code generation
(``tests/test_triton_aot.py`` compiles them for sm_80 / sm_90 and checks the IR).
``./run test`` installs triton and sets ``SPIKEFORGE_REQUIRE_TRITON=1``, so there (and in CI)
these tests run; elsewhere they are skipped when ``triton`` is not installed.

The grid: the CPU kernels' random cases (``case_strategy``, plus float16), every neuron kind x
reset x detach with parameters shared per layer / channel / neuron / full state, and the edge
cases: layers that end inside a block (1,025 and 2,049 neurons), T=1, a long T, transposed,
strided, channels-last and stride-0 inputs, an empty batch and an empty time axis.
"""

from __future__ import annotations

import itertools
import os
import sys

import pytest
import torch
from hypothesis import given, settings

from spikeforge.neuron import backends
from spikeforge.neuron.reference import Dynamics, multistep
from spikeforge.neuron.surrogate import ATan, Exponential, Rectangle, Sigmoid, Triangle

from .test_kernels import Case, case_strategy, check_backend

if not os.environ.get("SPIKEFORGE_REQUIRE_TRITON"):
    pytest.importorskip("triton")

from spikeforge.neuron.ops.triton import op as triton_backend

CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"


@pytest.fixture(scope="module", autouse=True)
def interpreter_without_gpu():
    """Without a GPU, define the kernels (at their first use) under ``TRITON_INTERPRET=1``; restore the env after."""
    if CUDA:
        yield
        return
    old = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    # triton.jit picks interpreter or compiler when a kernel is defined: define them afresh here
    sys.modules.pop(f"{triton_backend.__package__}.kernels", None)
    triton_backend._kernels.cache_clear()
    triton_backend._kernels()
    yield
    if old is None:
        del os.environ["TRITON_INTERPRET"]
    else:
        os.environ["TRITON_INTERPRET"] = old


DTYPES = (torch.float64, torch.float32, torch.bfloat16, torch.float16)


@settings(max_examples=60 if CUDA else 40, deadline=None)
@given(case=case_strategy(dtypes=DTYPES))
def test_triton_matches_reference(case):
    check_backend(triton_backend.multistep, case, DEVICE)


# kind x decay_input, reset, detach: every code path of both kernels (16 dynamics)
KINDS = [("if", True), ("lif", True), ("lif", False), ("cuba", True)]
RESETS = [0.0, None]  # hard (to 0), soft
SHARING = ["layer", "channel", "neuron", "full"]
SURROGATES = [ATan(), Sigmoid(), Triangle(), Rectangle(), Exponential()]
GRID = list(itertools.product(KINDS, RESETS, (False, True)))


@pytest.mark.parametrize(("kind", "v_reset", "detach"), GRID, ids=[f"{k[0]}{int(k[1])}-{r}-{d}" for k, r, d in GRID])
def test_triton_grid(kind, v_reset, detach):
    """Each dynamics with learnable threshold and IMP shared per layer / channel / neuron / full state, taus whose
    reciprocal is inexact (3.7, 10) and every surrogate, in float32 (bit-exact forward) and bfloat16."""
    (name, decay_input), i = kind, GRID.index((kind, v_reset, detach))
    dyn = Dynamics(
        kind=name,
        tau=(3.7, 10.0, 1.5)[i % 3],
        decay_input=decay_input,
        v_reset=v_reset,
        detach_reset=detach,
        surrogate=SURROGATES[i % len(SURROGATES)],
    )
    for j, dtype in enumerate((torch.float32, torch.bfloat16)):
        case = Case(
            dyn=dyn,
            shape=(6, 2, 3, 5),
            dtype=dtype,
            theta=SHARING[(i + j) % 4],
            v_init=SHARING[(i + j + 1) % 4],
            i_init=name == "cuba",
            record_v=(i + j) % 2 == 0,
            seed=i,
        )
        check_backend(triton_backend.multistep, case, DEVICE)


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [
        ((3, 1, 1025), torch.float32),  # one neuron past a block
        ((2, 1, 2049), torch.float64),
        ((1, 4, 7), torch.float32),  # T = 1
        ((300, 1, 9), torch.float32),  # a long T
        ((4, 3, 5), torch.float16),
    ],
)
def test_triton_edge_shapes(shape, dtype):
    case = Case(
        dyn=Dynamics(kind="lif", tau=3.7, v_reset=None),
        shape=shape,
        dtype=dtype,
        theta="neuron",
        v_init="full",
        i_init=False,
        record_v=True,
        seed=7,
    )
    check_backend(triton_backend.multistep, case, DEVICE)


def _layouts(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """``x [T, B, C, H, W]`` as non-contiguous views with the same values."""
    T, B, C, H, W = x.shape
    return {
        "transposed": x.transpose(3, 4).contiguous().transpose(3, 4),
        "strided": torch.zeros(T, B, C, H, 2 * W, dtype=x.dtype, device=x.device)[..., ::2].copy_(x),
        "channels_last": x.flatten(0, 1).contiguous(memory_format=torch.channels_last).view(T, B, C, H, W),
        "stride0": x[:, :1].expand(T, B, C, H, W),
    }


@pytest.mark.parametrize("layout", ["transposed", "strided", "channels_last", "stride0"])
def test_triton_non_contiguous_inputs(layout):
    gen = torch.Generator().manual_seed(3)
    x = (torch.randn(5, 2, 3, 4, 4, generator=gen) + 0.4).to(DEVICE)
    view = _layouts(x)[layout]
    assert not view.is_contiguous()
    dyn = Dynamics(kind="cuba", v_reset=None)
    ref = multistep(view.contiguous(), dyn, 0.8, 0.1, record_v=True)
    out = triton_backend.multistep(view, dyn, 0.8, 0.1, record_v=True)
    assert torch.equal(out.spikes, ref.spikes) and torch.equal(out.v_seq, ref.v_seq)


def test_triton_op_called_directly_with_a_strided_input():
    """``triton_neuron_forward`` itself (not only the backend wrapper) reads a strided ``[T, M]`` input right."""
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(6, 8, generator=gen).to(DEVICE)
    xt = x.t().contiguous().t()  # same values, column-major
    theta = torch.full((1,), 0.3, device=DEVICE)
    v0 = torch.zeros(1, device=DEVICE)
    dyn_args = (1, False, False, 0, [2.0, 0.75, 0.97, 0.0, 0.0, 2.0, 1.0], 1, 1, False, False)
    dense = triton_backend.neuron_forward(x, theta, v0, None, *dyn_args)
    strided = triton_backend.neuron_forward(xt, theta, v0, None, *dyn_args)
    assert torch.equal(dense[0], strided[0]) and torch.equal(dense[1], strided[1])


@pytest.mark.parametrize("shape", [(4, 0, 3), (0, 2, 3)], ids=["empty batch", "T=0"])
def test_triton_empty_inputs(shape):
    x = torch.randn(shape, device=DEVICE, requires_grad=True)
    dyn = Dynamics(kind="cuba")
    ref = multistep(x, dyn, 1.0, 0.2, record_v=True)
    out = triton_backend.multistep(x, dyn, 1.0, 0.2, record_v=True)
    assert out.spikes.shape == ref.spikes.shape == shape and out.v_seq.shape == shape
    assert torch.equal(out.v, ref.v) and out.v.shape == shape[1:]


def test_triton_half_precision_with_learnable_parameters():
    case = Case(
        dyn=Dynamics(kind="cuba", v_reset=None),
        shape=(5, 2, 3, 4),
        dtype=torch.float16,
        theta="channel",
        v_init="full",
        i_init=True,
        record_v=True,
        seed=11,
    )
    check_backend(triton_backend.multistep, case, DEVICE)


def test_auto_picks_triton_only_for_cuda_tensors():
    dyn = Dynamics(kind="lif")
    assert backends.resolve_backend("auto", torch.device("cpu"), torch.float32, dyn).name != "triton"
    if CUDA:
        assert backends.resolve_backend("auto", torch.device("cuda"), torch.float32, dyn).name == "triton"
    else:
        with pytest.raises(ValueError, match="needs CUDA tensors"):
            backends.resolve_backend("triton", torch.device("cpu"), torch.float32, dyn)


def _op_args(kind: str, record_v: bool, save_h: bool, theta: str = "neuron") -> tuple:
    from spikeforge.neuron.ops.call import flatten_call

    torch.manual_seed(2)
    x = torch.randn(5, 2, 6, dtype=torch.float64, device=DEVICE, requires_grad=True)
    th = (torch.rand(6, dtype=torch.float64, device=DEVICE) + 0.5) if theta == "neuron" else torch.tensor(0.7)
    th = th.to(DEVICE).requires_grad_()
    imp = (torch.rand(6, dtype=torch.float64, device=DEVICE) * 0.2).requires_grad_()
    call = flatten_call(x, Dynamics(kind=kind, tau=3.7), th, imp, None)
    return (*call.op_args(record_v), save_h)


@pytest.mark.parametrize(
    ("kind", "record_v", "save_h", "theta"),
    [("lif", False, True, "neuron"), ("cuba", True, True, "layer"), ("lif", True, False, "neuron")],
)
def test_triton_ops_pass_opcheck(kind, record_v, save_h, theta):
    """Schema, fake (shape) implementation and autograd registration of the Triton ops; with ``save_h=False`` the
    backward recomputes ``H`` (a caller that said no gradient is needed and then asked for one)."""
    torch.library.opcheck(triton_backend.neuron_forward, _op_args(kind, record_v, save_h, theta))


def test_a_triton_op_call_copies_nothing_from_the_host(monkeypatch):
    """The kernels' constants are a cached device tensor: a call builds no tensor from host data (on CUDA a
    blocking copy, and illegal inside a CUDA-graph capture), after the first call of its configuration."""
    args = _op_args("lif", True, True)
    triton_backend.neuron_forward(*args)  # the first call of this configuration builds the constants
    built = []
    real = torch.tensor
    monkeypatch.setattr(torch, "tensor", lambda *a, **k: built.append(a) or real(*a, **k))
    spikes, v, *_ = triton_backend.neuron_forward(*args)
    (spikes.sum() + v.sum()).backward()
    assert built == []
