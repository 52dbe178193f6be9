"""The numbers a fused kernel needs from a :class:`~spikeforge.neuron.reference.Dynamics`: the one place where
the neuron's named parameters become the kernels' constants, and where the kernels' own names are mapped.

Shared by the CPU and Triton backends so both encode neuron kinds and surrogates the
same way. A kind opts in to the kernels (:class:`~spikeforge.neuron.kind_spec.FusedKernels`) by naming
the kernel charge step that runs its parameters and the kernel constants they set; :func:`kernel_spec`
adds the reset's and the surrogate's. Surrogate constants are computed here in Python double
precision exactly as :mod:`spikeforge.neuron.surrogate` computes them before they meet a tensor, so
a kernel that casts them to the state dtype reproduces the reference's arithmetic.

The kernels' own names for what the neuron modules (and configs) call otherwise:

=====================  ===========================================================
module / config        kernels, custom ops (``FlatCall``, ``Args``, ``neuron_op``)
=====================  ===========================================================
``v_threshold``        ``theta`` (its layout ``th_mid``, ``th_inner``)
``imp``                ``v0`` (``v0_mid``, ``v0_inner``)
``i_init``             ``i0``
``neuron_kind``        ``kind`` (a code of :data:`KERNEL_STEPS`)
surrogate constants    ``c0``, ``c1`` (``sur_c0``, ``sur_c1`` in the C++ ``Args``)
=====================  ===========================================================
"""

from __future__ import annotations

import dataclasses
import math

import torch

from ..reference import Dynamics, leak_factor
from ..surrogate import ATan, Exponential, Rectangle, Sigmoid, Surrogate, Triangle

__all__ = [
    "CUBA",
    "KERNEL_CONSTANTS",
    "KERNEL_STEPS",
    "SURROGATE_CODES",
    "KernelSpec",
    "kernel_spec",
    "state_constants",
    "surrogate_constants",
    "unsupported_reason",
]

#: The kernels' charge steps (``KIND`` in ``cpu/csrc/neuron.h`` and ``triton/kernels.py``) by name.
KERNEL_STEPS = {"if": 0, "lif_decay_input": 1, "lif": 2, "cuba": 3}
#: The one step with a synaptic current (the ops' ``i0`` / ``i`` tensors; the kinds say ``has_current``).
CUBA = KERNEL_STEPS["cuba"]
#: The custom ops' ``float[] consts`` (also the C++ ``Args`` fields of these names), in their one order, with the
#: value of a constant the kind does not set (its step does not read it). The Triton kernels read ``tau`` as its
#: leak factor (:func:`state_constants`); the C++ kernels compute the same from ``tau``.
KERNEL_CONSTANTS = {"tau": 2.0, "alpha_i": 0.0, "alpha_v": 0.0, "v_rest": 0.0, "v_reset": 0.0, "c0": 0.0, "c1": 0.0}
SURROGATE_CODES: dict[type[Surrogate], int] = {ATan: 0, Sigmoid: 1, Triangle: 2, Rectangle: 3, Exponential: 4}


@dataclasses.dataclass(frozen=True)
class KernelSpec:
    """Everything fixed about one neuron configuration, as plain numbers.

    ``kind``: the kernel charge step (:data:`KERNEL_STEPS`: 0 IF, 1 LIF with decay_input, 2 LIF without,
    3 CUBA). ``surrogate``: 0 atan, 1 sigmoid, 2 triangle, 3 rectangle, 4 exponential, with constants
    ``c0, c1`` (see :func:`surrogate_constants`). The floats are :data:`KERNEL_CONSTANTS`.
    """

    kind: int
    soft: bool
    detach: bool
    tau: float
    alpha_i: float
    alpha_v: float
    v_rest: float
    v_reset: float
    surrogate: int
    c0: float
    c1: float

    @property
    def consts(self) -> list[float]:
        """The floats of the custom ops' ``float[] consts`` argument, in their one order (:data:`KERNEL_CONSTANTS`)."""
        return [getattr(self, name) for name in KERNEL_CONSTANTS]

    @classmethod
    def from_op_args(cls, kind: int, soft: bool, detach: bool, surrogate: int, consts: list[float]) -> KernelSpec:
        """The spec back from a custom op's arguments (the inverse of :attr:`consts`)."""
        return cls(kind, soft, detach, surrogate=surrogate, **dict(zip(KERNEL_CONSTANTS, consts, strict=True)))


