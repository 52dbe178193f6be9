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
from .reference import Dynamics, NeuronOutput, multistep

__all__ = [
    "BaseNode",
    "CUBALIFNode",
    "Dynamics",
    "IFNode",
    "LIFNode",
    "NeuronOutput",
    "NeuronParameterError",
    "check_materialized",
    "is_neuron",
    "materialize",
    "multistep",
    "surrogate",
]
