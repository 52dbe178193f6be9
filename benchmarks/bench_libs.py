"""The neuron layers being compared, each behind the same small interface.

Every entry builds a multi-step LIF layer with ``tau = 2`` (``V`` keeps half of itself per
step), threshold 1, hard reset to 0 and a sigmoid-like surrogate, taking ``[T, B, N/B]``
float32 input on the benchmark's device and returning spikes of the same shape, starting
from ``V = 0`` at every call. On CUDA the SpikeForge columns use the ``triton`` backend
(and SpikingJelly its own CUDA kernels). Differences that do not change the work per step are listed in ``note``:

* SpikeForge ``LIFNode(tau=2, v_reset=0)`` and SpikingJelly 2.0 ``LIFNode(tau=2,
  step_mode="m")`` implement ``H = V + (X - V) / tau``; surrogate ``Sigmoid(alpha=4)``.
* Norse 1.1 ``LIFBoxCell`` (``dt * tau_mem_inv = 0.5``) implements the same equation,
  looped over T in Python as Norse's own sequence modules do; its surrogates have no
  sigmoid, SuperSpike (``alpha=4``) is used.
* snnTorch 1.0 ``Leaky(beta=0.5, reset_mechanism="zero")`` is ``V = 0.5 V + X`` (no
  ``1/tau`` on the input) and resets one step later (its default); ``sigmoid(slope=4)``.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
from collections.abc import Callable

import torch

from spikeforge import LIFNode

__all__ = ["Library", "available_libraries"]


@dataclasses.dataclass
class Library:
    """A neuron layer under test.

    Attributes:
        name: column name in the results.
        make: ``make(features, device) -> fn`` with ``fn(x [T, B, features]) -> spikes``; a
            fresh layer per problem size (learnable parameters are per neuron).
        note: what differs from the common configuration.
        version: the library's version.
    """

    name: str
    make: Callable[[int, torch.device], Callable[[torch.Tensor], torch.Tensor]]
    note: str = ""
    version: str = ""


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _spikeforge(
    backend: str | None, learnable: bool
) -> Callable[[int, torch.device], Callable[[torch.Tensor], torch.Tensor]]:
    def make(features: int, device: torch.device):
        kw = dict(imp="learn", v_threshold="learn", feature_shape=(features,)) if learnable else dict(imp=None)
        if backend is not None:  # None: the node's default (what a user who names no backend gets)
            kw["backend"] = backend
        node = LIFNode(tau=2.0, v_reset=0.0, surrogate={"name": "sigmoid", "alpha": 4.0}, **kw)
        return node.to(device)

    return make


def _spikingjelly() -> Callable[[int, torch.device], Callable[[torch.Tensor], torch.Tensor]]:
    from spikingjelly.activation_based import neuron, surrogate

    def make(features: int, device: torch.device):
        node = neuron.LIFNode(tau=2.0, v_reset=0.0, surrogate_function=surrogate.Sigmoid(alpha=4.0), step_mode="m")
        node.to(device)

        def run(x: torch.Tensor) -> torch.Tensor:
            node.reset()  # SpikingJelly keeps V between calls unless reset
            return node(x)

        return run

    return make


def _snntorch() -> Callable[[int, torch.device], Callable[[torch.Tensor], torch.Tensor]]:
    import snntorch
    from snntorch import surrogate

    def make(features: int, device: torch.device):
        lif = snntorch.Leaky(beta=0.5, threshold=1.0, reset_mechanism="zero", spike_grad=surrogate.sigmoid(slope=4))
        lif.to(device)

        def run(x: torch.Tensor) -> torch.Tensor:
            mem = lif.init_leaky()
            out = []
            for t in range(x.shape[0]):
                spk, mem = lif(x[t], mem)
                out.append(spk)
            return torch.stack(out)

        return run

    return make


def _norse() -> Callable[[int, torch.device], Callable[[torch.Tensor], torch.Tensor]]:
    from norse.torch import LIFBoxCell, LIFBoxParameters

    def make(features: int, device: torch.device):
        def scalar(v: float) -> torch.Tensor:
            return torch.tensor(v, device=device)

        p = LIFBoxParameters(tau_mem_inv=scalar(500.0), v_th=scalar(1.0), v_reset=scalar(0.0), alpha=scalar(4.0))
        cell = LIFBoxCell(p, dt=0.001)

        def run(x: torch.Tensor) -> torch.Tensor:
            state, out = None, []
            for t in range(x.shape[0]):
                z, state = cell(x[t], state)
                out.append(z)
            return torch.stack(out)

        return run

    return make


def available_libraries(device: torch.device, include_reference: bool = True) -> tuple[list[Library], list[str]]:
    """The libraries that can run on ``device``, and a line for each that cannot (and why).

    The first two are SpikeForge's fused backend for the device, without and with learnable
    IMP + threshold (the report's ratios are taken against the first).
    """
    from spikeforge.neuron import backends
    from spikeforge.neuron.reference import Dynamics

    libs, missing = [], []
    sf = _version("spikeforge")
    fused = "triton" if device.type == "cuda" else "cpu"
    if backends.resolve_backend("auto", device, torch.float32, Dynamics()).name == fused:
        libs.append(Library(f"spikeforge-{fused}", _spikeforge(fused, False), "fused kernels", sf))
        libs.append(Library(f"spikeforge-{fused}+imp+th", _spikeforge(fused, True), "learnable IMP + threshold", sf))
    else:
        missing.append(f"spikeforge-{fused}: {backends.BACKENDS[fused].why_not()}")
    libs.append(Library("spikeforge-default", _spikeforge(None, False), "LIFNode() with no backend argument", sf))
    if include_reference:
        libs.append(Library("spikeforge-torch", _spikeforge("torch", False), "reference, plain autograd", sf))
        libs.append(Library("spikeforge-torch+imp+th", _spikeforge("torch", True), "reference + IMP + threshold", sf))
    for name, dist, factory, note in (
        ("spikingjelly", "spikingjelly", _spikingjelly, "LIFNode step_mode='m' (its CPU op / CUDA kernels)"),
        ("snntorch", "snntorch", _snntorch, "Leaky, Python loop over T; no 1/tau on the input"),
        ("norse", "norse", _norse, "LIFBoxCell, Python loop over T; SuperSpike surrogate"),
    ):
        try:
            make = factory()
        except ImportError as e:
            missing.append(f"{name}: not installed ({e})")
            continue
        libs.append(Library(name, make, note, _version(dist)))
    return libs, missing
