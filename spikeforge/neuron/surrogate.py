"""Surrogate spike functions.

Every surrogate computes the Heaviside step ``S = 1[u >= 0]`` in the forward pass
(spikes fire at equality, as in SpikingJelly) and replaces its derivative (a Dirac
delta) by a smooth or piecewise function ``g(u)`` in the backward pass. ``u`` is the
distance of the membrane potential from the threshold, ``u = H - v_threshold``.

A surrogate is a small immutable object: printable (``ATan(alpha=2.0)``), comparable,
buildable from a name or a YAML mapping with :func:`get_surrogate`, and usable both
from autograd (``surrogate(u)``) and from fused kernels (``surrogate.grad(u)``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import torch

__all__ = [
    "SURROGATES",
    "ATan",
    "Exponential",
    "Rectangle",
    "Sigmoid",
    "Surrogate",
    "Triangle",
    "get_surrogate",
]


class _SpikeFn(torch.autograd.Function):
    """Heaviside forward, ``grad_out * g(u)`` backward."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:  # type: ignore[override]
        if u.requires_grad:
            ctx.save_for_backward(u)
        ctx.surrogate = surrogate
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (u,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(u), None


@dataclasses.dataclass(frozen=True)
class Surrogate:
    """Base class. Subclasses define ``grad(u)`` (the analytic surrogate derivative)."""

    name: ClassVar[str] = ""

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        """Spike ``1[u >= 0]`` with surrogate gradient. ``u``: any shape; returns ``u``'s shape and dtype."""
        return _SpikeFn.apply(u, self)

    def grad(self, u: torch.Tensor) -> torch.Tensor:
        """``dS/du`` of the surrogate, element-wise."""
        raise NotImplementedError

    def params(self) -> dict[str, float]:
        return dataclasses.asdict(self)

    def to_config(self) -> dict[str, Any]:
        """The YAML form, ``{"name": "atan", "alpha": 2.0}``; :func:`get_surrogate` reads it back."""
        return {"name": self.name, **self.params()}


@dataclasses.dataclass(frozen=True)
class ATan(Surrogate):
    """``g(u) = (alpha/2) / (1 + (pi/2 * alpha * u)^2)`` (SpikingJelly's ATan; SEW-ResNet)."""

    alpha: float = 2.0
    name: ClassVar[str] = "atan"

    def grad(self, u: torch.Tensor) -> torch.Tensor:
        return (self.alpha / 2) / (1 + (math.pi / 2 * self.alpha * u).square())


@dataclasses.dataclass(frozen=True)
class Sigmoid(Surrogate):
    """``g(u) = alpha * sig(alpha u) * (1 - sig(alpha u))`` (SpikingJelly's Sigmoid; 128x128 VGG)."""

    alpha: float = 4.0
    name: ClassVar[str] = "sigmoid"

    def grad(self, u: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.alpha * u)
        return self.alpha * s * (1 - s)


@dataclasses.dataclass(frozen=True)
class Triangle(Surrogate):
    """ZIF / triangle: ``g(u) = (1/gamma)^2 * max(0, gamma - |u|)`` (TET's legacy VGG)."""

    gamma: float = 1.0
    name: ClassVar[str] = "triangle"

    def grad(self, u: torch.Tensor) -> torch.Tensor:
        return (self.gamma - u.abs()).clamp_min(0) / (self.gamma * self.gamma)


@dataclasses.dataclass(frozen=True)
class Rectangle(Surrogate):
    """Boxcar: ``g(u) = 1/width`` where ``|u| < width/2``, else 0."""

    width: float = 1.0
    name: ClassVar[str] = "rectangle"

    def grad(self, u: torch.Tensor) -> torch.Tensor:
        return (u.abs() < self.width / 2).to(u.dtype) / self.width


@dataclasses.dataclass(frozen=True)
class Exponential(Surrogate):
    """Rouser / SLAYER: ``g(u) = (scale/tau) * exp(-|u|/tau)``; paper defaults scale=1.5, tau=3.75."""

    scale: float = 1.5
    tau: float = 3.75
    name: ClassVar[str] = "exponential"

    def grad(self, u: torch.Tensor) -> torch.Tensor:
        return (self.scale / self.tau) * torch.exp(-u.abs() / self.tau)


SURROGATES: dict[str, type[Surrogate]] = {cls.name: cls for cls in (ATan, Sigmoid, Triangle, Rectangle, Exponential)}
SURROGATES["zif"] = Triangle


def get_surrogate(spec: str | dict[str, Any] | Surrogate | None) -> Surrogate:
    """Build a surrogate from an instance, a name (``"atan"``) or a mapping (``{"name": "sigmoid", "alpha": 4}``).

    ``None`` gives the default, ``ATan(alpha=2)``.
    """
    if spec is None:
        return ATan()
    if isinstance(spec, Surrogate):
        return spec
    if isinstance(spec, str):
        name, kwargs = spec, {}
    elif isinstance(spec, dict):
        kwargs = dict(spec)
        name = kwargs.pop("name", None)
        if name is None:
            raise ValueError(f"surrogate mapping needs a 'name'; choose one of {sorted(SURROGATES)}")
    else:
        raise TypeError(f"surrogate must be a name, a mapping or a Surrogate, got {type(spec).__name__}")
    key = str(name).lower()
    if key not in SURROGATES:
        raise ValueError(f"unknown surrogate {name!r}; choose one of {sorted(SURROGATES)}")
    cls = SURROGATES[key]
    allowed = {f.name for f in dataclasses.fields(cls)}
    unknown = set(kwargs) - allowed
    if unknown:
        raise ValueError(f"surrogate {key!r} has no parameter {sorted(unknown)}; allowed: {sorted(allowed)}")
    return cls(**{k: float(v) for k, v in kwargs.items()})
