"""The fused CPU backend (``backend="cpu"``).

One kernel call runs all ``T`` steps forward; one runs the whole backward. Memory per
neuron-step (``b`` = bytes per input element: 8 float64, 4 float32, 2 bfloat16):

* forward: reads ``x`` (b), writes spikes (b); nothing else is allocated or saved.
* saved for backward: nothing new. The backward recomputes ``H[t]`` from ``x`` block by
  block (the block's ``H`` stays in L2), so the only thing kept is a reference to ``x``
  (b per neuron-step, usually kept alive by the layer before anyway) and the per-neuron
  parameters. The float32 reference saves 12 bytes and allocates ~160 bytes per
  neuron-step over forward and backward (``benchmarks/bench_memory.py``).
* backward: reads ``x`` (b) and ``grad_spikes`` (b), writes ``grad_x`` (b).

Both passes are ``torch.library`` custom ops (``spikeforge::cpu_neuron_forward`` /
``_backward``, with fake implementations and registered autograd), so ``torch.compile``
and ``torch.export`` see one op per neuron layer. Outputs of at least 4 MiB come from
:mod:`.pool`, so a training loop does not pay page faults for fresh memory at every step.
Small problems run on one thread.
"""

from __future__ import annotations

import ctypes

import torch

from ...reference import Dynamics, state_dtype
from .. import neuron_op
from ..call import fused_multistep
from ..library import define
from ..spec import CUBA, KernelSpec, unsupported_reason
from . import build, pool

__all__ = ["DTYPES", "multistep", "neuron_backward", "neuron_forward", "supports", "why_not"]

DTYPES = {torch.float32: 0, torch.float64: 1, torch.bfloat16: 2}
# Neuron-steps per thread (~50 us of work) below which another thread costs more than it
# saves: waking it costs microseconds, and on a busy machine a thread that is not
# scheduled at once stalls the whole call for a time slice.
WORK_PER_THREAD = 1 << 18
# [T, M] outputs at least this large bypass the caches (non-temporal stores): they would
# not stay cached for their reader anyway, and skipping read-for-ownership saves traffic.
STREAM_BYTES = 16 << 20


def supports(device: torch.device, dtype: torch.dtype, dyn: Dynamics) -> bool:
    """CPU tensors of a supported dtype, a supported dynamics, and a kernel library that built."""
    if device.type != "cpu" or dtype not in DTYPES or unsupported_reason(dyn, "cpu") is not None:
        return False
    return build.status().ok


