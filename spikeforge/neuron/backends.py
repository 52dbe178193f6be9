"""Backend registry for the multi-step neuron computation.

A backend is a function with the signature of :func:`spikeforge.neuron.reference.multistep`.
``"torch"`` is the reference (plain autograd). Fused backends register themselves here
with a predicate saying which devices, dtypes and dynamics they support; ``"auto"``
picks the first supporting backend in :data:`AUTO_ORDER`. A backend named explicitly is
never swapped for another silently: an unsupported request raises.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from collections.abc import Callable

import torch

from . import reference

__all__ = ["AUTO_ORDER", "BACKENDS", "Backend", "register_backend", "resolve_backend"]

Supports = Callable[[torch.device, torch.dtype, reference.Dynamics], bool]


@dataclasses.dataclass(frozen=True)
class Backend:
    name: str
    fn: Callable[..., reference.NeuronOutput]
    supports: Supports
    # what the backend needs; a callable when the answer is only known at run time (e.g. a failed kernel build)
    why_not: str | Callable[[], str] = ""


BACKENDS: dict[str, Backend] = {}
AUTO_ORDER: list[str] = []


def register_backend(backend: Backend, auto_priority: int | None = None) -> None:
    """Register ``backend``; with ``auto_priority`` it takes part in ``"auto"`` (lower = tried first)."""
    BACKENDS[backend.name] = backend
    if auto_priority is not None and backend.name not in AUTO_ORDER:
        AUTO_ORDER.insert(min(auto_priority, len(AUTO_ORDER)), backend.name)


register_backend(Backend("torch", reference.multistep, lambda device, dtype, dyn: True))


_loaded = False


def _load_optional_backends() -> None:
    # Fused backends live in spikeforge.neuron.kernels; importing it registers them. It is
    # imported on first use, not at package import, so `import spikeforge` stays light.
    global _loaded
    if not _loaded:
        _loaded = True
        if importlib.util.find_spec(f"{__package__}.kernels") is not None:
            importlib.import_module(f"{__package__}.kernels")


def resolve_backend(name: str, device: torch.device, dtype: torch.dtype, dyn: reference.Dynamics) -> Backend:
    """The backend to run for this call; ``"auto"`` picks the first supporting one, else ``"torch"``."""
    _load_optional_backends()
    if name == "auto":
        for candidate in AUTO_ORDER:
            b = BACKENDS[candidate]
            if b.supports(device, dtype, dyn):
                return b
        return BACKENDS["torch"]
    if name not in BACKENDS:
        raise ValueError(f"unknown neuron backend {name!r}; choose one of {[*sorted(BACKENDS), 'auto']}")
    b = BACKENDS[name]
    if not b.supports(device, dtype, dyn):
        why = b.why_not() if callable(b.why_not) else b.why_not
        raise ValueError(
            f"neuron backend {name!r} does not support device={device.type}, dtype={dtype}, kind={dyn.kind}"
            + (f": {why}" if why else "")
        )
    return b
