"""One registry type for everything a config names by string: neuron kinds, models, datasets,
losses, metrics and CLI commands.

Each of those owns one :class:`Registry` whose entries are that thing's own frozen *info*
dataclass (``ModelInfo``, ``DatasetInfo``, ...: a name, a typed options dataclass and a builder).
The registry itself only knows names:

* :meth:`Registry.add` refuses a name that is taken (``replace=True`` is the explicit override);
* :meth:`Registry.get` fails with a :class:`~spikeforge.errors.UserError` listing the known names;
* the built-ins are collected on the first lookup (``builtins``: a function that imports the modules
  that register them), so importing a registry costs nothing;
* third-party packages register through the ``spikeforge.plugins`` entry-point group: each entry
  point names a module (imported) or a callable (called with no arguments) that calls the public
  ``register_*`` functions. They are loaded once, after the built-ins, on the first lookup of any
  registry. An explicit call (``spikeforge.register_model(...)``) works too, no entry point needed.

Typed options: :func:`parse_options` turns a config mapping into an options dataclass, refusing
unknown names with the allowed list and re-raising the dataclass's own value checks as one-line
user errors; :func:`option_defaults` lists the fields with their defaults.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import logging
import types
from collections.abc import Callable, Iterator, Mapping
from importlib import metadata
from typing import Any, Generic, TypeVar

from .errors import UserError, values_checked_as_user_errors

__all__ = [
    "PLUGIN_GROUP",
    "Registry",
    "check_option_names",
    "load_plugins",
    "option_defaults",
    "options_as_kwargs",
    "options_from_signature",
    "parse_options",
]

log = logging.getLogger(__name__)

#: The entry-point group a third-party package declares to register its pieces, e.g. in its
#: ``pyproject.toml``: ``[project.entry-points."spikeforge.plugins"] mypkg = "mypkg.spikeforge_plugin"``.
PLUGIN_GROUP = "spikeforge.plugins"

E = TypeVar("E")
_REQUIRED: Any = object()  # no default given (None is a valid default)


class Registry(Generic[E]):
    """Named entries of one kind (``what``: ``"model"``, ``"loss"``, ...), in registration order.

    Args:
        what: the singular noun used in messages ("unknown model 'x'; choose one of [...]").
        builtins: called once before the first lookup to register the built-in entries (it
            imports their modules); ``None`` when they register at import.
    """

    def __init__(self, what: str, builtins: Callable[[], None] | None = None) -> None:
        self.what = what
        self._entries: dict[str, E] = {}
        self._builtins = builtins
        self._loading = False
        self._loaded = builtins is None

    # ------------------------------------------------------------------ filling
    def add(self, name: str, entry: E, *, replace: bool = False) -> E:
        """Register ``entry`` under ``name``; a taken name raises ``ValueError`` unless ``replace``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.what} name must be a non-empty string, got {name!r}")
        if name in self._entries and not replace:
            raise ValueError(f"{self.what} {name!r} is already registered (pass replace=True to override it)")
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> E:
        """Unregister ``name`` and return its entry (for tests and plugins that replace a built-in)."""
        self._ensure_loaded()
        return self._entries.pop(name)

    def _ensure_loaded(self) -> None:
        if self._loaded or self._loading:
            return
        self._loading = True  # a builtin module that looks itself up while loading must not recurse
        try:
            if self._builtins is not None:
                self._builtins()
            self._loaded = True
        finally:
            self._loading = False
        load_plugins()

    def load(self) -> None:
        """Collect the built-ins and the plugins now (any lookup does it first): a ``register_*`` function
        calls it so that a name a built-in takes is refused at once, not when the built-ins load."""
        self._ensure_loaded()

    # ------------------------------------------------------------------ lookup
    def get(self, name: str, default: Any = _REQUIRED) -> E:
        """The entry of ``name``; :class:`~spikeforge.errors.UserError` listing the known names otherwise,
        or ``default`` where one is given (as ``dict.get``)."""
        self._ensure_loaded()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            if default is not _REQUIRED:
                return default  # type: ignore[no-any-return]
            raise UserError(f"unknown {self.what} {name!r}; choose one of {self.names()}") from None

    def names(self, *, in_registration_order: bool = False) -> list[str]:
        """Every registered name, sorted (or in the order they were registered: built-ins first)."""
        self._ensure_loaded()
        return list(self._entries) if in_registration_order else sorted(self._entries)

    def items(self) -> list[tuple[str, E]]:
        """``(name, entry)`` pairs sorted by name."""
        self._ensure_loaded()
        return sorted(self._entries.items())

    def values(self) -> list[E]:
        """The entries, sorted by name."""
        return [entry for _, entry in self.items()]

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._entries

    def __getitem__(self, name: str) -> E:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {len(self._entries)} entries)"

    # ------------------------------------------------------------------ the dict face, for tests and old callers
    # (``monkeypatch.setitem(REGISTRY, name, entry)`` and ``REGISTRY.pop(name, None)`` keep working)
    def __setitem__(self, name: str, entry: E) -> None:
        self.add(name, entry, replace=True)

    def __delitem__(self, name: str) -> None:
        self.remove(name)

    def pop(self, name: str, default: Any = _REQUIRED) -> E:
        """Unregister ``name`` and return its entry (``default`` if it is not registered, where given)."""
        if default is not _REQUIRED and name not in self:
            return default  # type: ignore[no-any-return]
        return self.remove(name)


