"""The fused GPU backend (``backend="triton"``), built on :mod:`.triton_kernels`.

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

from .. import reference
from ..reference import Dynamics, NeuronOutput, state_dtype
from .call import CallLayout, flatten_call, unflatten_result
from .spec import KernelSpec, unsupported_reason

__all__ = ["DTYPES", "interpreting", "multistep", "supports", "why_not"]

DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
BLOCK = 1024
NUM_WARPS = 4


def interpreting() -> bool:
    """Whether Triton runs in interpreter mode (``TRITON_INTERPRET=1``), on CPU tensors."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


@functools.cache
def _kernels() -> ModuleType:
    return importlib.import_module(f"{__package__}.triton_kernels")


def _triton_installed() -> bool:
    return importlib.util.find_spec("triton") is not None


def supports(device: torch.device, dtype: torch.dtype, dyn: Dynamics) -> bool:
    """CUDA tensors of a supported dtype, a supported dynamics, and ``triton`` installed."""
    return (
        device.type == "cuda"
        and dtype in DTYPES
        and unsupported_reason(dyn) is None
        and _triton_installed()
        and torch.cuda.is_available()
    )


def why_not() -> str:
    need = "needs CUDA tensors of dtype float32/float16/bfloat16/float64, a built-in surrogate and `pip install triton`"
    return need if _triton_installed() else f"{need} (triton is not installed)"


def _consts(spec: KernelSpec, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # Rounded to the state dtype exactly as PyTorch rounds Python scalars in the reference.
    values = [spec.tau, spec.alpha_i, spec.alpha_v, spec.v_rest, spec.v_reset, spec.c0, spec.c1, 0.0]
    consts = torch.tensor(values, dtype=dtype, device=device)
    consts[7] = 1 / consts[0]
    return consts


def _launch(kernel, M: int, *args, **constexprs) -> None:
    # enable_fp_fusion=False: no mul+add fused into one rounding, as in the reference
    options = {} if interpreting() else {"num_warps": NUM_WARPS, "enable_fp_fusion": False}
    kernel[(-(-M // BLOCK),)](*args, BLOCK=BLOCK, **constexprs, **options)


def _reduce(g: torch.Tensor | None, mid: int, inner: int) -> torch.Tensor | None:
    """Per-neuron gradient ``[M]`` -> ``[mid]`` for a parameter read as ``p[(m // inner) % mid]``."""
    if g is None or mid == g.numel():
        return g
    return g.view(-1, mid, inner).sum(dim=(0, 2))


class _TritonNeuron(torch.autograd.Function):
    """Same contract as the CPU backend's Function (see :mod:`.call`)."""

    @staticmethod
    def forward(ctx, x, theta, v0, i0, lay: CallLayout):  # type: ignore[override]
        T, M = x.shape
        sdt = state_dtype(x.dtype)
        cuba = lay.spec.kind == 3
        save_h = any(ctx.needs_input_grad[:4])
        empty_tm = torch.empty(0, dtype=sdt, device=x.device)
        spikes = torch.empty((T, M), dtype=x.dtype, device=x.device)
        h = torch.empty((T, M), dtype=sdt, device=x.device) if save_h else empty_tm
        v_seq = torch.empty((T, M), dtype=sdt, device=x.device) if lay.record_v else empty_tm
        v_out = torch.empty(M, dtype=sdt, device=x.device)
        i_out = torch.empty(M, dtype=sdt, device=x.device) if cuba else empty_tm
        consts = _consts(lay.spec, sdt, x.device)
        _launch(
            _kernels().forward_kernel,
            M,
            x,
            spikes,
            h,
            v_seq,
            v_out,
            i_out,
            v0,
            theta,
            i0 if i0 is not None else empty_tm,
            consts,
            T,
            M,
            lay.v0_mid,
            lay.v0_inner,
            lay.th_mid,
            lay.th_inner,
            KIND=lay.spec.kind,
            SOFT=lay.spec.soft,
            SAVE_H=save_h,
            RECORD_V=lay.record_v,
            HAS_I0=i0 is not None,
        )
        ctx.save_for_backward(h, theta, consts)
        ctx.lay, ctx.x_dtype = lay, x.dtype
        ctx.set_materialize_grads(False)
        return (spikes, v_out) + ((i_out,) if cuba else ()) + ((v_seq,) if lay.record_v else ())

    @staticmethod
    def backward(ctx, *grads):  # type: ignore[override]
        h, theta, consts = ctx.saved_tensors
        lay: CallLayout = ctx.lay
        T, M = h.shape
        sdt = h.dtype
        cuba = lay.spec.kind == 3
        g_spikes, g_v = grads[0], grads[1]
        g_i = grads[2] if cuba else None
        g_vseq = grads[-1] if lay.record_v else None
        need_x, need_th, need_v0, need_i0 = ctx.needs_input_grad[:4]
        need_i0 = need_i0 and cuba
        dev = h.device
        dummy = torch.empty(0, dtype=sdt, device=dev)

        def dense(g: torch.Tensor | None) -> torch.Tensor:
            return dummy if g is None else g.contiguous()

        g_x = torch.empty((T, M), dtype=ctx.x_dtype, device=dev) if need_x else dummy
        g_th = torch.empty(M, dtype=sdt, device=dev) if need_th else dummy
        g_v0 = torch.empty(M, dtype=sdt, device=dev) if need_v0 else dummy
        g_i0 = torch.empty(M, dtype=sdt, device=dev) if need_i0 else dummy
        _launch(
            _kernels().backward_kernel,
            M,
            h,
            dense(g_spikes),
            dense(None if g_vseq is None else g_vseq.to(sdt)),
            dense(None if g_v is None else g_v.to(sdt)),
            dense(None if g_i is None else g_i.to(sdt)),
            g_x,
            theta,
            g_th,
            g_v0,
            g_i0,
            consts,
            T,
            M,
            lay.th_mid,
            lay.th_inner,
            KIND=lay.spec.kind,
            SOFT=lay.spec.soft,
            DETACH=lay.spec.detach,
            SUR=lay.spec.surrogate,
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
            g_x if need_x else None,
            _reduce(g_th, lay.th_mid, lay.th_inner) if need_th else None,
            _reduce(g_v0, lay.v0_mid, lay.v0_inner) if need_v0 else None,
            g_i0 if need_i0 else None,
            None,
        )


def multistep(
    x: torch.Tensor,
    dyn: Dynamics,
    v_threshold: float | torch.Tensor,
    v_init: float | torch.Tensor,
    i_init: float | torch.Tensor | None = None,
    record_v: bool = False,
) -> NeuronOutput:
    """:func:`spikeforge.neuron.reference.multistep` computed by the Triton kernels (same arguments and result)."""
    on_device = x.device.type == "cuda" or (interpreting() and x.device.type == "cpu")
    if not on_device or x.dtype not in DTYPES or not _triton_installed():
        raise ValueError(f"the 'triton' neuron backend {why_not()}; got device={x.device.type}, dtype={x.dtype}")
    call = flatten_call(x, dyn, v_threshold, v_init, i_init)
    if call is None:
        return reference.multistep(x, dyn, v_threshold, v_init, i_init, record_v)
    lay = call.layout(record_v)
    outs = _TritonNeuron.apply(call.x, call.theta.values, call.v0.values, call.i0, lay)
    return unflatten_result(outs, x, dyn, record_v)
