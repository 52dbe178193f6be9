"""SpikeForge's own error classes: the errors a user can cause, printed by the CLI as one line.

Only these and their subclasses elsewhere (the data errors, ``ConfigError``,
``NeuronParameterError``, ``NIRConversionError``, ...) are shown as ``spikeforge: error: ...``;
any other exception is a bug and keeps its traceback. Each class also derives from the built-in type a caller would
catch (``ValueError``, ``FileNotFoundError``, ``RuntimeError``), so ``except ValueError``
keeps working.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = [
    "ConfigError",
    "MissingDependencyError",
    "MissingFileError",
    "RunFolderError",
    "SpikeForgeError",
    "UserError",
    "values_checked_as_user_errors",
]


class SpikeForgeError(Exception):
    """Base of every error a user can cause (a bad config, a damaged file, a busy run folder)."""


class UserError(SpikeForgeError, ValueError):
    """A bad argument or value given by the user; the message names it and what is allowed."""


class ConfigError(UserError):
    """A bad configuration: the message names the field and what is allowed.

    Also importable as ``spikeforge.train.config.ConfigError`` (the same class).
    """


class MissingFileError(SpikeForgeError, FileNotFoundError):
    """A file or folder the user named does not exist."""

    def __str__(self) -> str:  # FileNotFoundError would print "[Errno None] ..." for some constructions
        return str(self.args[0]) if self.args else "file not found"


class MissingDependencyError(SpikeForgeError, ModuleNotFoundError):
    """An optional package a feature needs is not installed; the message says which and how to install it.

    ``name`` is the missing module, as on :class:`ModuleNotFoundError`.
    """

    # ``name`` may be left out: DataLoader workers re-raise an error as ``type(exc)(message)``
    def __init__(self, message: str, name: str | None = None) -> None:
        super().__init__(message, name=name)


class RunFolderError(SpikeForgeError, RuntimeError):
    """A run folder cannot be used: in use by another process, already holding a run, damaged, not writable,
    or its checkpoint does not match its config."""


@contextlib.contextmanager
def values_checked_as_user_errors(prefix: str = "") -> Iterator[None]:
    """Inside the block, a ``ValueError``/``TypeError`` is a bad value the user gave: re-raised as
    :class:`UserError` with ``prefix`` before its message (a ``UserError`` passes unchanged).

    For the boundary where a user's mapping (a config section, a CLI option) reaches a plain-Python
    constructor that checks its own arguments (a dataset's options, a model, a neuron).
    """
    try:
        yield
    except UserError:
        raise
    except (ValueError, TypeError) as exc:
        raise UserError(f"{prefix}{exc}") from None