_loaded_groups: set[str] = set()


def load_plugins(group: str = PLUGIN_GROUP, *, again: bool = False) -> list[str]:
    """Load every installed entry point of ``group`` once (``again=True``: load them anew); returns
    the names loaded.

    A plugin that fails to import is a broken install of *that* package: the error names the
    entry point and the package so that the user knows what to fix or uninstall.
    """
    if group in _loaded_groups and not again:
        return []
    _loaded_groups.add(group)
    loaded = []
    for ep in metadata.entry_points(group=group):
        try:
            target = ep.load()
        except Exception as exc:  # the plugin's own bug: name it, keep the cause
            dist = getattr(ep.dist, "name", "?")
            raise ImportError(
                f"spikeforge plugin {ep.name!r} (package {dist!r}, {ep.value}) failed to load: {exc}"
            ) from exc
        if callable(target) and not isinstance(target, types.ModuleType):
            target()
        log.debug("loaded spikeforge plugin %s = %s", ep.name, ep.value)
        loaded.append(ep.name)
    return loaded


# ----------------------------------------------------------------------------- typed options
def options_from_signature(name: str, builder: Callable[..., Any], skip: tuple[str, ...] = ()) -> type:
    """The options dataclass of a builder that takes its options as keyword arguments.

    A builder (a model's, a loss class, a dataset's without an ``options`` dataclass) may spell out its
    options in its signature instead of declaring a dataclass: this is the one place where such a
    signature becomes the options schema, so the builder's parameter list *is* its ``options`` (no
    ``**kwargs``, else an unknown option could not be named). Each field keeps the parameter's annotation
    and default (a parameter without one is a required option); ``skip`` names the parameters the caller
    fills in itself (``root``, ``split``, ``T`` of a dataset). ``self`` of a class is left out.

    Raises:
        TypeError: the builder takes ``*args`` or ``**kwargs``.
    """
    fields: list[tuple[str, Any, Any]] = []
    for param in inspect.signature(builder).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"{name}: its builder must list its options explicitly, without *args or **kwargs")
        if param.name in skip or param.kind is param.POSITIONAL_ONLY:
            continue
        annotation = Any if param.annotation is param.empty else param.annotation
        if param.default is param.empty:
            fields.append((param.name, annotation, dataclasses.field()))
        elif type(param.default).__hash__ is None:  # a list or dict default: one copy per instance
            fields.append((param.name, annotation, dataclasses.field(default_factory=_copier(param.default))))
        else:
            fields.append((param.name, annotation, dataclasses.field(default=param.default)))
    class_name = "".join(part.title() for part in str(name).replace("-", "_").split("_")) + "Options"
    return dataclasses.make_dataclass(class_name, fields, frozen=True, kw_only=True)


def _copier(value: Any) -> Callable[[], Any]:
    return lambda: copy.deepcopy(value)


def options_as_kwargs(options: Any) -> dict[str, Any]:
    """An options dataclass as the keyword arguments of its builder (field by field, values not copied)."""
    return {field.name: getattr(options, field.name) for field in dataclasses.fields(options)}


def option_defaults(options_type: type) -> dict[str, Any]:
    """``{field: default}`` of an options dataclass (``None`` for a field without a default)."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(options_type):
        if field.default is not dataclasses.MISSING:
            out[field.name] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            out[field.name] = field.default_factory()
        else:
            out[field.name] = None
    return out


def parse_options(owner: str, options_type: type, options: Mapping[str, Any] | None) -> Any:
    """``options`` validated into ``options_type`` (a dataclass that checks its values in ``__post_init__``).

    Args:
        owner: what the options belong to, for messages, e.g. ``"model 'vgg11_48'"``.

    Raises:
        UserError: an option the dataclass has no field for (the message lists the allowed ones),
            or a value the dataclass rejects.
    """
    options = dict(options or {})
    check_option_names(owner, options_type, options)
    with values_checked_as_user_errors(f"{owner}: "):
        return options_type(**options)


def check_option_names(owner: str, options_type: type, options: Mapping[str, Any]) -> None:
    """Refuse a name in ``options`` that ``options_type`` has no field for (the values are not looked at:
    for a config whose run fills in some options later, e.g. a model's ``num_classes``).

    Raises:
        UserError: ``"<owner> has no option [...]; allowed: [...]"``.
    """
    allowed = sorted(f.name for f in dataclasses.fields(options_type))
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UserError(f"{owner} has no option {unknown}; allowed: {allowed}")
