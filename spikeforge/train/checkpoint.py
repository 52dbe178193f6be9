"""Atomic checkpoints that resume exactly, loaded with safe deserialisation.

A checkpoint holds the model, optimiser, scheduler and AMP scaler states, the epoch, the
best accuracy, the resolved config and every RNG state (torch CPU and CUDA, NumPy, Python),
so that an interrupted and resumed run ends with the same weights as an uninterrupted one.
Everything is stored as tensors and plain Python values so that ``torch.load`` can run with
``weights_only=True`` (no arbitrary code from a checkpoint file).
"""

from __future__ import annotations

import math
import os
import pickle
import random
import re
import tempfile
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import torch

from ..errors import MissingFileError, RunFolderError, SpikeForgeError

__all__ = [
    "CheckpointError",
    "find_nonfinite",
    "get_rng_state",
    "load_checkpoint",
    "load_model_state",
    "save_checkpoint",
    "set_rng_state",
]


class CheckpointError(SpikeForgeError, ValueError):
    """A checkpoint file is empty, truncated, not a weights-only file, or does not fit the model."""


def get_rng_state() -> dict[str, Any]:
    _, keys, pos, has_gauss, cached = cast(tuple, np.random.get_state())  # the legacy tuple form
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "python": _to_lists(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_lists(x: Any) -> Any:
    return [_to_lists(v) for v in x] if isinstance(x, tuple | list) else x


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically: a crash leaves the old file or the new one, never half of one.

    A failed write (disk full, read-only folder) removes its temporary file, leaves the old
    checkpoint as it was and raises :class:`~spikeforge.errors.RunFolderError` with one line.
    """
    from .runfolder import os_error_message

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise RunFolderError(os_error_message(exc, path)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            writer = _WriteErrors(f)
            try:
                torch.save(payload, cast(IO[bytes], writer))  # the file protocol torch uses
            except RuntimeError:
                # torch's zip writer swallows the OSError of a failed write (disk full: ENOSPC) and raises
                # "[enforce fail at inline_container.cc] unexpected pos ..." instead: report the OSError
                if writer.error is not None:
                    raise writer.error from None
                raise
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise RunFolderError(os_error_message(exc, path) + "; the previous file is kept") from None
        raise


class _WriteErrors:
    """A binary file for ``torch.save`` that remembers the ``OSError`` of a failed write (see save_checkpoint)."""

    def __init__(self, file: Any) -> None:
        self.file = file
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self.file.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def flush(self) -> None:
        self.file.flush()

    def tell(self) -> int:
        return self.file.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.file.seek(offset, whence)


def _reason(exc: BaseException) -> str:
    """The informative line of a ``torch.load`` failure (the weights-only unpickler buries it mid-message)."""
    text = str(exc).strip()
    if isinstance(exc, pickle.UnpicklingError) or "weights only load failed" in text.lower():
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        for i, line in enumerate(lines):
            if re.search(r"unsupported global|weightsunpickler error|not an allowed global", line, re.IGNORECASE):
                line = line.split("WeightsUnpickler error:", 1)[-1].strip()
                if not line and i + 1 < len(lines):  # "... WeightsUnpickler error: \n\nUnsupported operand 109"
                    line = lines[i + 1]
                return f"it is not a plain weights file ({line}); checkpoints are loaded without running their code"
        return "it is not a plain weights file; checkpoints are loaded without running their code"
    first = next((line for line in text.splitlines() if line.strip()), "").split(". ")[0]
    if "central directory" in first or isinstance(exc, EOFError | KeyError):
        return f"the file is truncated or corrupt ({type(exc).__name__}{': ' + first[:160] if first else ''})"
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__


#: how torch's files begin: a zip archive (torch >= 1.6) or a pickle with protocol >= 2 (the legacy format)
_TORCH_FILE_STARTS = (b"PK\x03\x04", b"\x80")


def _foreign_file(path: Path) -> str:
    """Why ``path`` cannot be a torch checkpoint at all (a text file, say), or ``""`` when it may be one.

    Without this, torch hands such a file to its unpickler, whose "weights only load failed ... please file
    an issue" message is about pickles, not about a file of another kind."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        return f"cannot read it ({exc.strerror})"
    if head.startswith(_TORCH_FILE_STARTS):
        return ""
    line = head.split(b"\n", 1)[0]
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and text.isprintable():
        return f"it is a text file, not a PyTorch checkpoint (it starts with {text[:40]!r})"
    return f"it is not a PyTorch checkpoint (it starts with the bytes {head[:8].hex(' ')})"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; one-line :class:`CheckpointError` for empty,
    truncated, foreign or hostile files (naming the real reason, e.g. an unsupported global)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"checkpoint not found: {path}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror}") from None
    if size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): its write was interrupted or the copy failed")
    foreign = _foreign_file(path)
    if foreign:
        raise CheckpointError(f"cannot load checkpoint {path}: {foreign}")
    try:
        out = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise CheckpointError(f"cannot load checkpoint {path}: {_reason(exc)}") from None
    if not isinstance(out, dict):
        raise CheckpointError(f"cannot load checkpoint {path}: it holds a {type(out).__name__}, not a mapping")
    return out


def load_model_state(model: torch.nn.Module, state: Any, path: str | Path) -> None:
    """``model.load_state_dict(state)`` with a one-line :class:`CheckpointError` when they do not fit."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: the checkpoint holds no model state")
    _materialize_from(model, state, path)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: checkpoint {list(state[k].shape)}, model {list(own[k].shape)}"
        for k in own
        if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    problems = (
        [f"size mismatch for {s}" for s in shapes]
        + [f"missing {k}" for k in missing]
        + [f"unexpected {k}" for k in unexpected]
    )
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CheckpointError(
            f"{path} does not fit the model its config builds: {problems[0]}{more}; "
            "was the config changed after this checkpoint was written?"
        )
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{path} does not fit the model: {str(exc).strip().splitlines()[-1].strip()}") from None


def _materialize_from(model: torch.nn.Module, state: dict[str, Any], path: str | Path) -> None:
    """Give lazily shaped neuron parameters (created at the first forward) the shapes the checkpoint holds,
    so that weights can be checked and loaded before any data exists to run that forward."""
    from ..neuron.nodes import is_neuron

    for name, module in model.named_modules():
        if is_neuron(module) and not module.is_materialized():
            prefix = f"{name}." if name else ""
            module._materialize_from_state_dict(state, prefix)
            if not module.is_materialized():
                raise CheckpointError(
                    f"{path} does not fit the model its config builds: missing the learnable neuron parameters of "
                    f"{name or '<root>'}; was the config changed after this checkpoint was written?"
                )


def find_nonfinite(tensors: dict[str, Any]) -> tuple[str, int, int] | None:
    """The first floating tensor of ``{name: tensor}`` holding NaN or inf: ``(name, bad count, numel)``."""
    for name, t in tensors.items():
        if isinstance(t, torch.Tensor) and (t.is_floating_point() or t.is_complex()) and t.numel():
            finite = torch.isfinite(t)
            if not bool(finite.all()):
                return name, int((~finite).sum()), t.numel()
        elif isinstance(t, float) and not math.isfinite(t):
            return name, 1, 1
    return None
