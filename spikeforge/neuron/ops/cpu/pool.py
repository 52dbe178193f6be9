"""A cache of large CPU buffers for the kernels' outputs (spikes, ``grad_x``, traces).

Why: PyTorch's CPU allocator returns big tensors to the OS when they die (glibc maps
every allocation above 32 MB afresh), so each new 64 MB output pays ~16 ms of page faults
on its first write, several times the ~2 ms the kernel needs to write the same bytes
into memory that is already mapped. A training step allocates the same output shapes
again and again, so the CPU backend keeps the memory of dead outputs and hands it out
again, like PyTorch's CUDA caching allocator does on GPUs.

How: a buffer is created by the kernel library as a DLPack tensor whose deleter puts
the block back into the library's free list instead of freeing it; PyTorch calls that
deleter when the last reference to the tensor (and its views) goes away, so a block is
never reused while anything can still see it. Blocks are matched by size (rounded up to
2 MiB huge pages, requested with ``madvise(MADV_HUGEPAGE)``).

Only buffers of at least :data:`MIN_BYTES` use the pool; smaller ones are plain
``torch.empty`` (glibc already recycles those). Memory held by free blocks is capped:
``SPIKEFORGE_CPU_POOL_MB`` (default 256; ``0`` turns the pool off), or
:func:`set_limit`; :func:`empty_cache` releases it all.

Why 256 MiB: a library should not sit on more memory than its work needs. The embedded jobs' training steps keep
at most 112 MiB in the pool (``sim_events_convnet``'s network at ``[T=8, B=64, 2, 34, 34]``; the main job's
buffers are all below :data:`MIN_BYTES` and never reach it), so the cap never trims them
(``benchmarks/bench_pool.py``); larger networks whose outputs outgrow it raise it with the variable.
"""

from __future__ import annotations

import ctypes
import math
import os
import threading

import torch
import torch.utils.dlpack

from . import build

__all__ = ["MIN_BYTES", "empty", "empty_cache", "set_limit", "stats"]

MIN_BYTES = 4 << 20
_DEFAULT_LIMIT_MB = 256  # see the module docstring
_CAPSULE_NAME = b"dltensor"  # must outlive the capsules created with it
_DL_CODES = {
    torch.float32: (2, 32),
    torch.float64: (2, 64),
    torch.float16: (2, 16),
    torch.bfloat16: (4, 16),  # kDLBfloat
}

_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]

_init_lock = threading.Lock()
_limit_bytes: int | None = None


def _limit() -> int:
    global _limit_bytes
    if _limit_bytes is None:
        with _init_lock:
            if _limit_bytes is None:
                raw = os.environ.get("SPIKEFORGE_CPU_POOL_MB", str(_DEFAULT_LIMIT_MB))
                try:
                    mb = float(raw)
                except ValueError:
                    raise ValueError(f"SPIKEFORGE_CPU_POOL_MB must be a number of MiB, got {raw!r}") from None
                set_limit(int(mb * (1 << 20)))
    assert _limit_bytes is not None
    return _limit_bytes


def set_limit(nbytes: int) -> None:
    """Cap the bytes kept by free blocks (``0`` turns the pool off and frees its blocks)."""
    global _limit_bytes
    _limit_bytes = max(0, int(nbytes))
    build.library().sf_pool_set_limit(_limit_bytes)


def empty_cache() -> None:
    """Free every cached block (the limit stays as it is)."""
    limit = _limit()
    lib = build.library()
    lib.sf_pool_set_limit(0)
    lib.sf_pool_set_limit(limit)


def stats() -> dict[str, int]:
    """``cached_bytes`` held by free blocks, the ``limit_bytes``, and allocation ``hits``/``misses``."""
    _limit()
    out = (ctypes.c_int64 * 4)()
    build.library().sf_pool_stats(out)
    return {"cached_bytes": out[0], "limit_bytes": out[1], "hits": out[2], "misses": out[3]}


def empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised contiguous CPU tensor, from the pool when it is large enough."""
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < MIN_BYTES or dtype not in _DL_CODES or len(shape) > 8 or _limit() == 0:
        return torch.empty(shape, dtype=dtype)
    code, bits = _DL_CODES[dtype]
    dims = (ctypes.c_int64 * len(shape))(*shape)
    ptr = build.library().sf_pool_tensor(nbytes, len(shape), dims, code, bits)
    if not ptr:  # out of memory in aligned_alloc: let PyTorch report it its own way
        return torch.empty(shape, dtype=dtype)
    return torch.utils.dlpack.from_dlpack(_capsule_new(ptr, _CAPSULE_NAME, None))
