"""SpikeForge: spiking neural networks whose neurons learn their own dynamics.

Public API::

    from spikeforge import LIFNode, IFNode, CUBALIFNode, materialize, losses, models, data
"""

from . import data, losses, models, neuron
from .neuron import CUBALIFNode, IFNode, LIFNode, NeuronParameterError, materialize
from .neuron.surrogate import get_surrogate

__version__ = "0.1.0"

__all__ = [
    "CUBALIFNode",
    "IFNode",
    "LIFNode",
    "NeuronParameterError",
    "__version__",
    "data",
    "get_surrogate",
    "losses",
    "materialize",
    "models",
    "neuron",
]
