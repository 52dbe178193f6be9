"""What a neuron kind is (:class:`NeuronKind`) and the registry of kinds; the kinds themselves are one module
each in :mod:`spikeforge.neuron.kinds` (``if_``, ``lif``, ``cuba``, ``plif``, ...), found automatically.

A kind is what differs between neurons in the *charge* step (``H[t]`` from ``V[t-1]`` and
``X[t]``); fire and reset are the same for every kind (:mod:`spikeforge.neuron.reference`).
Each module of :mod:`spikeforge.neuron.kinds` declares ``KIND = NeuronKind(...)``:

* ``params``: a ``NamedTuple`` of the kind's named parameters with their defaults (LIF's
  ``tau`` and ``decay_input``, CUBA's ``alpha_i`` and ``alpha_v``); a value may be a tensor
  when the node learns it (PLIF's ``w``);
* ``prepare`` / ``charge``: the reference step, plain PyTorch; ``prepare(params, state_dtype)``
  turns the parameters into what ``charge`` multiplies by, once per call (LIF rounds ``1/tau``
  once, :func:`~spikeforge.neuron.reference.leak_factor`), and ``charge(prepared, v, i, x, v_rest)``
  returns ``(H, I)``;
* ``node``: the ``nn.Module`` a config's ``neuron: {type: <name>}`` builds;
* ``fused`` (optional): the fused kernels opt in, naming the backends that run this kind and
  how its parameters map onto the kernels' (:class:`FusedKernels`). A kind without it runs on
  the reference only: ``backend="auto"`` falls back to it with one log line, a fused backend
  named explicitly is refused when the node is built.

:data:`NEURON_KINDS` collects every public module of :mod:`spikeforge.neuron.kinds` on its first lookup
(as :mod:`spikeforge.data.datasets` does), so a new kind is one new module there; a third-party
package calls :func:`register_neuron_kind` (directly or from a ``spikeforge.plugins`` entry point).
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch

from ..registry import Registry

if TYPE_CHECKING:
    from ..nodes import BaseNode

__all__ = ["NEURON_KINDS", "FusedKernels", "NeuronKind", "neuron_kind", "register_neuron_kind"]

#: ``charge(prepared, v, i, x, v_rest) -> (H, I)``: one step for tensors ``[B, ...]`` in the state dtype;
#: ``i`` is ``None`` for a kind without a synaptic current (and is returned as ``None``).
Charge = Callable[
    [Any, torch.Tensor, "torch.Tensor | None", torch.Tensor, float], "tuple[torch.Tensor, torch.Tensor | None]"
]


@dataclasses.dataclass(frozen=True)
class FusedKernels:
    """A kind's opt-in to the fused kernels (``spikeforge.neuron.ops``).

    Attributes:
        backends: the fused backends that run this kind (``{"cpu", "triton"}``).
        step: which of the kernels' charge steps runs these parameters: a name in
            :data:`spikeforge.neuron.ops.spec.KERNEL_STEPS` (``"lif_decay_input"``, ...).
        constants: the kernel constants these parameters set, by the kernels' names
            (:data:`spikeforge.neuron.ops.spec.KERNEL_CONSTANTS`: ``tau``, ``alpha_i``, ``alpha_v``).
    """

    backends: frozenset[str]
    step: Callable[[Any], str]
    constants: Callable[[Any], Mapping[str, float]]


def _prepared_as_is(params: Any, dtype: torch.dtype) -> Any:
    return params


@dataclasses.dataclass(frozen=True)
class NeuronKind:
    """One neuron kind (see the package docstring).

    Attributes:
        name: the config's ``neuron.type`` (``"lif"``).
        params: ``NamedTuple`` type of the kind's named parameters, with defaults.
        charge: the reference charge step.
        node: the node class (a :class:`~spikeforge.neuron.nodes.BaseNode` subclass).
        prepare: the per-call constants ``charge`` takes (default: the parameters themselves).
        has_current: the kind keeps a synaptic current ``I`` beside ``V`` (CUBA).
        fused: the fused kernels' opt-in, or ``None`` (reference only).
        description: one line for listings.
    """

    name: str
    params: type[Any]
    charge: Charge
    node: type[BaseNode]
    prepare: Callable[[Any, torch.dtype], Any] = _prepared_as_is
    has_current: bool = False
    fused: FusedKernels | None = None
    description: str = ""

    def make_params(self, **values: Any) -> Any:
        """The kind's parameters from ``values`` (defaults for the missing ones); an unknown name is a ``TypeError``."""
        return self.params(**values)

    def fused_backends(self) -> frozenset[str]:
        """The fused backends that opted in (empty: reference only)."""
        return frozenset() if self.fused is None else self.fused.backends


_KINDS_PACKAGE = f"{__package__}.kinds"


def _builtin_kinds() -> None:
    # every public module of spikeforge.neuron.kinds declares KIND; a new kind is one new module there
    package = importlib.import_module(_KINDS_PACKAGE)
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            kind = importlib.import_module(f"{_KINDS_PACKAGE}.{module.name}").KIND
            NEURON_KINDS.add(kind.name, kind)


#: Every neuron kind by name (the config's ``neuron.type``).
NEURON_KINDS: Registry[NeuronKind] = Registry("neuron type", builtins=_builtin_kinds)


def register_neuron_kind(kind: NeuronKind, *, replace: bool = False) -> NeuronKind:
    """Register ``kind`` under ``kind.name`` (a third-party kind; the built-ins register themselves)."""
    return NEURON_KINDS.add(kind.name, kind, replace=replace)


def neuron_kind(name: str) -> NeuronKind:
    """The kind named ``name``; :class:`~spikeforge.errors.UserError` listing the known names otherwise."""
    return NEURON_KINDS.get(name)