def why_not() -> str:
    """Requirements, and the build outcome when the build was tried and failed."""
    need = "needs CPU tensors of dtype float32/float64/bfloat16 and a built-in surrogate"
    st = build.status()
    return need if st.ok else f"{need}; the kernel library is unavailable: {st.message}"


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _threads(T: int, M: int) -> int:
    return max(1, min(torch.get_num_threads(), T * M // WORK_PER_THREAD))


def _args(
    x: torch.Tensor,
    theta: torch.Tensor,
    v0: torch.Tensor,
    i0: torch.Tensor | None,
    spec: KernelSpec,
    th_inner: int,
    v0_inner: int,
    nthreads: int,
) -> build.Args:
    """The kernel arguments both passes take: the configuration, the sizes and the forward's inputs."""
    T, M = x.shape
    return build.Args(
        T=T,
        M=M,
        dtype=DTYPES[x.dtype],
        kind=spec.kind,
        soft=int(spec.soft),
        detach=int(spec.detach),
        surrogate=spec.surrogate,
        nthreads=nthreads,
        stream=int(T * M * x.dtype.itemsize >= STREAM_BYTES),
        block=0,
        tau=spec.tau,
        alpha_i=spec.alpha_i,
        alpha_v=spec.alpha_v,
        v_rest=spec.v_rest,
        v_reset=spec.v_reset,
        sur_c0=spec.c0,
        sur_c1=spec.c1,
        x=x.data_ptr(),
        theta=theta.data_ptr(),
        th_mid=theta.numel(),
        th_inner=th_inner,
        v0=v0.data_ptr(),
        v0_mid=v0.numel(),
        v0_inner=v0_inner,
        i0=_ptr(i0),
    )


def _run(fn, args: build.Args) -> None:
    if fn(ctypes.byref(args)) != 0:
        raise RuntimeError("SpikeForge CPU kernel rejected its arguments (unsupported dtype or neuron kind)")


# ----------------------------------------------------------------------------- custom ops
# The arguments, fakes and autograd glue every backend shares are in ops/neuron_op.py.

_spec = KernelSpec.from_op_args


# Each op implementation's parameters are its schema (neuron_op.FORWARD_SCHEMA; the backward's below), which
# torch.library passes one by one: the forward, the backward and the Triton backend's ops list them alike.
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
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``x [T, M]``, ``theta [th_mid]``, ``v0 [v0_mid]``, ``i0 [M] | None`` -> ``spikes [T, M]``, ``v [M]``,
    ``i [M]`` (CUBA, else ``[0]``), ``v_seq [T, M]`` (``record_v``, else ``[0]``)."""
    T, M = x.shape
    sdt = state_dtype(x.dtype)
    cuba = kind == CUBA
    spikes = pool.empty((T, M), x.dtype)
    v_seq = pool.empty((T, M), sdt) if record_v else torch.empty(0, dtype=sdt)
    v_out = torch.empty(M, dtype=sdt)
    i_out = torch.empty(M if cuba else 0, dtype=sdt)
    a = _args(x, theta, v0, i0, _spec(kind, soft, detach, surrogate, consts), th_inner, v0_inner, _threads(T, M))
    a.spikes, a.v_out = spikes.data_ptr(), v_out.data_ptr()
    a.v_seq = v_seq.data_ptr() if record_v else None
    a.i_out = i_out.data_ptr() if cuba else None
    _run(build.library().sf_forward, a)
    return spikes, v_out, i_out, v_seq


# The backward op takes the forward's inputs again (it recomputes H from x) plus the output gradients.
def _backward_impl(
    x: torch.Tensor,
    theta: torch.Tensor,
    v0: torch.Tensor,
    i0: torch.Tensor | None,
    g_spikes: torch.Tensor | None,
    g_v: torch.Tensor | None,
    g_i: torch.Tensor | None,
    g_vseq: torch.Tensor | None,
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
    T, M = x.shape
    sdt = state_dtype(x.dtype)
    th_mid, v0_mid = theta.numel(), v0.numel()
    need_x, need_th, need_v0, need_i0 = needs
    need_i0 = need_i0 and kind == CUBA
    nthreads = _threads(T, M)

    def contiguous(g: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
        return None if g is None else g.to(dtype).contiguous()

    g_x = pool.empty((T, M), x.dtype) if need_x else torch.empty(0, dtype=x.dtype)
    g_th = torch.empty(th_mid if need_th else 0, dtype=sdt)
    g_v0 = torch.empty(v0_mid if need_v0 else 0, dtype=sdt)
    g_i0 = torch.empty(M if need_i0 else 0, dtype=sdt)
    # one row per thread for each parameter whose values are shared by several neurons
    shared = sum(mid for need, mid in ((need_th, th_mid), (need_v0, v0_mid)) if need and mid != M)
    g_acc = torch.empty(nthreads * shared, dtype=sdt) if shared else None
    keep = (contiguous(g_spikes, x.dtype), contiguous(g_vseq, sdt), contiguous(g_v, sdt), contiguous(g_i, sdt))
    a = _args(x, theta, v0, i0, _spec(kind, soft, detach, surrogate, consts), th_inner, v0_inner, nthreads)
    a.g_spikes, a.g_vseq, a.g_v, a.g_i = (_ptr(g) for g in keep)
    a.g_x = g_x.data_ptr() if need_x else None
    a.g_i0 = g_i0.data_ptr() if need_i0 else None
    a.g_v0 = g_v0.data_ptr() if need_v0 else None
    a.g_theta = g_th.data_ptr() if need_th else None
    a.g_acc = _ptr(g_acc)
    _run(build.library().sf_backward, a)
    return g_x, g_th, g_v0, g_i0


def _backward_fake(x, theta, v0, i0, g_spikes, g_v, g_i, g_vseq, kind, *rest):
    T, M = x.shape
    return neuron_op.grads_fake(x, x.dtype, T, M, theta.numel(), v0.numel(), kind, rest[-1])  # rest[-1]: needs


def _setup_context(ctx, inputs, output) -> None:
    # The backward recomputes H from x: nothing per step is saved but (a reference to) the input.
    ctx.save_for_backward(*inputs[:4])  # x, theta, v0, i0
    neuron_op.keep_config(ctx, inputs)


def _backward(ctx, g_spikes, g_v, g_i, g_vseq):
    g_i, g_vseq, needs = neuron_op.grad_outputs(ctx, g_i, g_vseq)
    grads = neuron_backward(*ctx.saved_tensors, g_spikes, g_v, g_i, g_vseq, needs=needs, **ctx.config)
    return neuron_op.grad_inputs(ctx, grads)


neuron_backward = define(
    "cpu_neuron_backward",
    "(Tensor x, Tensor theta, Tensor v0, Tensor? i0, Tensor? g_spikes, Tensor? g_v, Tensor? g_i, Tensor? g_vseq, "
    f"{neuron_op.CONFIG_SCHEMA}, bool[] needs) -> {neuron_op.GRADS_OUTPUTS}",
    _backward_impl,
    _backward_fake,
    "CPU",
)
neuron_forward = define(
    "cpu_neuron_forward",
    f"({neuron_op.FORWARD_SCHEMA}) -> ({neuron_op.FORWARD_OUTPUTS})",
    _forward,
    neuron_op.forward_fake,
    "CPU",
    backward=_backward,
    setup_context=_setup_context,
)

multistep = fused_multistep("cpu", neuron_forward, lambda x: x.device.type == "cpu" and x.dtype in DTYPES, why_not)
