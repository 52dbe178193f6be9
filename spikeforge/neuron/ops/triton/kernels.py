"""Triton kernels of the multi-step neurons (imported only when ``triton`` is installed).

One program handles ``BLOCK`` neurons and loops over the ``T`` steps, so the state stays
in registers; state is float32 for float32/bfloat16/float16 inputs and float64 for
float64. The forward optionally saves ``H[t]`` (state dtype) for the backward, which
runs the steps in reverse. Gradients of broadcast parameters are written per neuron and
reduced by the caller.

Exactness: the forward has no division; LIF multiplies by ``1 / tau`` rounded once to the
state dtype, as the reference does (``reference.leak_factor``), and the launcher disables
mul+add fusion (``enable_fp_fusion=False``), so the forward matches the reference bit for
bit on every device. The backward's ``exp`` is the GPU's fast exponential, within a few ulp.

Offsets: neuron indices are int64 and each step's offset grows by ``M`` from them (an
int64 sum), so ``T * M >= 2**31`` elements are addressed correctly (``tests/test_triton_aot.py``
checks the compiled IR).

Only builtins of ``triton.language`` are used (no ``@jit`` helpers of its standard
library such as ``zeros``), so the interpreter works even when ``triton`` was
imported before ``TRITON_INTERPRET`` was set.

Constants (``1/tau, alpha_i, alpha_v, v_rest, v_reset, c0, c1``) come in a small
state-dtype device tensor, cached by the launcher (no host-to-device copy per call), so
float64 states get float64 constants (Triton would pass Python floats as float32).
"""

from __future__ import annotations

import triton
import triton.language as tl

__all__ = ["backward_kernel", "forward_kernel"]


@triton.jit
def _neurons(M, BLOCK: tl.constexpr):
    """This program's flat neuron indices ``[BLOCK]`` (int64) and the mask of those below ``M``."""
    m = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    return m, m < M


