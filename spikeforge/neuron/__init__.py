"""Multi-step spiking neurons with learnable initial membrane potential and threshold.

Every neuron kind's node class is importable from here by its name (``spikeforge.neuron.PLIFNode``),
found through :data:`~spikeforge.neuron.kind_spec.NEURON_KINDS`; the built-ins are listed below.
"""

from typing import Any

from . import surrogate
from .factory import build_neuron
from .kind_spec import NEURON_KINDS, FusedKernels, NeuronKind, register_neuron_kind
from .kinds.cuba import CUBALIFNode
from .kinds.if_ import IFNode
from .kinds.lif import LIFNode
from .nodes import BaseNode, NeuronParameterError, check_materialized, is_neuron, materialize
from .presets import PRESETS, neuron_preset, preset_names
from .reference import Dynamics, NeuronOutput, multistep

__all__ = [
    "BaseNode",
    "CUBALIFNode",
    "Dynamics",
    "FusedKernels",
    "IFNode",
    "LIFNode",
    "NEURON_KINDS",
    "NeuronKind",
    "NeuronOutput",
    "NeuronParameterError",
    "PRESETS",
    "build_neuron",
    "check_materialized",
    "is_neuron",
    "materialize",
    "multistep",
    "neuron_preset",
    "preset_names",
    "register_neuron_kind",
    "surrogate",
]


def __getattr__(name: str) -> Any:
    # a kind's node class by its name (PLIFNode, a plugin's), without listing each kind here
    for _, kind in NEURON_KINDS.items():
        if kind.node.__name__ == name:
            return kind.node
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
