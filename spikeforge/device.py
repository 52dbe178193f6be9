"""Which device a process computes on, in one place: name it, make it current, guard a kernel launch.

* :func:`resolve_device` turns a config's ``device`` into a ``torch.device`` with an index:
  ``auto`` and ``cuda`` become ``cuda:LOCAL_RANK`` (each ``torchrun`` worker its own GPU);
  ``torch.cuda.set_device`` refuses an index-less ``cuda``.
* :func:`use_device` makes it the current CUDA device. A distributed run must call it before
  its first collective: NCCL starts its communicator on the current device, so every rank
  left on GPU 0 meets "Duplicate GPU detected" or hangs.
* :func:`device_guard` makes a tensor's device current around a kernel launch: Triton
  launches on the current device, and a kernel given ``cuda:1`` tensors while ``cuda:0`` is
  current reads and writes the wrong GPU's memory.
"""

from __future__ import annotations

import contextlib

import torch

from .errors import ConfigError

__all__ = ["device_guard", "resolve_device", "use_device"]


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:local_rank`` when CUDA is available, else ``cpu``; ``cuda`` -> ``cuda:local_rank``.

    Any other name is returned as named (``cuda:1``, ``cpu``); a CUDA device without CUDA raises
    a ``ConfigError``.
    """
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available; use device: cpu or auto")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


def use_device(device: torch.device) -> None:
    """Make ``device`` the current CUDA device (nothing for other devices); call it before any collective."""
    if device.type == "cuda":
        torch.cuda.set_device(device)


def device_guard(device: torch.device) -> contextlib.AbstractContextManager:
    """A context in which ``device`` is the current CUDA device (a no-op for other devices)."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()
