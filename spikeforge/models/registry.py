"""Model registry: configs name models by string.

A builder is registered with :func:`register_model` and called as ``builder(**options)``; it
returns an ``nn.Module`` mapping time-first input ``[T, B, ...]`` to ``[T, B, K]``. Its keyword
arguments are the model's options (``model.options`` in a YAML config).

Why the builders spell out their parameters: a builder's signature *is* its options schema,
unless the model declares an options dataclass (``register_model(..., options=...)``, as the
SEW-ResNets do). The registry turns a signature into a typed options dataclass once, at
registration (:func:`spikeforge.registry.options_from_signature`), so an unknown option fails with
the list of allowed ones and ``spikeforge models NAME`` shows the defaults. That is why no such
builder takes ``**kwargs`` and why builders of similar networks repeat parameter lists: each list
is one model's schema, written once, next to the code that uses it.

Every builder takes ``neuron``: a ``neuron:`` mapping (see
:func:`spikeforge.neuron.factory.build_neuron`) that sets the dynamics of every spiking layer, or
``None`` for the model's paper default (:attr:`ModelInfo.default_neuron`). A given mapping
*replaces* the default, it is not merged with it, so a config file states the whole neuron.

Third-party models register with :func:`register_model` (an explicit call, or from a package's
``spikeforge.plugins`` entry point; see :mod:`spikeforge.registry`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from torch import nn

from ..errors import values_checked_as_user_errors
from ..registry import Registry, option_defaults, options_as_kwargs, options_from_signature, parse_options

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
        options_type: the typed options, a frozen dataclass derived from the builder's signature.
    """

    name: str
    builder: Callable[..., nn.Module]
    description: str
    input_shape: tuple[int, ...]
    default_neuron: Mapping[str, Any]
    options_type: type

    def options(self) -> list[str]:
        """The option names the builder accepts, sorted."""
        return sorted(f.name for f in dataclasses.fields(self.options_type))

    def defaults(self) -> dict[str, Any]:
        """The default value of every option that has one."""
        required = {f.name for f in dataclasses.fields(self.options_type) if _is_required(f)}
        return {k: v for k, v in option_defaults(self.options_type).items() if k not in required}

    def required(self) -> list[str]:
        """The options without a default (in the builder's order)."""
        return [f.name for f in dataclasses.fields(self.options_type) if _is_required(f)]


def _is_required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _builtin_models() -> None:
    from . import convnet, mlp, sew_resnet, vgg  # noqa: F401  each registers its models at import


MODELS: Registry[ModelInfo] = Registry("model", builtins=_builtin_models)
B = TypeVar("B", bound=Callable[..., nn.Module])


def register_model(
    name: str,
    *,
    description: str,
    input_shape: tuple[int, ...],
    default_neuron: Mapping[str, Any],
    options: type | None = None,
    replace: bool = False,
) -> Callable[[B], B]:
    """Decorator registering ``builder(**options) -> nn.Module`` under ``name``.

    The options take ``neuron`` (``None`` meaning ``default_neuron``). ``options``: a frozen dataclass
    declaring them (the builder is called with its fields as keywords); ``None``: the builder lists
    them explicitly in its signature (no ``**kwargs``). A taken name raises ``ValueError`` unless
    ``replace=True``.
    """

    def wrap(builder: B) -> B:
        options_type = options if options is not None else options_from_signature(name, builder)
        if "neuron" not in {f.name for f in dataclasses.fields(options_type)}:
            raise TypeError(f"model builder {name!r} must take 'neuron' and list its options explicitly")
        info = ModelInfo(name, builder, description, tuple(input_shape), dict(default_neuron), options_type)
        MODELS.add(name, info, replace=replace)
        return builder

    return wrap


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of ``name``; raises :class:`~spikeforge.errors.UserError` (a ``ValueError``)
    listing the known models."""
    return MODELS.get(name)


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name`` with ``kwargs`` as its options.

    Raises:
        UserError: unknown model, an option the model does not have (the message names the
            model and lists its options), or a value its constructor rejects.
    """
    info = model_info(name)
    owner = f"model {name!r}"
    options = parse_options(owner, info.options_type, kwargs)
    with values_checked_as_user_errors(f"{owner}: "):  # the constructors check their options' values
        return info.builder(**options_as_kwargs(options))


def list_models() -> dict[str, str]:
    """``{name: one-line description}`` of every registered model, sorted by name."""
    return {name: info.description for name, info in MODELS.items()}
