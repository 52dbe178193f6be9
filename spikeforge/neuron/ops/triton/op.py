"""The fused GPU backend (``backend="triton"``), built on :mod:`.kernels`.

Memory per neuron-step (``b`` = input element bytes, ``s`` = state bytes: 4, or 8 for
float64): the forward reads ``x`` (b) and writes spikes (b) and, when a gradient is
needed, ``H`` (s, saved for backward); the backward reads ``H`` (s) and ``grad_spikes``
(b) and writes ``grad_x`` (b). A GPU holds too little per thread to keep a block's
``H`` for all ``T`` steps, so unlike the CPU backend it saves ``H`` instead of
recomputing it.

``triton`` is imported on first use only. With ``TRITON_INTERPRET=1`` set before that
first use, the kernels run in Triton's interpreter on CPU tensors (how the tests check
them on machines without a GPU); ``"auto"`` still only picks this backend for CUDA tensors.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
from types import ModuleType

import torch

from ....device import device_guard
from ...reference import Dynamics, state_dtype
from .. import neuron_op
from ..call import fused_multistep
from ..library import define
from ..spec import CUBA, KernelSpec, state_constants, unsupported_reason

__all__ = [
    "DTYPES",
    "interpreting",
    "launch_config",
    "multistep",
    "neuron_backward",
    "neuron_forward",
    "supports",
    "unusable_reason",
    "why_not",
]

DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
#: block sizes (neurons per program) the launcher picks from, largest first
BLOCKS = (1024, 512, 256, 128)
#: programs per SM the launcher aims for: one program walks all T steps of its neurons, so an SM
#: without a program idles for the whole call, and a few programs per SM hide memory latency
PROGRAMS_PER_SM = 4


def launch_config(M: int, sm_count: int) -> tuple[int, int]:
    """``(BLOCK, num_warps)`` for ``M`` neurons on a GPU with ``sm_count`` SMs.

    The largest block that still gives every SM :data:`PROGRAMS_PER_SM` programs (else the
    smallest), with 4 neurons per thread (one 16-byte load of float32 per step) up to 4 warps:
    2**16 neurons on an H100 (132 SMs) get 512 programs of 128 instead of 64 of 1024.
    """
    block = next((b for b in BLOCKS if -(-M // b) >= PROGRAMS_PER_SM * sm_count), BLOCKS[-1])
    return block, max(1, min(4, block // 128))


@functools.cache
def _sm_count(device: torch.device) -> int:
    if device.type != "cuda":  # the interpreter: its speed does not depend on the block size much
        return 1
    return torch.cuda.get_device_properties(device).multi_processor_count


def interpreting() -> bool:
    """Whether Triton runs in interpreter mode (``TRITON_INTERPRET=1``), on CPU tensors."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


@functools.cache
def _kernels() -> ModuleType:
    return importlib.import_module(f"{__package__}.kernels")


def _triton_installed() -> bool:
    return importlib.util.find_spec("triton") is not None


def supports(device: torch.device, dtype: torch.dtype, dyn: Dynamics) -> bool:
    """CUDA tensors of a supported dtype, a supported dynamics, and ``triton`` installed and working there."""
    return (
        device.type == "cuda"
        and dtype in DTYPES
        and unsupported_reason(dyn, "triton") is None
        and _triton_installed()
        and torch.cuda.is_available()
        # probed by eager calls; a compiled graph is not made to trace the probe
        and (torch.compiler.is_compiling() or unusable_reason(device) is None)
    )


#: Triton's oldest supported GPU generation (Volta)
MIN_CAPABILITY = (7, 0)


def unusable_reason(device: torch.device) -> str | None:
    """Why the kernels cannot run on CUDA ``device`` (``None``: they can), found once per device.

    A GPU older than Volta, or a triton that fails to compile or launch (a version that does not
    match torch, a missing CUDA toolchain piece) is found here by running a one-neuron forward,
    so that ``"auto"`` falls back to another backend with one log line instead of failing the run.
    """
    index = device.index if device.index is not None else torch.cuda.current_device()
    return _unusable_reason(index)


@functools.cache
def _unusable_reason(index: int) -> str | None:
    device = torch.device("cuda", index)
    capability = torch.cuda.get_device_capability(device)
    if tuple(capability) < MIN_CAPABILITY:
        return (
            f"triton needs a GPU of compute capability {MIN_CAPABILITY[0]}.{MIN_CAPABILITY[1]} or newer; "
            f"{device} has {capability[0]}.{capability[1]}"
        )
    try:
        x = torch.ones((1, 1), device=device)
        one = torch.ones(1, device=device)
        probe = KernelSpec(1, False, False, 2.0, 0.0, 0.0, 0.0, 0.0, 0, 1.0, 1.0)  # LIF, hard reset, atan
        neuron_forward(x, one, one * 0, None, probe.kind, False, False, 0, probe.consts, 1, 1, False, False)
        torch.cuda.synchronize(device)
    except Exception as exc:  # any failure of the toolchain: the reason is logged, the run goes on without it
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return f"the Triton kernels fail on {device} (triton {_triton_version()}): {type(exc).__name__}: {first}"
    return None


