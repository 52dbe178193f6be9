"""Dataset registry: configs name datasets by string.

A dataset builder is registered with :func:`register_dataset` and called as
``builder(root=..., split="train"|"test", T=..., **options)``; it returns a
``torch.utils.data.Dataset`` whose items are ``(x, y)``:

* ``kind="static"``: ``x`` is ``[C, H, W]`` (or ``[F]``), the engine's encoder makes it
  ``[T, ...]`` (direct repetition or Poisson);
* ``kind="sequence"``: ``x`` is already ``[T, ...]`` (event frames, binned spikes, a
  time series); the engine only moves the time axis first.

``y`` is an ``int`` class index. The builder's keyword arguments are the dataset's
options (``data.options`` in a YAML config); unknown options fail with the allowed list.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
from collections.abc import Callable
from typing import Any, Literal

from torch.utils.data import Dataset

__all__ = ["DATASETS", "DatasetInfo", "build_dataset", "dataset_info", "register_dataset"]


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What the engine needs to know about a dataset before loading it.

    Attributes:
        name: registry name.
        kind: ``"static"`` or ``"sequence"`` (see the module docstring).
        num_classes: number of classes.
        builder: the registered function.
        needs_root: whether ``root`` must point at files on disk.
        description: one line for ``spikeforge data info``.
    """

    name: str
    kind: Literal["static", "sequence"]
    num_classes: int
    builder: Callable[..., Dataset]
    needs_root: bool = True
    description: str = ""

    def options(self) -> list[str]:
        """Option names the builder accepts beyond ``root``, ``split`` and ``T``."""
        params = inspect.signature(self.builder).parameters
        return sorted(n for n in params if n not in ("root", "split", "T"))


DATASETS: dict[str, DatasetInfo] = {}
_BUILTIN_MODULES = ("embedded", "static", "events", "simulate")


def register_dataset(
    name: str,
    kind: Literal["static", "sequence"],
    num_classes: int,
    *,
    needs_root: bool = True,
    description: str = "",
) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    """Decorator registering ``builder(root, split, T, **options) -> Dataset`` under ``name``."""

    def wrap(builder: Callable[..., Dataset]) -> Callable[..., Dataset]:
        DATASETS[name] = DatasetInfo(name, kind, num_classes, builder, needs_root, description)
        return builder

    return wrap


def _load_builtin() -> None:
    # Importing the modules registers their datasets (imported lazily: readers pull in h5py etc.).
    for module in _BUILTIN_MODULES:
        if importlib.util.find_spec(f"{__package__}.{module}") is not None:
            importlib.import_module(f"{__package__}.{module}")


def dataset_info(name: str) -> DatasetInfo:
    _load_builtin()
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name]


def build_dataset(name: str, split: str, root: str | None = None, T: int | None = None, **options: Any) -> Dataset:
    """Build the ``split`` (``"train"`` or ``"test"``) of dataset ``name``."""
    info = dataset_info(name)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    allowed = info.options()
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"dataset {name!r} has no option {unknown}; allowed: {allowed}")
    if info.needs_root and not root:
        raise ValueError(f"dataset {name!r} reads files from disk: set data.root to the folder that holds it")
    return info.builder(root=root, split=split, T=T, **options)
