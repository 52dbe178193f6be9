"""Multi-step neuron dynamics in plain PyTorch: the specification.

Every fused backend is tested against these functions (spikes, final state,
membrane trace and the gradients of the input, the initial membrane potential
and the threshold). They loop over ``T`` in Python and let autograd do the rest.

One step of every neuron is *charge, fire, reset*. The charge step is the neuron kind's, in its
module of :mod:`spikeforge.neuron.kinds` (summarised here for the built-ins; PLIF is LIF with a
learnable ``k``); fire and reset are every kind's:

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
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import torch

from .kind_spec import NeuronKind, neuron_kind
from .surrogate import ATan, Surrogate

__all__ = ["Dynamics", "NeuronOutput", "leak_factor", "multistep", "state_dtype"]

#: The kind parameters of the former flat ``Dynamics(kind, tau, decay_input, alpha_i, alpha_v, ...)``: still
#: accepted for every kind (ignored by a kind that has no such parameter), so existing calls keep working.
_FLAT_NAMES = frozenset({"tau", "decay_input", "alpha_i", "alpha_v"})


@dataclasses.dataclass(frozen=True, init=False)
class Dynamics:
    """The fixed description of a neuron's dynamics: its kind with that kind's parameters, and fire/reset.

    ``Dynamics("lif", tau=3.0)`` or ``Dynamics("lif", params)`` with ``params`` the kind's own
    ``NamedTuple`` (:mod:`spikeforge.neuron.kinds`). The kind's parameters read as attributes
    (``dyn.tau``).

    Attributes:
        kind: the kind's name (``"if"``, ``"lif"``, ``"cuba"``, ``"plif"``, ...).
        params: the kind's named parameters.
        v_reset: reset potential (hard reset) or ``None`` (soft reset).
        detach_reset: detach the spike inside the reset term.
        surrogate: surrogate spike function.
    """

    kind: str
    params: Any
    v_reset: float | None
    detach_reset: bool
    surrogate: Surrogate

    def __init__(
        self,
        kind: str = "lif",
        params: Any = None,
        *,
        v_reset: float | None = 0.0,
        detach_reset: bool = False,
        surrogate: Surrogate | None = None,
        **named: Any,
    ) -> None:
        spec = neuron_kind(kind)
        if params is None:
            fields = spec.params._fields
            unknown = sorted(set(named) - set(fields) - _FLAT_NAMES)
            if unknown:
                raise TypeError(f"neuron kind {kind!r} has no parameter {unknown}; its parameters: {list(fields)}")
            params = spec.make_params(**{k: v for k, v in named.items() if k in fields})
        elif named or not isinstance(params, spec.params):
            raise TypeError(
                f"Dynamics: pass the kind's parameters by name or as one {spec.params.__name__}, got {params!r}"
                + (f" and {sorted(named)}" if named else "")
            )
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "v_reset", v_reset)
        object.__setattr__(self, "detach_reset", detach_reset)
        object.__setattr__(self, "surrogate", ATan() if surrogate is None else surrogate)
        object.__setattr__(self, "neuron_kind", spec)

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:  # the kind's parameters as attributes: dyn.tau
            params = self.__dict__.get("params")
            if params is not None and name in type(params)._fields:
                return getattr(params, name)
            raise AttributeError(f"{type(self).__name__} of kind {self.__dict__.get('kind')!r} has no {name!r}")

    neuron_kind: NeuronKind = dataclasses.field(init=False, repr=False, compare=False)

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
    imp: float | torch.Tensor,
    i_init: float | torch.Tensor | None = None,
    record_v: bool = False,
) -> NeuronOutput:
    """Run the neuron over all ``T`` steps.

    Args:
        x: input current ``[T, B, ...]``.
        dyn: the neuron's dynamics.
        v_threshold: firing threshold, a float or a tensor broadcastable to ``x[0]``.
        imp: ``V[-1]``, the initial membrane potential (IMP), float or tensor broadcastable to ``x[0]``.
        i_init: ``I[-1]`` for a kind with a synaptic current (CUBA; default 0).
        record_v: also return the membrane trace.
    """
    if x.dim() < 2:
        raise ValueError(f"neuron input must be [T, B, ...], got shape {tuple(x.shape)}")
    kind = dyn.neuron_kind
    sdt = state_dtype(x.dtype)
    step_shape = x.shape[1:]
    v = _as_state(imp, step_shape, sdt, x.device)
    i = _as_state(0.0 if i_init is None else i_init, step_shape, sdt, x.device) if kind.has_current else None
    theta = v_threshold.to(sdt) if isinstance(v_threshold, torch.Tensor) else v_threshold
    v_r = dyn.v_rest
    prepared = kind.prepare(dyn.params, sdt)
    spikes, trace = [], []
    for t in range(x.shape[0]):
        h, i = kind.charge(prepared, v, i, x[t].to(sdt), v_r)
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
