"""The numbers a fused kernel needs from a :class:`~spikeforge.neuron.reference.Dynamics`.

Shared by the CPU and Triton backends so both encode neuron kinds and surrogates the
same way. Surrogate constants are computed here in Python double precision exactly as
:mod:`spikeforge.neuron.surrogate` computes them before they meet a tensor, so a kernel
that casts them to the state dtype reproduces the reference's arithmetic.
"""

from __future__ import annotations

import dataclasses
import math

from ..reference import Dynamics
from ..surrogate import ATan, Exponential, Rectangle, Sigmoid, Surrogate, Triangle

__all__ = [
    "CUBA",
    "KIND_CODES",
    "SURROGATE_CODES",
    "KernelSpec",
    "kernel_spec",
    "surrogate_constants",
    "unsupported_reason",
]

# IF, LIF with decay_input, LIF without, CUBA.
KIND_CODES = {
    ("if", True): 0,
    ("if", False): 0,
    ("lif", True): 1,
    ("lif", False): 2,
    ("cuba", True): 3,
    ("cuba", False): 3,
}
CUBA = KIND_CODES["cuba", True]  # the one kind with a synaptic current (the ops' ``i0`` / ``i`` tensors)
SURROGATE_CODES: dict[type[Surrogate], int] = {ATan: 0, Sigmoid: 1, Triangle: 2, Rectangle: 3, Exponential: 4}


@dataclasses.dataclass(frozen=True)
class KernelSpec:
    """Everything fixed about one neuron configuration, as plain numbers.

    ``kind``: 0 IF, 1 LIF (decay_input), 2 LIF (no decay_input), 3 CUBA.
    ``surrogate``: 0 atan, 1 sigmoid, 2 triangle, 3 rectangle, 4 exponential, with
    constants ``c0, c1`` (see :func:`surrogate_constants`).
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
        """The floats of the custom ops' ``float[] consts`` argument, in their one order."""
        return [self.tau, self.alpha_i, self.alpha_v, self.v_rest, self.v_reset, self.c0, self.c1]

    @classmethod
    def from_op_args(cls, kind: int, soft: bool, detach: bool, surrogate: int, consts: list[float]) -> KernelSpec:
        """The spec back from a custom op's arguments (the inverse of :attr:`consts`)."""
        tau, alpha_i, alpha_v, v_rest, v_reset, c0, c1 = consts
        return cls(kind, soft, detach, tau, alpha_i, alpha_v, v_rest, v_reset, surrogate, c0, c1)


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


def unsupported_reason(dyn: Dynamics) -> str | None:
    """Why the fused kernels cannot run ``dyn`` (``None`` when they can)."""
    if (dyn.kind, bool(dyn.decay_input)) not in KIND_CODES:
        return f"unknown neuron kind {dyn.kind!r}"
    # Exact type: a subclass may redefine grad(), which the kernels would silently ignore.
    if type(dyn.surrogate) not in SURROGATE_CODES:
        return f"surrogate {type(dyn.surrogate).__name__} has no fused kernel (built-in surrogates only)"
    return None


def kernel_spec(dyn: Dynamics) -> KernelSpec:
    """Encode ``dyn``; raises ``ValueError`` when it is not supported (see :func:`unsupported_reason`)."""
    reason = unsupported_reason(dyn)
    if reason is not None:
        raise ValueError(reason)
    code, c0, c1 = surrogate_constants(dyn.surrogate)
    return KernelSpec(
        kind=KIND_CODES[(dyn.kind, bool(dyn.decay_input))],
        soft=dyn.soft_reset,
        detach=bool(dyn.detach_reset),
        tau=float(dyn.tau),
        alpha_i=float(dyn.alpha_i),
        alpha_v=float(dyn.alpha_v),
        v_rest=float(dyn.v_rest),
        v_reset=0.0 if dyn.v_reset is None else float(dyn.v_reset),
        surrogate=code,
        c0=float(c0),
        c1=float(c1),
    )
