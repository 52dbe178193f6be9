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

Outputs of at least 4 MiB come from :mod:`.cpu_pool`, so a training loop does not pay
page faults for fresh memory at every step. Small problems run on one thread.
"""

from __future__ import annotations

import ctypes

import torch

from .. import reference
from ..reference import Dynamics, NeuronOutput, state_dtype
from . import cpu_build, cpu_pool
from .call import CallLayout, flatten_call, unflatten_result
from .spec import KernelSpec, unsupported_reason

__all__ = ["DTYPES", "multistep", "supports", "why_not"]

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
    if device.type != "cpu" or dtype not in DTYPES or unsupported_reason(dyn) is not None:
        return False
    return cpu_build.status().ok


def why_not() -> str:
    """Requirements, and the build outcome when the build was tried and failed."""
    need = "needs CPU tensors of dtype float32/float64/bfloat16 and a built-in surrogate"
    st = cpu_build.status()
    return need if st.ok else f"{need}; the kernel library is unavailable: {st.message}"


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _threads(T: int, M: int) -> int:
    return max(1, min(torch.get_num_threads(), T * M // WORK_PER_THREAD))


def _args(spec: KernelSpec, T: int, M: int, dtype: torch.dtype, nthreads: int) -> cpu_build.Args:
    return cpu_build.Args(
        T=T,
        M=M,
        dtype=DTYPES[dtype],
        kind=spec.kind,
        soft=int(spec.soft),
        detach=int(spec.detach),
        surrogate=spec.surrogate,
        nthreads=nthreads,
        stream=int(T * M * dtype.itemsize >= STREAM_BYTES),
        block=0,
        tau=spec.tau,
        alpha_i=spec.alpha_i,
        alpha_v=spec.alpha_v,
        v_rest=spec.v_rest,
        v_reset=spec.v_reset,
        sur_c0=spec.c0,
        sur_c1=spec.c1,
    )


def _run(fn, args: cpu_build.Args) -> None:
    if fn(ctypes.byref(args)) != 0:
        raise RuntimeError("SpikeForge CPU kernel rejected its arguments (unsupported dtype or neuron kind)")


class _CpuNeuron(torch.autograd.Function):
    """``x [T, M]``, ``theta [th_mid]``, ``v0 [v0_mid]``, ``i0 [M] | None`` -> ``spikes [T, M]``, ``v [M]``,
    then ``i [M]`` (CUBA) and ``v_seq [T, M]`` (record_v) when present."""

    @staticmethod
    def forward(ctx, x, theta, v0, i0, lay: CallLayout):  # type: ignore[override]
        T, M = x.shape
        sdt = state_dtype(x.dtype)
        cuba = lay.spec.kind == 3
        spikes = cpu_pool.empty((T, M), x.dtype)
        v_seq = cpu_pool.empty((T, M), sdt) if lay.record_v else None
        v_out = torch.empty(M, dtype=sdt)
        i_out = torch.empty(M, dtype=sdt) if cuba else None
        a = _args(lay.spec, T, M, x.dtype, _threads(T, M))
        a.x, a.spikes, a.v_seq, a.v_out, a.i_out = (
            x.data_ptr(),
            spikes.data_ptr(),
            _ptr(v_seq),
            _ptr(v_out),
            _ptr(i_out),
        )
        a.v0, a.v0_mid, a.v0_inner = v0.data_ptr(), lay.v0_mid, lay.v0_inner
        a.theta, a.th_mid, a.th_inner = theta.data_ptr(), lay.th_mid, lay.th_inner
        a.i0 = _ptr(i0)
        _run(cpu_build.library().sf_forward, a)
        ctx.save_for_backward(x, theta, v0, i0)
        ctx.lay = lay
        ctx.set_materialize_grads(False)
        return (spikes, v_out) + ((i_out,) if cuba else ()) + ((v_seq,) if lay.record_v else ())

    @staticmethod
    def backward(ctx, *grads):  # type: ignore[override]
        x, theta, v0, i0 = ctx.saved_tensors
        lay: CallLayout = ctx.lay
        T, M = x.shape
        sdt = state_dtype(x.dtype)
        cuba = lay.spec.kind == 3
        g_spikes, g_v = grads[0], grads[1]
        g_i = grads[2] if cuba else None
        g_vseq = grads[-1] if lay.record_v else None
        need_x, need_th, need_v0, need_i0 = ctx.needs_input_grad[:4]
        nthreads = _threads(T, M)

        def contiguous(g: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
            return None if g is None else g.to(dtype).contiguous()

        g_x = cpu_pool.empty((T, M), x.dtype) if need_x else None
        g_th = torch.empty(lay.th_mid, dtype=sdt) if need_th else None
        g_v0 = torch.empty(lay.v0_mid, dtype=sdt) if need_v0 else None
        g_i0 = torch.empty(M, dtype=sdt) if (need_i0 and cuba) else None
        # one row per thread for each parameter whose values are shared by several neurons
        shared = sum(mid for need, mid in ((need_th, lay.th_mid), (need_v0, lay.v0_mid)) if need and mid != M)
        g_acc = torch.empty(nthreads * shared, dtype=sdt) if shared else None
        keep = (contiguous(g_spikes, x.dtype), contiguous(g_vseq, sdt), contiguous(g_v, sdt), contiguous(g_i, sdt))
        a = _args(lay.spec, T, M, x.dtype, nthreads)
        a.x, a.i0 = x.data_ptr(), _ptr(i0)
        a.v0, a.v0_mid, a.v0_inner = v0.data_ptr(), lay.v0_mid, lay.v0_inner
        a.theta, a.th_mid, a.th_inner = theta.data_ptr(), lay.th_mid, lay.th_inner
        a.g_spikes, a.g_vseq, a.g_v, a.g_i = (_ptr(g) for g in keep)
        a.g_x, a.g_i0, a.g_v0, a.g_theta, a.g_acc = _ptr(g_x), _ptr(g_i0), _ptr(g_v0), _ptr(g_th), _ptr(g_acc)
        _run(cpu_build.library().sf_backward, a)
        return g_x, g_th, g_v0, g_i0, None


def multistep(
    x: torch.Tensor,
    dyn: Dynamics,
    v_threshold: float | torch.Tensor,
    v_init: float | torch.Tensor,
    i_init: float | torch.Tensor | None = None,
    record_v: bool = False,
) -> NeuronOutput:
    """:func:`spikeforge.neuron.reference.multistep` computed by the fused CPU kernels (same arguments and result)."""
    if x.device.type != "cpu" or x.dtype not in DTYPES:
        raise ValueError(f"the 'cpu' neuron backend {why_not()}; got device={x.device.type}, dtype={x.dtype}")
    call = flatten_call(x, dyn, v_threshold, v_init, i_init)
    if call is None:  # nothing to compute; the reference defines the (degenerate) result
        return reference.multistep(x, dyn, v_threshold, v_init, i_init, record_v)
    lay = call.layout(record_v)
    outs = _CpuNeuron.apply(call.x, call.theta.values, call.v0.values, call.i0, lay)
    return unflatten_result(outs, x, dyn, record_v)
