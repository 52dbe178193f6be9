"""CIFAR-10/100 "python version" batches: pickled dicts.

Layout (Krizhevsky, the dataset page)::

    cifar-10-batches-py/data_batch_1..5, test_batch    {b"data": uint8 [N, 3072], b"labels": [N]}
    cifar-100-python/train, test                      {b"data": ..., b"fine_labels": [N], b"coarse_labels": [N]}

``data`` rows are the red, green, blue 32x32 planes in row-major order. The files were
written by Python 2, so keys come back as bytes (``encoding="bytes"``). Unpickling can run
arbitrary code, so a restricted unpickler only allows what these files need: numpy arrays.
"""

from __future__ import annotations

import codecs
import os
import pickle

import numpy as np

from ..errors import DataFormatError

try:
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy < 2
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]

__all__ = ["read_cifar_batch"]

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),  # how Python 3 writes bytes in protocol-2 pickles
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are allowed)")
        if module == "_codecs":
            return codecs.encode
        # numpy 1 pickles name numpy.core, numpy 2 renamed it numpy._core: both mean the same objects
        return getattr(_multiarray if module.endswith("multiarray") else np, name)


def read_cifar_batch(path: str | os.PathLike[str], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 [N, 3, 32, 32], labels int64 [N])`` of one batch file.

    Args:
        path: the batch file.
        label_key: ``"labels"`` (CIFAR-10) or ``"fine_labels"`` (CIFAR-100).
    """
    try:
        with open(path, "rb") as fh:
            batch = _ArrayOnlyUnpickler(fh, encoding="bytes").load()
    except OSError:
        raise
    except Exception as exc:  # a corrupt pickle can fail in almost any way (EOFError, UnpicklingError, KeyError, ...)
        raise DataFormatError(path, f"not a readable CIFAR python batch ({type(exc).__name__}: {exc})") from None
    if not isinstance(batch, dict):
        raise DataFormatError(path, f"expected a pickled dict, found {type(batch).__name__}")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or label_key not in batch:
        raise DataFormatError(path, f"batch lacks 'data' or {label_key!r} (keys: {sorted(map(str, batch))})")
    data = np.asarray(batch["data"])
    try:
        labels = np.asarray(batch[label_key], dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise DataFormatError(path, f"{label_key!r} is not a list of integers") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataFormatError(path, f"'data' must be uint8 [N, 3072], found {data.dtype} {list(data.shape)}")
    if data.shape[0] != labels.shape[0]:
        raise DataFormatError(path, f"{data.shape[0]} images but {labels.shape[0]} labels")
    return data.reshape(-1, 3, 32, 32), labels
