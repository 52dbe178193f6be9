"""Build neurons from a plain mapping (a YAML ``neuron:`` section).

Example::

    build_neuron({"type": "lif", "tau": 2.0, "v_reset": None, "imp": "learn",
                  "v_threshold": "learn", "surrogate": {"name": "sigmoid", "alpha": 4}})

Models take such a mapping and call :func:`build_neuron` for every spiking layer, so one
config section sets the dynamics of the whole network. ``feature_shape`` may be added
per layer by the model.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..errors import UserError, values_checked_as_user_errors
from .kind_spec import NEURON_KINDS
from .nodes import BaseNode

__all__ = ["NEURON_TYPES", "build_neuron", "neuron_maker", "neuron_options"]


class _NodeTypes(Mapping[str, type[BaseNode]]):
    """``{type: node class}`` of every registered neuron kind (a live view of ``NEURON_KINDS``)."""

    def __getitem__(self, name: str) -> type[BaseNode]:
        if name not in NEURON_KINDS:
            raise KeyError(name)
        return NEURON_KINDS.get(name).node

    def __iter__(self) -> Iterator[str]:
        return iter(NEURON_KINDS.names())

    def __len__(self) -> int:
        return len(NEURON_KINDS)


NEURON_TYPES: Mapping[str, type[BaseNode]] = _NodeTypes()


def neuron_options(kind: str) -> list[str]:
    """The keys a ``neuron:`` mapping of this ``type`` accepts."""
    cls = NEURON_TYPES[kind]
    names = set()
    for klass in (cls, BaseNode):
        names |= {
            p.name
            for p in inspect.signature(klass.__init__).parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"
        }
    return sorted(names)


def build_neuron(cfg: Mapping[str, Any] | None = None, **overrides: Any) -> BaseNode:
    """A neuron module from ``cfg`` (key ``type``: a registered kind, :mod:`spikeforge.neuron.kinds`; default ``lif``)
    plus ``overrides``.

    Raises:
        UserError: an unknown type or option, or a value the neuron rejects (``tau <= 1``, an
            unknown surrogate, ...): the mapping comes from a config or the command line.
    """
    opts = dict(cfg or {})
    opts.update(overrides)
    kind = str(opts.pop("type", "lif")).lower()
    if kind not in NEURON_TYPES:
        raise UserError(f"neuron.type must be one of {sorted(NEURON_TYPES)}, got {kind!r}")
    allowed = neuron_options(kind)
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise UserError(f"neuron has no option {unknown} for type {kind!r}; allowed: {allowed}")
    with values_checked_as_user_errors():  # the node's own checks; its constructors stay plain-Python
        return NEURON_TYPES[kind](**opts)


def neuron_maker(cfg: Mapping[str, Any] | None) -> Callable[..., BaseNode]:
    """A factory ``make(**overrides) -> BaseNode`` bound to ``cfg``; validates ``cfg`` once, now."""
    build_neuron(cfg)  # fail early on a bad config
    return lambda **overrides: build_neuron(cfg, **overrides)
