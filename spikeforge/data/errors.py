"""Errors a user can cause with the data on disk.

All are :class:`DataError` and carry one-line messages (the CLI prints them as they are): the
dataset or file, and what was expected.
"""

from __future__ import annotations

import os

from ..errors import SpikeForgeError

__all__ = ["DataError", "DataFormatError", "DatasetNotFoundError", "EmptySplitError"]


class DataError(SpikeForgeError):
    """Base of every data error a user can cause (bad file, missing dataset, empty split)."""


class DataFormatError(DataError, ValueError):
    """A data file is truncated, corrupt, or not in the format its reader expects.

    The message names the file and what was wrong, e.g.
    ``"/data/NMNIST/Train/3/00012.bin: 1234 bytes is not a multiple of 5 (40-bit events): truncated?"``.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str | None = None) -> None:
        if problem is None:  # one finished message, as DataLoader workers re-raise with ``type(exc)(message)``
            self.path, self.problem = None, os.fspath(path)
            super().__init__(self.problem)
            return
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):  # keeps both constructor forms picklable (worker processes)
        return type(self), ((self.path, self.problem) if self.path is not None else (self.problem,))


class DatasetNotFoundError(DataError, FileNotFoundError):
    """The files of a dataset are not where ``root`` says.

    The message names the dataset, the path that was searched and the expected layout
    (one line); ``spikeforge data info DATASET --root DIR`` prints the full layout.
    """

    def __init__(self, dataset: str, root: str | os.PathLike[str] | None = None, expected: str | None = None) -> None:
        self.dataset = dataset
        self.root = None if root is None else os.fspath(root)
        self.expected = expected
        if expected is None:  # one finished message (DataLoader workers re-raise with ``type(exc)(message)``)
            super().__init__(dataset)
            return
        super().__init__(
            f"dataset {dataset!r}: no data found under {self.root!r}; expected {expected} "
            f"(see `spikeforge data info {dataset}` for the full layout)"
        )

    def __reduce__(self):  # picklable across worker processes
        return type(self), (self.dataset, self.root, self.expected)

    def __str__(self) -> str:  # FileNotFoundError would print "[Errno None] ..." otherwise
        return self.args[0]


class EmptySplitError(DataError, ValueError):
    """A dataset split holds no samples, e.g. a test folder that is present but empty.

    Raised by :func:`spikeforge.data.build_dataset`, before any training starts.
    """
