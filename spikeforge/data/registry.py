"""Dataset registry: configs name datasets by string.

Every built-in dataset lives in one module of :mod:`spikeforge.data.datasets` that declares
``DATASETS = (DatasetInfo(...), ...)``: its name, kind, classes, builder, options dataclass and
on-disk layout, together. This module collects them (every public module of that package, and
the reproduction study's :mod:`spikeforge.reproduce.data`, on the first lookup); nothing else
fills the registry. Users add their own with :func:`register_dataset`.

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
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Mapping
from typing import Any, Literal

from torch.utils.data import Dataset

from ..errors import UserError, values_checked_as_user_errors
from .errors import EmptySplitError

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "Layout",
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

    def defaults(self) -> dict[str, Any]:
        """Option names the dataset accepts, with their defaults."""
        if self.options_type is not None:
            return {f.name: _default(f) for f in dataclasses.fields(self.options_type)}
        params = inspect.signature(self.builder).parameters
        return {n: p.default for n, p in params.items() if n not in ("root", "split", "T")}

    def options(self) -> list[str]:
        """Option names the builder accepts beyond ``root``, ``split`` and ``T``."""
        return sorted(self.defaults())

    def parse_options(self, options: Mapping[str, Any]) -> Any:
        """``options`` checked against the allowed names (and validated into ``options_type``).

        Raises:
            UserError: an unknown option, or (from the options dataclass) a bad value.
        """
        allowed = self.options()
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise UserError(f"dataset {self.name!r} has no option {unknown}; allowed: {allowed}")
        if self.options_type is None:
            return dict(options)
        with values_checked_as_user_errors(f"dataset {self.name!r}: "):  # the dataclass's own checks
            return self.options_type(**options)


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


DATASETS: dict[str, DatasetInfo] = {}
_BUILTIN_PACKAGE = f"{__package__}.datasets"
# Collected with the built-ins: the reproduction study's datasets, so that `spikeforge train` finds them too.
_STUDY_MODULE = "spikeforge.reproduce.data"
_loaded = False


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
) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    """Decorator registering a builder under ``name`` (see the module docstring for its signature)."""

    def wrap(builder: Callable[..., Dataset]) -> Callable[..., Dataset]:
        DATASETS[name] = DatasetInfo(
            name, kind, num_classes, builder, needs_root, description, options_type, default_T, layout
        )
        return builder

    return wrap


def _load_builtin() -> None:
    """Collect ``DATASETS`` of every public module of :mod:`spikeforge.data.datasets` and of the study (once).

    A user's dataset registered under a built-in name before the first lookup keeps its place.
    """
    global _loaded
    if _loaded:
        return
    package = importlib.import_module(_BUILTIN_PACKAGE)
    modules = [
        f"{_BUILTIN_PACKAGE}.{m.name}" for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")
    ]
    for name in [*modules, _STUDY_MODULE]:
        for info in importlib.import_module(name).DATASETS:
            DATASETS.setdefault(info.name, info)
    _loaded = True


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry of ``name``; :class:`~spikeforge.errors.UserError` (a ``ValueError``) with the
    known names otherwise."""
    _load_builtin()
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name]


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
