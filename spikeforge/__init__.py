"""SpikeForge: spiking neural networks whose neurons learn their own dynamics.

Public API::

    from spikeforge import LIFNode, IFNode, CUBALIFNode, materialize, losses, models, data
    from spikeforge import load_config, register_model, load_trained_model   # the trainer (train.engine.train)
    from spikeforge import export_nir, import_nir                                   # NIR (extra 'nir')
    from spikeforge import set_time_steps                                           # time layout checks

Every multi-step module takes time-first tensors ``[T, B, ...]``; a ``DataLoader`` built with
``collate_fn=spikeforge.data.time_first_collate`` yields them.
"""

from . import data, losses, models, neuron
from .export.nir import NIRConversionError, export_nir, import_nir
from .models.registry import build_model, register_model
from .neuron import CUBALIFNode, IFNode, LIFNode, NeuronParameterError, materialize
from .neuron.surrogate import get_surrogate
from .timelayout import TimeLayoutError, set_time_steps
from .train.config import load_config
from .train.evaluate import load_trained_model

__version__ = "0.1.0"

__all__ = [
    "CUBALIFNode",
    "IFNode",
    "LIFNode",
    "NIRConversionError",
    "NeuronParameterError",
    "TimeLayoutError",
    "__version__",
    "build_model",
    "data",
    "export_nir",
    "get_surrogate",
    "import_nir",
    "load_config",
    "load_trained_model",
    "losses",
    "materialize",
    "models",
    "neuron",
    "register_model",
    "set_time_steps",
]
