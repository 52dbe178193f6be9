"""Multi-step neuron dynamics in plain PyTorch: the specification.

Every fused backend is tested against these functions (spikes, final state,
membrane trace and the gradients of the input, the initial membrane potential
and the threshold). They loop over ``T`` in Python and let autograd do the rest.

One step of every neuron is *charge, fire, reset*:

=========  ==============================================================
IF         ``H[t] = V[t-1] + X[t]``
LIF        ``H[t] = V[t-1] + (X[t] - (V[t-1] - V_r)) * k``  (``decay_input``)
           ``H[t] = V[t-1] - (V[t-1] - V_r) * k + X[t]``    (otherwise)
CUBA LIF   ``I[t] = a_I * I[t-1] + X[t]``;  ``H[t] = V_r + a_V * (V[t-1] - V_r) + I[t]``
fire       ``S[t] = Heaviside(H[t] - theta)``, 1 at equality, surrogate gradient
hard reset ``V[t] = H[t] * (1 - S[t]) + V_reset * S[t]``
soft reset ``V[t] = H[t] - theta * S[t]``
=========  ==============================================================

``V_r`` is ``v_reset`` for a hard reset and 0 for a soft reset. ``k = 1 / tau`` is the
leak factor, rounded once to the state dtype (:func:`leak_factor`): the reference multiplies
by it rather than dividing by ``tau`` because a division by a Python float rounds
differently per device (PyTorch divides on CPU but multiplies by the reciprocal on CUDA),
and the fused kernels must match the reference bit for bit on every device. ``V[-1]`` is the
initial membrane potential (IMP) and ``I[-1] = 0``. With ``detach_reset`` the spike
inside the reset term is detached (the fire path keeps its gradient).
"""

from __future__ import annotations

import dataclasses
from typing import Literal, NamedTuple, cast

import torch

from .surrogate import ATan, Surrogate

__all__ = ["Dynamics", "NeuronOutput", "leak_factor", "multistep", "state_dtype"]

NeuronKind = Literal["if", "lif", "cuba"]


@dataclasses.dataclass(frozen=True)
class Dynamics:
    """The fixed (non-learnable) description of a neuron's dynamics.

    Attributes:
        kind: ``"if"``, ``"lif"`` or ``"cuba"``.
        tau: LIF membrane time constant (``> 1`` keeps the decay stable).
        decay_input: LIF only; whether the input is divided by ``tau`` too.
        alpha_i: CUBA retained fraction of the synaptic current per step.
        alpha_v: CUBA retained fraction of the membrane potential per step.
        v_reset: reset potential (hard reset) or ``None`` (soft reset).
        detach_reset: detach the spike inside the reset term.
        surrogate: surrogate spike function.
    """

    kind: NeuronKind = "lif"
    tau: float = 2.0
    decay_input: bool = True
    alpha_i: float = 0.75
    alpha_v: float = 0.97
    v_reset: float | None = 0.0
    detach_reset: bool = False
    surrogate: Surrogate = dataclasses.field(default_factory=ATan)

    @property
    def soft_reset(self) -> bool:
        return self.v_reset is None

    @property
    def v_rest(self) -> float:
        """The potential the leak pulls towards: ``v_reset`` (hard) or 0 (soft)."""
        return 0.0 if self.v_reset is None else self.v_reset


class NeuronOutput(NamedTuple):
    """Result of a multi-step call.

    Attributes:
        spikes: ``[T, B, ...]`` in the input dtype.
        v: final membrane potential ``V[T-1]``, ``[B, ...]``.
        i: final synaptic current ``I[T-1]`` (CUBA only, else ``None``).
        v_seq: membrane potential after reset at every step ``[T, B, ...]`` when
            requested, else ``None``.
    """

    spikes: torch.Tensor
    v: torch.Tensor
    i: torch.Tensor | None
    v_seq: torch.Tensor | None


def state_dtype(dtype: torch.dtype) -> torch.dtype:
    """State is kept in float32 for half/bfloat16 inputs, else in the input dtype."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def leak_factor(tau: float, dtype: torch.dtype) -> float:
    """``1 / tau`` as the fused kernels compute it: ``tau`` rounded to ``dtype``, then divided in ``dtype``.

    The result is exactly representable in ``dtype`` (a state dtype: float32 or float64), so
    multiplying a ``dtype`` tensor by it rounds once, the same on CPU and CUDA.
    """
    return float(torch.tensor(1.0, dtype=dtype) / torch.tensor(tau, dtype=dtype))


def multistep(
    x: torch.Tensor,
    dyn: Dynamics,
    v_threshold: float | torch.Tensor,
    v_init: float | torch.Tensor,
    i_init: float | torch.Tensor | None = None,
    record_v: bool = False,
) -> NeuronOutput:
    """Run the neuron over all ``T`` steps.

    Args:
        x: input current ``[T, B, ...]``.
        dyn: the neuron's dynamics.
        v_threshold: firing threshold, a float or a tensor broadcastable to ``x[0]``.
        v_init: ``V[-1]`` (the initial membrane potential), float or tensor broadcastable to ``x[0]``.
        i_init: ``I[-1]`` for CUBA (default 0).
        record_v: also return the membrane trace.
    """
    if x.dim() < 2:
        raise ValueError(f"neuron input must be [T, B, ...], got shape {tuple(x.shape)}")
    sdt = state_dtype(x.dtype)
    step_shape = x.shape[1:]
    v = _as_state(v_init, step_shape, sdt, x.device)
    i = _as_state(0.0 if i_init is None else i_init, step_shape, sdt, x.device) if dyn.kind == "cuba" else None
    theta = v_threshold.to(sdt) if isinstance(v_threshold, torch.Tensor) else v_threshold
    v_r = dyn.v_rest
    k = leak_factor(dyn.tau, sdt) if dyn.kind == "lif" else 1.0
    spikes, trace = [], []
    for t in range(x.shape[0]):
        xt = x[t].to(sdt)
        if dyn.kind == "if":
            h = v + xt
        elif dyn.kind == "lif":
            if dyn.decay_input:
                h = v + (xt - (v - v_r)) * k
            else:
                h = v - (v - v_r) * k + xt
        elif dyn.kind == "cuba":
            i = dyn.alpha_i * cast(torch.Tensor, i) + xt  # set above for CUBA
            h = v_r + dyn.alpha_v * (v - v_r) + i
        else:
            raise ValueError(f"unknown neuron kind {dyn.kind!r}; choose 'if', 'lif' or 'cuba'")
        s = dyn.surrogate(h - theta)
        s_r = s.detach() if dyn.detach_reset else s
        if dyn.soft_reset:
            v = h - theta * s_r
        else:
            v = h * (1 - s_r) + cast(float, dyn.v_reset) * s_r  # hard reset: v_reset is a number
        spikes.append(s)
        if record_v:
            trace.append(v)
    if x.shape[0] == 0:  # T = 0: no step, so no spikes; the state stays the initial one
        return NeuronOutput(x.new_empty(x.shape), v, i, x.new_empty(x.shape, dtype=sdt) if record_v else None)
    out = torch.stack(spikes).to(x.dtype)
    return NeuronOutput(out, v, i, torch.stack(trace) if record_v else None)


def _as_state(value: float | torch.Tensor, shape: torch.Size, dtype: torch.dtype, device) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.to(dtype).expand(shape)
    return torch.full(shape, float(value), dtype=dtype, device=device)
