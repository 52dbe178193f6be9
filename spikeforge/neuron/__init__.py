"""Multi-step spiking neurons with learnable initial membrane potential and threshold."""

from . import surrogate
from .nodes import (
    BaseNode,
    CUBALIFNode,
    IFNode,
    LIFNode,
    NeuronParameterError,
    check_materialized,
    is_neuron,
    materialize,
)
from .presets import PRESETS, neuron_preset, preset_names
from .reference import Dynamics, NeuronOutput, multistep

__all__ = [
    "BaseNode",
    "CUBALIFNode",
    "Dynamics",
    "IFNode",
    "LIFNode",
    "NeuronOutput",
    "NeuronParameterError",
    "PRESETS",
    "check_materialized",
    "is_neuron",
    "materialize",
    "multistep",
    "neuron_preset",
    "preset_names",
    "surrogate",
]
