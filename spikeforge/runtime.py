"""Process-wide set-up for CPU training: a memory allocator that keeps freed memory for reuse.

On CPU, every large activation of a training step is an allocation above glibc's ``mmap``
threshold, so by default glibc hands it back to the kernel (``munmap``) when the tensor dies and
faults fresh zeroed pages in on the next step, once per layer per step, forward and backward:
a third of a small CPU run's time goes to the kernel. :func:`tune_allocator` sets glibc's
malloc tunables (``mallopt``) so that freed memory stays in the process and is reused:

* ``M_MMAP_THRESHOLD`` to its maximum (32 MiB on 64-bit): blocks up to that size come from the
  heap instead of a fresh mapping each (setting it also stops glibc's own sliding threshold);
* ``M_TRIM_THRESHOLD`` 16 GiB: the heap is not shrunk when its top becomes free;
* ``M_TOP_PAD`` 1 GiB: the heap grows in large steps (address space, not resident memory).

The cost is resident memory: memory a step freed stays mapped until the next step reuses it,
so the peak RSS is that of the largest step plus fragmentation, and does not grow with the
run's length (``docs/performance.md`` has the figures).

The ``spikeforge`` commands that train or evaluate call it first; a library user calls it once::

    from spikeforge.runtime import tune_allocator
    tune_allocator()        # AllocatorStatus(mode='tuned', applied=True, detail='glibc mallopt: ...')

Importing SpikeForge changes nothing. Opt out with ``SPIKEFORGE_ALLOCATOR=system`` in the
environment or ``run.allocator: system`` in a config. Where the C library is not glibc (macOS,
Windows, musl) the call changes nothing and says so in its status, silently. Processes
SpikeForge starts itself (DataLoader workers, the study's parallel runs) repeat the set-up
of their parent (:func:`worker_init`): ``fork`` would inherit it, ``spawn``/``forkserver`` would not.

This module imports only the standard library (no torch, no trainer).
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
from typing import Any

__all__ = [
    "ALLOCATOR_ENV",
    "ALLOCATOR_MODES",
    "AllocatorStatus",
    "allocator_status",
    "requested_allocator",
    "tune_allocator",
    "worker_init",
]

ALLOCATOR_ENV = "SPIKEFORGE_ALLOCATOR"
ALLOCATOR_MODES = ("tuned", "system")

# mallopt parameter numbers from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

_MIB = 1 << 20
# glibc refuses an mmap threshold above HEAP_MAX_SIZE / 2 = 4 MiB * sizeof(long): 32 MiB on 64-bit
MMAP_THRESHOLD = 4 * _MIB * ctypes.sizeof(ctypes.c_long)
TRIM_THRESHOLD = 16 * 1024 * _MIB
TOP_PAD = 1024 * _MIB

# (name, mallopt parameter, value) in the order they are set
GLIBC_SETTINGS: tuple[tuple[str, int, int], ...] = (
    ("mmap_threshold", _M_MMAP_THRESHOLD, MMAP_THRESHOLD),
    ("trim_threshold", _M_TRIM_THRESHOLD, TRIM_THRESHOLD),
    ("top_pad", _M_TOP_PAD, TOP_PAD),
)


@dataclasses.dataclass(frozen=True)
class AllocatorStatus:
    """What :func:`tune_allocator` did in this process.

    ``mode`` is what was asked (``tuned`` or ``system``); ``applied`` is true when every glibc
    tunable was set; ``detail`` is one line for logs (the settings, or why nothing changed).
    """

    mode: str
    applied: bool
    detail: str


_status: AllocatorStatus | None = None


def allocator_status() -> AllocatorStatus | None:
    """The status of the last :func:`tune_allocator` call in this process (``None``: never called)."""
    return _status


def requested_allocator(config_value: str | None = None) -> str:
    """The allocator mode to use: ``SPIKEFORGE_ALLOCATOR`` when set, else ``config_value``, else ``tuned``.

    The environment variable wins so that an operator can opt out (or in) without editing configs.
    """
    from .errors import UserError

    env = os.environ.get(ALLOCATOR_ENV, "").strip().lower()
    if env:
        if env not in ALLOCATOR_MODES:
            raise UserError(f"{ALLOCATOR_ENV}={env!r}: choose one of {', '.join(ALLOCATOR_MODES)}")
        return env
    mode = config_value or "tuned"
    if mode not in ALLOCATOR_MODES:
        raise UserError(f"run.allocator must be one of {', '.join(ALLOCATOR_MODES)}, got {mode!r}")
    return mode


def _glibc() -> Any | None:
    """The process's C library when it is glibc (it has ``gnu_get_libc_version``), else ``None``."""
    try:
        libc = ctypes.CDLL(None)
    except (OSError, TypeError):  # Windows: no handle of the running program's symbols
        return None
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return None  # macOS, musl, ...: mallopt is absent or has other parameters
    return libc


def tune_allocator(mode: str | None = None) -> AllocatorStatus:
    """Make glibc's malloc keep freed memory for reuse; returns what it did (never raises for the platform).

    Args:
        mode: ``tuned`` or ``system`` (do nothing); ``None``: ``SPIKEFORGE_ALLOCATOR``, else ``tuned``.
            An explicit ``mode`` is still overridden by ``SPIKEFORGE_ALLOCATOR`` when that is set.
    Returns:
        The :class:`AllocatorStatus`, also kept for :func:`allocator_status`.

    Call it once, early (before the first training step); calling it again is harmless. The
    setting is process-wide and cannot be undone for memory already allocated.
    """
    global _status
    mode = requested_allocator(mode)
    if mode == "system":
        source = f"{ALLOCATOR_ENV}=system" if os.environ.get(ALLOCATOR_ENV) else "run.allocator: system"
        _status = AllocatorStatus("system", False, f"system allocator ({source})")
        return _status
    libc = _glibc()
    if libc is None:
        _status = AllocatorStatus("tuned", False, "system allocator (the C library is not glibc)")
        return _status
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    refused = [name for name, param, value in GLIBC_SETTINGS if libc.mallopt(param, value) != 1]
    settings = ", ".join(f"{name}={value // _MIB} MiB" for name, _, value in GLIBC_SETTINGS)
    if refused:
        _status = AllocatorStatus("tuned", False, f"glibc mallopt refused {', '.join(refused)} (of {settings})")
    else:
        _status = AllocatorStatus("tuned", True, f"glibc mallopt: {settings}")
    return _status


def worker_init(mode: str, *_: object) -> None:
    """Repeat a parent's set-up in a process SpikeForge started (DataLoader worker, study worker).

    ``mode`` is the parent's :attr:`AllocatorStatus.mode`; extra arguments (a DataLoader worker
    id) are ignored. Bind it with ``functools.partial(worker_init, mode)``.
    """
    if mode == "tuned":
        tune_allocator("tuned")