@triton.jit
def _param(p_ptr, m, mask, mid, inner):
    """A parameter's value for each neuron ``m``: ``p[(m // inner) % mid]`` (the layout of ``ops.params``)."""
    return tl.load(p_ptr + (m // inner) % mid, mask=mask, other=0.0)


@triton.jit
def _constants(consts_ptr):
    """``(1 / tau, alpha_i, alpha_v, v_rest, v_reset, c0, c1)``; a kernel's unused ones compile away."""
    return (
        tl.load(consts_ptr + 0),
        tl.load(consts_ptr + 1),
        tl.load(consts_ptr + 2),
        tl.load(consts_ptr + 3),
        tl.load(consts_ptr + 4),
        tl.load(consts_ptr + 5),
        tl.load(consts_ptr + 6),
    )


@triton.jit
def _charge(v, x, cur, inv_tau, ai, av, vr, KIND: tl.constexpr):
    """One charge step, as ``reference.multistep``; returns ``(H, I)`` (``I`` unchanged except for CUBA)."""
    if KIND == 0:
        h = v + x
    elif KIND == 1:
        h = v + (x - (v - vr)) * inv_tau
    elif KIND == 2:
        h = v - (v - vr) * inv_tau + x
    else:
        cur = ai * cur + x
        h = vr + av * (v - vr) + cur
    return h, cur


@triton.jit
def _surrogate(u, c0, c1, SUR: tl.constexpr):
    """``dS/du`` with the constants of ``spec.surrogate_constants``."""
    au = tl.abs(u)
    if SUR == 0:
        ku = c0 * u
        g = c1 / (1.0 + ku * ku)
    elif SUR == 1:
        sg = 1.0 / (1.0 + tl.exp(-(c0 * u)))
        g = c0 * sg * (1.0 - sg)
    elif SUR == 2:
        g = tl.maximum(c0 - au, 0.0) / c1
    elif SUR == 3:
        g = tl.where(au < c0, 1.0, 0.0) / c1
    else:
        g = c0 * tl.exp(-au / c1)
    return g


@triton.jit
def forward_kernel(
    x_ptr,  # [T, M] input dtype
    spikes_ptr,  # [T, M] input dtype
    h_ptr,  # [T, M] state dtype (SAVE_H)
    vseq_ptr,  # [T, M] state dtype (RECORD_V)
    v_out_ptr,  # [M] state dtype
    i_out_ptr,  # [M] state dtype (CUBA)
    v0_ptr,  # [v0_mid] state dtype
    th_ptr,  # [th_mid] state dtype
    i0_ptr,  # [M] state dtype (HAS_I0)
    consts_ptr,  # [7] state dtype
    T,
    M,
    v0_mid,
    v0_inner,
    th_mid,
    th_inner,
    KIND: tl.constexpr,
    SOFT: tl.constexpr,
    SAVE_H: tl.constexpr,
    RECORD_V: tl.constexpr,
    HAS_I0: tl.constexpr,
    BLOCK: tl.constexpr,
):
    m, mask = _neurons(M, BLOCK)
    inv_tau, ai, av, vr, vreset, _c0, _c1 = _constants(consts_ptr)
    v = _param(v0_ptr, m, mask, v0_mid, v0_inner)
    th = _param(th_ptr, m, mask, th_mid, th_inner)
    if HAS_I0:
        cur = tl.load(i0_ptr + m, mask=mask, other=0.0)
    else:
        cur = tl.full([BLOCK], 0.0, dtype=v.dtype)
    off = m  # int64 offset of step t: m + t * M, grown by M (int64 + int32) so it never wraps at 2**31
    for _t in range(T):
        x = tl.load(x_ptr + off, mask=mask, other=0.0).to(v.dtype)
        h, cur = _charge(v, x, cur, inv_tau, ai, av, vr, KIND)
        s = tl.where(h - th >= 0.0, 1.0, 0.0).to(v.dtype)
        if SOFT:
            v = h - th * s
        else:
            v = h * (1.0 - s) + vreset * s
        tl.store(spikes_ptr + off, s.to(spikes_ptr.dtype.element_ty), mask=mask)
        if SAVE_H:
            tl.store(h_ptr + off, h, mask=mask)
        if RECORD_V:
            tl.store(vseq_ptr + off, v, mask=mask)
        off += M
    tl.store(v_out_ptr + m, v, mask=mask)
    if KIND == 3:
        tl.store(i_out_ptr + m, cur, mask=mask)


# Its parameter list is shaped like forward_kernel's (pointers, sizes, constexpr flags) but cannot be shared:
# a Triton kernel takes no struct, and every constexpr flag specialises the kernel that it is a parameter of.
@triton.jit
def backward_kernel(
    h_ptr,  # [T, M] state dtype, saved by the forward
    gs_ptr,  # [T, M] input dtype (HAS_GS)
    gvseq_ptr,  # [T, M] state dtype (HAS_GVSEQ)
    gv_ptr,  # [M] state dtype (HAS_GV)
    gi_ptr,  # [M] state dtype (HAS_GI)
    gx_ptr,  # [T, M] input dtype (NEED_GX)
    th_ptr,  # [th_mid] state dtype
    gth_ptr,  # [M] state dtype, per neuron (NEED_GTH)
    gv0_ptr,  # [M] state dtype, per neuron (NEED_GV0)
    gi0_ptr,  # [M] state dtype (NEED_GI0)
    consts_ptr,  # [7] state dtype
    T,
    M,
    th_mid,
    th_inner,
    KIND: tl.constexpr,
    SOFT: tl.constexpr,
    DETACH: tl.constexpr,
    SUR: tl.constexpr,
    HAS_GS: tl.constexpr,
    HAS_GVSEQ: tl.constexpr,
    HAS_GV: tl.constexpr,
    HAS_GI: tl.constexpr,
    NEED_GX: tl.constexpr,
    NEED_GTH: tl.constexpr,
    NEED_GV0: tl.constexpr,
    NEED_GI0: tl.constexpr,
    BLOCK: tl.constexpr,
):
    m, mask = _neurons(M, BLOCK)
    inv_tau, ai, av, _vr, vreset, c0, c1 = _constants(consts_ptr)
    th = _param(th_ptr, m, mask, th_mid, th_inner)
    zero = tl.full([BLOCK], 0.0, dtype=th.dtype)
    gv = tl.load(gv_ptr + m, mask=mask, other=0.0) if HAS_GV else zero
    gi = tl.load(gi_ptr + m, mask=mask, other=0.0) if HAS_GI else zero
    gth = zero
    off = m + tl.cast(M, tl.int64) * T  # int64 (a product of int32 sizes would wrap at 2**31)
    for _k in range(T):
        off -= M  # step T - 1 - k
        h = tl.load(h_ptr + off, mask=mask, other=0.0)
        u = h - th
        s = tl.where(u >= 0.0, 1.0, 0.0).to(th.dtype)
        if HAS_GVSEQ:
            gv = gv + tl.load(gvseq_ptr + off, mask=mask, other=0.0)
        # dL/dS = output grad + (unless detached) dL/dV[t] * dV/dS
        if SOFT:
            dvds = -(gv * th)
            gvh = gv
        else:
            dvds = gv * vreset - gv * h
            gvh = gv * (1.0 - s)
        if HAS_GS:
            gs = tl.load(gs_ptr + off, mask=mask, other=0.0).to(th.dtype)
        else:
            gs = zero
        if not DETACH:
            gs = gs + dvds
        gu = gs * _surrogate(u, c0, c1, SUR).to(th.dtype)
        gh = gvh + gu
        gth = gth - gu
        if SOFT:
            gth = gth - gv * s
        if KIND == 0:
            gx = gh
            gv = gh
        elif KIND == 1:
            gx = gh * inv_tau
            gv = gh - gx
        elif KIND == 2:
            gx = gh
            gv = gh - gh * inv_tau
        else:
            gcur = gh + gi
            gx = gcur
            gi = ai * gcur
            gv = av * gh
        if NEED_GX:
            tl.store(gx_ptr + off, gx.to(gx_ptr.dtype.element_ty), mask=mask)
    if NEED_GTH:
        tl.store(gth_ptr + m, gth, mask=mask)
    if NEED_GV0:
        tl.store(gv0_ptr + m, gv, mask=mask)
    if NEED_GI0:
        tl.store(gi0_ptr + m, gi, mask=mask)
