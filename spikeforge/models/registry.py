"""Model registry: configs name models by string.

A builder is registered with :func:`register_model` and called as ``builder(**kwargs)``;
it returns an ``nn.Module`` mapping time-first input ``[T, B, ...]`` to ``[T, B, K]``.
Its keyword arguments are the model's options (``model.options`` in a YAML config); an
unknown option fails with the list of allowed ones. Every builder takes ``neuron``: a
``neuron:`` mapping (see :func:`spikeforge.neuron.factory.build_neuron`) that sets the
dynamics of every spiking layer, or ``None`` for the model's paper default
(:attr:`ModelInfo.default_neuron`). A given mapping *replaces* the default, it is not
merged with it, so a config file states the whole neuron.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from ..errors import UserError, values_checked_as_user_errors

__all__ = ["MODELS", "ModelInfo", "build_model", "list_models", "model_info", "register_model"]


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the engine and the CLI need to know about a registered model.

    Attributes:
        name: registry name.
        builder: the registered function.
        description: one line, as :func:`list_models` gives it.
        input_shape: shape of one time step of one sample at the default options,
            e.g. ``(3, 224, 224)``; the model takes ``[T, B, *input_shape]``.
        default_neuron: the neuron mapping used when ``neuron`` is not given.
    """

    name: str
    builder: Callable[..., nn.Module]
    description: str
    input_shape: tuple[int, ...]
    default_neuron: Mapping[str, Any]

    def options(self) -> list[str]:
        """The keyword arguments the builder accepts."""
        params = inspect.signature(self.builder).parameters.values()
        return sorted(p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))

    def defaults(self) -> dict[str, Any]:
        """The builder's default value of every option."""
        params = inspect.signature(self.builder).parameters.values()
        return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


MODELS: dict[str, ModelInfo] = {}


def register_model(
    name: str, *, description: str, input_shape: tuple[int, ...], default_neuron: Mapping[str, Any]
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering ``builder(**options) -> nn.Module`` under ``name``.

    The builder must list its options explicitly (no ``**kwargs``) so that unknown options
    can be reported, and must take ``neuron`` (``None`` meaning ``default_neuron``).
    """

    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in MODELS:
            raise ValueError(f"model {name!r} is already registered")
        params = inspect.signature(builder).parameters
        if "neuron" not in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
            raise TypeError(f"model builder {name!r} must take 'neuron' and list its options explicitly")
        MODELS[name] = ModelInfo(name, builder, description, tuple(input_shape), dict(default_neuron))
        return builder

    return wrap


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of ``name``; raises :class:`~spikeforge.errors.UserError` (a ``ValueError``)
    listing the known models."""
    if name not in MODELS:
        raise UserError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name]


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name`` with ``kwargs`` as its options.

    Raises:
        UserError: unknown model, an option the model does not have (the message names the
            model and lists its options), or a value its constructor rejects.
    """
    info = model_info(name)
    allowed = info.options()
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise UserError(f"model {name!r} has no option {unknown}; allowed: {allowed}")
    with values_checked_as_user_errors(f"model {name!r}: "):  # the constructors check their options
        return info.builder(**kwargs)


def list_models() -> dict[str, str]:
    """``{name: one-line description}`` of every registered model, sorted by name."""
    return {name: MODELS[name].description for name in sorted(MODELS)}
