"""Dataset registry: configs name datasets by string.

Every built-in dataset lives in one module of :mod:`spikeforge.data.datasets` that declares
``DATASETS = (DatasetInfo(...), ...)``: its name, kind, classes, builder, options dataclass and
on-disk layout, together. This module collects them (every public module of that package, on
the first lookup); nothing else fills it with built-ins. Users and plug-ins (the reproduction
study's too, :mod:`spikeforge.reproduce.plugin`) add theirs with :func:`register_dataset`; a
name already taken is refused unless ``replace=True``.

A builder is called as ``builder(root=..., split="train"|"test", T=..., options=...)`` when the
dataset declares an ``options`` dataclass (the options are validated into it first), else as
``builder(root=..., split=..., T=..., **options)`` with the keyword options of its signature. It
returns a ``torch.utils.data.Dataset`` whose items are ``(x, y)``:

* ``kind="static"``: ``x`` is ``[C, H, W]`` (or ``[F]``), the engine's encoder makes it
  ``[T, ...]`` (direct repetition or Poisson);
* ``kind="sequence"``: ``x`` is already ``[T, ...]`` (event frames, binned spikes, a
  time series); the engine only moves the time axis first.

``y`` is an ``int`` class index. Options are ``data.options`` in a YAML config; unknown options
fail with the allowed list (:func:`check_options` does this without building anything).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from typing import Any, Literal

from torch.utils.data import Dataset

from ..errors import UserError
from ..registry import Registry, option_defaults, options_from_signature, parse_options
from .errors import EmptySplitError

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "Layout",
    "add_dataset",
    "build_dataset",
    "check_options",
    "dataset_info",
    "register_dataset",
]


@dataclasses.dataclass(frozen=True)
class Layout:
    """What ``spikeforge data info`` shows for a dataset.

    Attributes:
        summary: one line (used in error messages).
        tree: the expected folder tree, several lines.
        probe: ``(root, split) -> description`` of what was found; raises
            :class:`DatasetNotFoundError` when missing and :class:`DataFormatError` when corrupt.
    """

    summary: str
    tree: str
    probe: Callable[[str, str], str]


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What the engine needs to know about a dataset before loading it.

    Attributes:
        name: registry name.
        kind: ``"static"`` or ``"sequence"`` (see the module docstring).
        num_classes: number of classes.
        builder: the function that builds a split.
        needs_root: whether ``root`` must point at files on disk.
        description: one line for ``spikeforge data list``.
        options_type: frozen dataclass of the options (the builder then takes ``options=``), or
            ``None`` for a builder whose keyword arguments are the options.
        default_T: ``T`` when the config gives none (``None``: the builder decides).
        layout: the expected files, for ``spikeforge data info`` (``None``: nothing on disk).
    """

    name: str
    kind: Literal["static", "sequence"]
    num_classes: int
    builder: Callable[..., Dataset]
    needs_root: bool = True
    description: str = ""
    options_type: type | None = None
    default_T: int | None = None
    layout: Layout | None = None

    def schema(self) -> type:
        """The options dataclass: ``options_type``, or the one derived from the builder's keyword options."""
        if self.options_type is not None:
            return self.options_type
        return _signature_schema(self.name, self.builder)

    def defaults(self) -> dict[str, Any]:
        """Option names the dataset accepts, with their defaults."""
        return option_defaults(self.schema())

    def options(self) -> list[str]:
        """Option names the builder accepts beyond ``root``, ``split`` and ``T``."""
        return sorted(self.defaults())

    def parse_options(self, options: Mapping[str, Any]) -> Any:
        """``options`` checked against the allowed names and validated into the options dataclass
        (for a builder with keyword options: the checked mapping).

        Raises:
            UserError: an unknown option, or (from the options dataclass) a bad value.
        """
        parsed = parse_options(f"dataset {self.name!r}", self.schema(), options)
        return parsed if self.options_type is not None else dict(options)


@functools.cache
def _signature_schema(name: str, builder: Callable[..., Dataset]) -> type:
    return options_from_signature(name, builder, skip=("root", "split", "T"))  # build_dataset passes those


_BUILTIN_PACKAGE = f"{__package__}.datasets"


def _collect_builtin() -> None:
    """Register the ``DATASETS`` of every public module of :mod:`spikeforge.data.datasets` (the registry
    calls this once, on its first lookup)."""
    package = importlib.import_module(_BUILTIN_PACKAGE)
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            for info in importlib.import_module(f"{_BUILTIN_PACKAGE}.{module.name}").DATASETS:
                DATASETS.add(info.name, info)


DATASETS: Registry[DatasetInfo] = Registry("dataset", builtins=_collect_builtin)


def add_dataset(info: DatasetInfo, *, replace: bool = False) -> DatasetInfo:
    """Register a :class:`DatasetInfo`; a name already taken (by a built-in too) raises ``ValueError``
    unless ``replace=True``."""
    DATASETS.load()  # the built-ins first: a name they take is refused here, not when they load
    return DATASETS.add(info.name, info, replace=replace)


def register_dataset(
    name: str,
    kind: Literal["static", "sequence"],
    num_classes: int,
    *,
    needs_root: bool = True,
    description: str = "",
    options_type: type | None = None,
    default_T: int | None = None,
    layout: Layout | None = None,
    replace: bool = False,
) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    """Decorator registering a builder under ``name`` (see the module docstring for its signature).

    A name already registered (a built-in's too) raises ``ValueError`` unless ``replace=True``.
    """

    def wrap(builder: Callable[..., Dataset]) -> Callable[..., Dataset]:
        info = DatasetInfo(name, kind, num_classes, builder, needs_root, description, options_type, default_T, layout)
        add_dataset(info, replace=replace)
        return builder

    return wrap


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry of ``name``; :class:`~spikeforge.errors.UserError` (a ``ValueError``) with the
    known names otherwise."""
    return DATASETS.get(name)


def check_options(name: str, options: Mapping[str, Any]) -> None:
    """Validate a dataset name and its options without reading any data (for configs at load time)."""
    dataset_info(name).parse_options(options)


def build_dataset(name: str, split: str, root: str | None = None, T: int | None = None, **options: Any) -> Dataset:
    """Build the ``split`` (``"train"`` or ``"test"``) of dataset ``name``.

    Raises:
        UserError: unknown dataset, split or option, a bad option value or T.
        DatasetNotFoundError, DataFormatError: missing or corrupt files.
        EmptySplitError: the split holds no samples (checked here, before any training).
    """
    info = dataset_info(name)
    if split not in ("train", "test"):
        raise UserError(f"split must be 'train' or 'test', got {split!r}")
    parsed = info.parse_options(options)
    if T is not None and (isinstance(T, bool) or not isinstance(T, int) or T < 1):
        raise UserError(f"dataset {name!r}: T must be a positive integer, got {T!r}")
    if info.needs_root and not root:
        raise UserError(f"dataset {name!r} reads files from disk: set data.root to the folder that holds it")
    T = info.default_T if T is None else T
    if info.options_type is None:
        dataset = info.builder(root=root, split=split, T=T, **parsed)
    else:
        dataset = info.builder(root=root, split=split, T=T, options=parsed)
    if hasattr(dataset, "__len__") and len(dataset) == 0:  # an IterableDataset may have no length
        where = f" under {root!r}" if root else ""
        raise EmptySplitError(
            f"dataset {name!r}: the {split} split{where} holds no samples, so the {split} split is empty: "
            "check data.root and data.options"
        )
    return dataset