def state_constants(consts: list[float] | tuple[float, ...], dtype: torch.dtype) -> list[float]:
    """``consts`` as the Triton kernels read them: ``tau`` as its leak factor ``1/tau`` in ``dtype``
    (:func:`~spikeforge.neuron.reference.leak_factor`, as the reference and the C++ kernels compute it)."""
    named = dict(zip(KERNEL_CONSTANTS, consts, strict=True))
    named["tau"] = leak_factor(named["tau"], dtype)
    return list(named.values())


def surrogate_constants(s: Surrogate) -> tuple[int, float, float]:
    """``(code, c0, c1)`` with ``g(u)`` as the kernels evaluate it (``u = H - theta``).

    atan ``c1 / (1 + (c0 u)^2)``; sigmoid ``c0 s (1 - s)``, ``s = 1 / (1 + exp(-c0 u))``;
    triangle ``max(0, c0 - |u|) / c1``; rectangle ``[|u| < c0] / c1``;
    exponential ``c0 exp(-|u| / c1)``.
    """
    if isinstance(s, ATan):
        return 0, math.pi / 2 * s.alpha, s.alpha / 2
    if isinstance(s, Sigmoid):
        return 1, s.alpha, 0.0
    if isinstance(s, Triangle):
        return 2, s.gamma, s.gamma * s.gamma
    if isinstance(s, Rectangle):
        return 3, s.width / 2, s.width
    if isinstance(s, Exponential):
        return 4, s.scale / s.tau, s.tau
    raise ValueError(f"no fused kernel for surrogate {s!r}")


def unsupported_reason(dyn: Dynamics, backend: str | None = None) -> str | None:
    """Why the fused kernels (of ``backend``, or of every fused backend) cannot run ``dyn``; ``None`` when they can."""
    kind = dyn.neuron_kind
    if kind.fused is None:
        return f"neuron kind {kind.name!r} has no fused kernel (it runs on the reference)"
    if backend is not None and backend not in kind.fused.backends:
        return f"neuron kind {kind.name!r} has no fused {backend!r} kernel (it has {sorted(kind.fused.backends)})"
    # Exact type: a subclass may redefine grad(), which the kernels would silently ignore.
    if type(dyn.surrogate) not in SURROGATE_CODES:
        return f"surrogate {type(dyn.surrogate).__name__} has no fused kernel (built-in surrogates only)"
    return None


def kernel_spec(dyn: Dynamics, backend: str | None = None) -> KernelSpec:
    """Encode ``dyn``: the one mapping from a kind's named parameters (its ``fused.constants``), the reset and
    the surrogate to the kernels' constants; raises ``ValueError`` when it is not supported
    (:func:`unsupported_reason`)."""
    reason = unsupported_reason(dyn, backend)
    if reason is not None:
        raise ValueError(reason)
    fused = dyn.neuron_kind.fused
    assert fused is not None  # unsupported_reason refuses a kind without kernels
    code, c0, c1 = surrogate_constants(dyn.surrogate)
    consts = dict(KERNEL_CONSTANTS)
    kind_consts = dict(fused.constants(dyn.params))
    unknown = set(kind_consts) - {"tau", "alpha_i", "alpha_v"}
    if unknown:
        raise ValueError(f"neuron kind {dyn.kind!r} sets kernel constants {sorted(unknown)} that are not its to set")
    consts.update(kind_consts)
    consts.update(v_rest=float(dyn.v_rest), v_reset=0.0 if dyn.v_reset is None else float(dyn.v_reset))
    consts.update(c0=float(c0), c1=float(c1))
    return KernelSpec(
        kind=KERNEL_STEPS[fused.step(dyn.params)],
        soft=dyn.soft_reset,
        detach=bool(dyn.detach_reset),
        surrogate=code,
        **{name: float(value) for name, value in consts.items()},
    )
