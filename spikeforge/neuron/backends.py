"""Backend registry for the multi-step neuron computation.

A backend is a function with the signature of :func:`spikeforge.neuron.reference.multistep`.
``"torch"`` is the reference (plain autograd). Fused backends register themselves here
with a predicate saying which devices, dtypes and dynamics they support; ``"auto"``
picks the first supporting backend in :data:`AUTO_ORDER`. A backend named explicitly is
never swapped for another silently: an unsupported request raises.

:func:`resolve_backend` is the quiet lookup; :func:`select` is what neuron layers call: the
same choice, plus one log line per distinct choice in a process saying which backend runs
and why (a warning when a fused kernel exists but failed to build), the kernel build
announced before it starts, and the reference picked by ``"auto"`` during ONNX export.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable

import torch

from . import reference
from .log import once

__all__ = ["AUTO_ORDER", "BACKENDS", "Backend", "register_backend", "resolve_backend", "select"]

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
    # Fused backends live in spikeforge.neuron.ops; importing it registers them. It is
    # imported on first use, not at package import, so `import spikeforge` stays light.
    global _loaded
    if not _loaded:
        _loaded = True
        if importlib.util.find_spec(f"{__package__}.ops") is not None:
            importlib.import_module(f"{__package__}.ops")


def check_name(name: str) -> None:
    """Raise ``ValueError`` unless ``name`` is ``"auto"`` or a registered backend (a neuron checks it when built)."""
    _load_optional_backends()
    if name != "auto" and name not in BACKENDS:
        raise ValueError(f"unknown neuron backend {name!r}; choose one of {[*sorted(BACKENDS), 'auto']}")


def resolve_backend(name: str, device: torch.device, dtype: torch.dtype, dyn: reference.Dynamics) -> Backend:
    """The backend to run for this call; ``"auto"`` picks the first supporting one, else ``"torch"``."""
    _load_optional_backends()
    if name == "auto":
        for candidate in AUTO_ORDER:
            b = BACKENDS[candidate]
            if b.supports(device, dtype, dyn):
                return b
        return BACKENDS["torch"]
    check_name(name)
    b = BACKENDS[name]
    if not b.supports(device, dtype, dyn):
        from .ops.spec import unsupported_reason

        # the kind's own refusal first (PLIF has no kernel), else what the backend needs
        why = unsupported_reason(dyn, name) or (b.why_not() if callable(b.why_not) else b.why_not)
        raise ValueError(
            f"neuron backend {name!r} does not support device={device.type}, dtype={dtype}, kind={dyn.kind}"
            + (f": {why}" if why else "")
        )
    return b


_DESCRIPTIONS = {"cpu": "fused C++ kernels", "triton": "fused Triton kernels", "torch": "plain PyTorch reference"}


def _onnx_exporting() -> bool:
    onnx = sys.modules.get("torch.onnx")  # never imported just to ask
    return onnx is not None and bool(onnx.is_in_onnx_export())


def _fallback_reason(device: torch.device, dtype: torch.dtype, dyn: reference.Dynamics) -> tuple[int, str]:
    """Why ``"auto"`` runs the reference here, and how loud to say it (a failed build is a warning)."""
    from .ops.spec import unsupported_reason

    why = unsupported_reason(dyn)
    if why is not None:
        return logging.INFO, why
    if device.type == "cpu":
        from .ops.cpu import build, op

        if dtype not in op.DTYPES:
            return logging.INFO, f"no fused CPU kernel for {dtype} (float32/float64/bfloat16 have one)"
        st = build.status()
        if not st.ok:
            return logging.WARNING, "the fused CPU kernels are unavailable: " + " ".join(st.message.split())
    if device.type == "cuda" and importlib.util.find_spec("triton") is None:
        return logging.INFO, "triton is not installed (pip install triton for the fused GPU kernels)"
    if device.type == "cuda" and torch.cuda.is_available():
        from .ops.triton import op as triton_op

        broken = triton_op.unusable_reason(device)
        if broken is not None:
            return logging.WARNING, broken
    return logging.INFO, f"no fused kernel for {device.type} tensors of {dtype}"


def select(name: str, device: torch.device, dtype: torch.dtype, dyn: reference.Dynamics) -> Backend:
    """:func:`resolve_backend` for a neuron layer's forward, saying once which backend runs and why."""
    if torch.compiler.is_compiling():  # the choice was made (and told) by eager calls or is made quietly
        return resolve_backend(name, device, dtype, dyn)
    if _onnx_exporting():
        if name == "auto" or name == "torch":
            return BACKENDS["torch"]
        raise ValueError(
            f"neuron backend {name!r} is a custom op with no ONNX translation; build the model with "
            "backend='torch' (or 'auto', which exports the reference) for ONNX export"
        )
    if name != "auto":
        return resolve_backend(name, device, dtype, dyn)
    if device.type == "cpu" and dtype in (torch.float32, torch.float64, torch.bfloat16):
        _load_optional_backends()
        _announce_cpu_build()
    backend = resolve_backend(name, device, dtype, dyn)
    if backend.name == "torch":
        level, why = _fallback_reason(device, dtype, dyn)
        once(("auto", device.type, dtype, "torch", why), level, "neuron backend auto -> 'torch' (reference): %s", why)
    else:
        once(
            ("auto", device.type, dtype, backend.name),
            logging.INFO,
            "neuron backend auto -> %r (%s) for %s %s tensors",
            backend.name,
            _DESCRIPTIONS.get(backend.name, "fused"),
            device.type,
            str(dtype).replace("torch.", ""),
        )
    return backend


def _announce_cpu_build() -> None:
    from .ops.cpu import build

    if not build.is_cached() and build.compiler() is not None:
        once(
            ("cpu-build",),
            logging.INFO,
            "building the fused CPU neuron kernels with %s (once per machine, 10-30 s; cached in %s)",
            build.compiler(),
            build.cache_dir(),
        )