def _triton_version() -> str:
    try:
        return importlib.import_module("triton").__version__
    except Exception:  # a triton whose import fails is reported by the caller's message
        return "?"


def why_not() -> str:
    need = "needs CUDA tensors of dtype float32/float16/bfloat16/float64, a built-in surrogate and `pip install triton`"
    return need if _triton_installed() else f"{need} (triton is not installed)"


def _launch(kernel, M: int, device: torch.device, *args, **constexprs) -> None:
    """Launch ``kernel`` over ``M`` neurons on ``device`` (made current: Triton launches on the current device)."""
    block, num_warps = launch_config(M, _sm_count(device))
    # enable_fp_fusion=False: no mul+add fused into one rounding, as in the reference
    options = {} if interpreting() else {"num_warps": num_warps, "enable_fp_fusion": False}
    with device_guard(device):
        kernel[(-(-M // block),)](*args, BLOCK=block, **constexprs, **options)


def _reduce(g: torch.Tensor, mid: int, inner: int) -> torch.Tensor:
    """Per-neuron gradient ``[M]`` -> ``[mid]`` for a parameter read as ``p[(m // inner) % mid]``."""
    if g is None or mid == g.numel():
        return g
    return g.view(-1, mid, inner).sum(dim=(0, 2))


# ----------------------------------------------------------------------------- custom ops
# As the CPU backend's (ops/cpu/op.py, with what they share in ops/neuron_op.py). The forward also returns
# ``H [T, M]`` (state dtype) when ``save_h``, which the autograd context keeps.


def _consts(values: list[float], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The kernels' constants (``spec.state_constants``: ``1/tau, alpha_i, alpha_v, v_rest, v_reset, c0, c1``, state
    dtype) on ``device``.

    Cached: building it is a host-to-device copy, which would block the host at every call and
    cannot run inside a CUDA-graph capture (``torch.compile(mode="reduce-overhead")``).
    """
    return _cached_consts(tuple(values), dtype, device)


@functools.lru_cache(maxsize=512)
def _cached_consts(values: tuple[float, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # rounded to the state dtype exactly as PyTorch rounds Python scalars in the reference
    return torch.tensor(state_constants(values, dtype), dtype=dtype).to(device)


# Each op implementation's parameters are its schema (neuron_op.FORWARD_SCHEMA + save_h; the backward's below),
# which torch.library passes one by one: the forward, the backward and the CPU backend's ops list them alike.
def _forward(
    x: torch.Tensor,
    theta: torch.Tensor,
    v0: torch.Tensor,
    i0: torch.Tensor | None,
    kind: int,
    soft: bool,
    detach: bool,
    surrogate: int,
    consts: list[float],
    th_inner: int,
    v0_inner: int,
    record_v: bool,
    save_h: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(spikes [T, M], v [M], i [M] | [0], v_seq [T, M] | [0], h [T, M] | [0])``."""
    T, M = x.shape
    # the kernels index densely; a direct caller of the op may pass strided views
    x, theta, v0 = x.contiguous(), theta.contiguous(), v0.contiguous()
    i0 = None if i0 is None else i0.contiguous()
    sdt = state_dtype(x.dtype)
    cuba = kind == CUBA
    empty = torch.empty(0, dtype=sdt, device=x.device)
    spikes = torch.empty((T, M), dtype=x.dtype, device=x.device)
    h = torch.empty((T, M), dtype=sdt, device=x.device) if save_h else empty
    v_seq = torch.empty((T, M), dtype=sdt, device=x.device) if record_v else empty.clone()
    v_out = torch.empty(M, dtype=sdt, device=x.device)
    i_out = torch.empty(M, dtype=sdt, device=x.device) if cuba else empty.clone()
    _launch(
        _kernels().forward_kernel,
        M,
        x.device,
        x,
        spikes,
        h,
        v_seq,
        v_out,
        i_out,
        v0,
        theta,
        i0 if i0 is not None else empty,
        _consts(consts, sdt, x.device),
        T,
        M,
        v0.numel(),
        v0_inner,
        theta.numel(),
        th_inner,
        KIND=kind,
        SOFT=soft,
        SAVE_H=save_h,
        RECORD_V=record_v,
        HAS_I0=i0 is not None,
    )
    return spikes, v_out, i_out, v_seq, h


def _forward_fake(*args):
    *forward_args, save_h = args  # neuron_op.FORWARD_SCHEMA, then save_h
    x = forward_args[0]
    h = x.new_empty(x.shape if save_h else (0,), dtype=state_dtype(x.dtype))
    return (*neuron_op.forward_fake(*forward_args), h)


def _backward_impl(
    h: torch.Tensor,
    theta: torch.Tensor,
    g_spikes: torch.Tensor | None,
    g_v: torch.Tensor | None,
    g_i: torch.Tensor | None,
    g_vseq: torch.Tensor | None,
    x_dtype: torch.dtype,
    v0_mid: int,
    kind: int,
    soft: bool,
    detach: bool,
    surrogate: int,
    consts: list[float],
    th_inner: int,
    v0_inner: int,
    needs: list[bool],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients ``(x [T, M], theta [th_mid], v0 [v0_mid], i0 [M])``; one not in ``needs`` is ``[0]``."""
    T, M = h.shape
    sdt = h.dtype
    need_x, need_th, need_v0, need_i0 = needs
    need_i0 = need_i0 and kind == CUBA
    dev = h.device
    dummy = torch.empty(0, dtype=sdt, device=dev)

    def dense(g: torch.Tensor | None) -> torch.Tensor:
        return dummy if g is None else g.to(sdt).contiguous()

    g_x = torch.empty((T, M), dtype=x_dtype, device=dev) if need_x else torch.empty(0, dtype=x_dtype, device=dev)
    g_th = torch.empty(M, dtype=sdt, device=dev) if need_th else dummy
    g_v0 = torch.empty(M, dtype=sdt, device=dev) if need_v0 else dummy.clone()
    g_i0 = torch.empty(M, dtype=sdt, device=dev) if need_i0 else dummy.clone()
    _launch(
        _kernels().backward_kernel,
        M,
        dev,
        h,
        dummy if g_spikes is None else g_spikes.contiguous(),
        dense(g_vseq),
        dense(g_v),
        dense(g_i),
        g_x,
        theta,
        g_th,
        g_v0,
        g_i0,
        _consts(consts, sdt, dev),
        T,
        M,
        theta.numel(),
        th_inner,
        KIND=kind,
        SOFT=soft,
        DETACH=detach,
        SUR=surrogate,
        HAS_GS=g_spikes is not None,
        HAS_GVSEQ=g_vseq is not None,
        HAS_GV=g_v is not None,
        HAS_GI=g_i is not None,
        NEED_GX=need_x,
        NEED_GTH=need_th,
        NEED_GV0=need_v0,
        NEED_GI0=need_i0,
    )
    return (
        g_x,
        _reduce(g_th, theta.numel(), th_inner) if need_th else g_th,
        _reduce(g_v0, v0_mid, v0_inner) if need_v0 else g_v0,
        g_i0,
    )


def _backward_fake(h, theta, g_spikes, g_v, g_i, g_vseq, x_dtype, v0_mid, kind, *rest):
    T, M = h.shape
    return neuron_op.grads_fake(h, x_dtype, T, M, theta.numel(), v0_mid, kind, rest[-1])  # rest[-1]: needs


def _setup_context(ctx, inputs, output) -> None:
    x, theta, v0, i0 = inputs[:4]
    ctx.saved_h = inputs[-1]  # save_h
    if ctx.saved_h:
        ctx.save_for_backward(output[4], theta)  # H, theta
    else:  # a caller that said no gradient is needed and then asked for one: H is recomputed
        ctx.save_for_backward(x, theta, v0, i0)
    neuron_op.keep_config(ctx, inputs)
    ctx.x_dtype, ctx.v0_mid = x.dtype, v0.numel()


def _saved_h(ctx) -> tuple[torch.Tensor, torch.Tensor]:
    """``(H [T, M], theta)``: as saved by the forward, or recomputed from its inputs when it saved none."""
    if ctx.saved_h:
        return ctx.saved_tensors
    x, theta, v0, i0 = ctx.saved_tensors
    with torch.no_grad():
        h = neuron_forward(x, theta, v0, i0, *ctx.config.values(), False, True)[4]  # record_v, save_h
    return h, theta


def _backward(ctx, g_spikes, g_v, g_i, g_vseq, _g_h):
    g_i, g_vseq, needs = neuron_op.grad_outputs(ctx, g_i, g_vseq)
    grads = neuron_backward(
        *_saved_h(ctx), g_spikes, g_v, g_i, g_vseq, ctx.x_dtype, ctx.v0_mid, needs=needs, **ctx.config
    )
    return neuron_op.grad_inputs(ctx, grads)


neuron_backward = define(
    "triton_neuron_backward",
    "(Tensor h, Tensor theta, Tensor? g_spikes, Tensor? g_v, Tensor? g_i, Tensor? g_vseq, ScalarType x_dtype, "
    f"int v0_mid, {neuron_op.CONFIG_SCHEMA}, bool[] needs) -> {neuron_op.GRADS_OUTPUTS}",
    _backward_impl,
    _backward_fake,
)
neuron_forward = define(
    "triton_neuron_forward",
    f"({neuron_op.FORWARD_SCHEMA}, bool save_h) -> ({neuron_op.FORWARD_OUTPUTS}, Tensor)",
    _forward,
    _forward_fake,
    backward=_backward,
    setup_context=_setup_context,
)


def _accepts(x: torch.Tensor) -> bool:
    on_device = x.device.type == "cuda" or (interpreting() and x.device.type == "cpu")
    return on_device and x.dtype in DTYPES and _triton_installed()


multistep = fused_multistep("triton", neuron_forward, _accepts, why_not, pass_needs_grad=True)
