"""Strict JSON for the analyses' and the study's result files.

Python's ``json`` writes ``NaN`` and ``Infinity``, which are not JSON (browsers, ``jq`` and most
readers refuse them); a diverged run or an epoch without a value is ``NaN`` here, so every
result file goes through :func:`jsonable`: non-finite floats become ``null``, NumPy scalars
plain numbers, tuples lists, and anything else JSON has no type for (paths) its ``str``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

__all__ = ["jsonable", "write_json"]


def jsonable(obj: Any) -> Any:
    """``obj`` with NaN/inf as ``None`` and NumPy scalars as Python numbers, recursively."""
    if hasattr(obj, "item") and getattr(obj, "shape", None) == ():  # a NumPy (or 0-d torch) scalar
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    return obj


def write_json(path: str | Path, obj: Any, *, indent: int = 1) -> Path:
    """Write ``obj`` as strict JSON (see :func:`jsonable`) and return the path."""
    path = Path(path)
    path.write_text(json.dumps(jsonable(obj), indent=indent, default=str, allow_nan=False))
    return path
