"""Where and how a run computes: device choice, mixed precision, seeding, and process-wide torch settings.

These are public so that scripts outside the engine (analyses, notebooks) pick the same
device, autocast and seeds as ``spikeforge train``:

    device = resolve_device("auto")                  # cuda:LOCAL_RANK if available, else cpu
    with autocast("bf16", device): out = model(x)
    seed_everything(0)                               # Python, NumPy and torch (CPU and CUDA)
    with torch_settings(threads=1, deterministic=True): ...   # restored on exit

The process's memory allocator (keep freed memory for reuse on CPU) is set up by
:func:`spikeforge.runtime.tune_allocator`, a module that imports neither torch nor the trainer.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

from ..device import resolve_device, use_device
from ..errors import UserError

__all__ = ["autocast", "local_rank", "resolve_device", "seed_everything", "torch_settings", "use_device"]


#: the environment variable cuBLAS reads for its workspace, and the setting that makes it deterministic
CUBLAS_WORKSPACE = "CUBLAS_WORKSPACE_CONFIG"
CUBLAS_WORKSPACE_DETERMINISTIC = ":4096:8"


def local_rank() -> int:
    """``LOCAL_RANK`` as torchrun sets it (0 outside torchrun)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """A mixed-precision context for ``precision`` (``fp32``: none; ``bf16``; ``fp16``: CUDA only)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        from .config import ConfigError

        raise ConfigError("precision fp16 needs a CUDA device; use bf16 or fp32 on CPU")
    if precision not in ("bf16", "fp16"):
        raise UserError(f"precision must be 'fp32', 'bf16' or 'fp16', got {precision!r}")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (every CUDA device too)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def torch_settings(threads: int | None = None, deterministic: bool = False) -> Iterator[None]:
    """Apply a run's process-wide torch settings and restore the previous ones on exit.

    ``threads`` sets ``torch.set_num_threads`` (``None`` leaves it); ``deterministic`` turns on
    ``torch.use_deterministic_algorithms`` and cuDNN's deterministic mode. A sweep of runs in
    one process therefore never leaks one run's settings into the next.
    """
    saved_threads = torch.get_num_threads()
    saved_det = torch.are_deterministic_algorithms_enabled()
    saved_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    saved_cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    saved_cublas: str | None = os.environ.get(CUBLAS_WORKSPACE)
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        if deterministic:
            # cuBLAS is deterministic only with a fixed workspace; without this setting torch raises at the
            # first CUDA matmul under deterministic algorithms. Read when a cuBLAS handle is created, so it is
            # set before any CUDA work of the run (and kept if the user chose one).
            os.environ.setdefault(CUBLAS_WORKSPACE, CUBLAS_WORKSPACE_DETERMINISTIC)
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        yield
    finally:
        if torch.get_num_threads() != saved_threads:
            torch.set_num_threads(saved_threads)
        torch.use_deterministic_algorithms(saved_det, warn_only=saved_warn)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved_cudnn
        if saved_cublas is None:
            os.environ.pop(CUBLAS_WORKSPACE, None)
        else:
            os.environ[CUBLAS_WORKSPACE] = saved_cublas
