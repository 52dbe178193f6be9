"""SpikeForge: spiking neural networks whose neurons learn their own dynamics.

Public API::

    from spikeforge import LIFNode, IFNode, CUBALIFNode, materialize, losses, models, data
    from spikeforge import load_config, register_model, load_trained_model   # the trainer (extra 'train')
    from spikeforge import export_nir, import_nir                                   # NIR (extra 'nir')
    from spikeforge import set_time_steps                                           # time layout checks
    from spikeforge import register_model, register_dataset, register_loss          # plug-ins (docs/contributing.md)
    from spikeforge import register_metric, register_command, register_neuron_kind

Every multi-step module takes time-first tensors ``[T, B, ...]``; a ``DataLoader`` built with
``collate_fn=spikeforge.data.time_first_collate`` yields them.

``import spikeforge`` loads torch and nothing else of SpikeForge: each public name below is imported on first use
(PEP 562), so a program that uses the neurons and losses never loads the trainer, matplotlib or scikit-learn.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

__version__ = "0.1.0"

# The oldest torch the test suite has been run on (README "Dependencies and why"; pyproject.toml says the same).
# torch.library.register_fake / register_autograd (the fused neuron ops) arrived in 2.4.
TORCH_FLOOR = (2, 4)


def _check_torch() -> None:
    import torch

    found = re.match(r"(\d+)\.(\d+)", str(torch.__version__))
    if found is not None and (int(found[1]), int(found[2])) < TORCH_FLOOR:
        floor = ".".join(map(str, TORCH_FLOOR))
        found_text = f"found torch {torch.__version__}"
        raise ImportError(f"spikeforge needs torch>={floor}, {found_text}: pip install 'torch>={floor}'")


_check_torch()

# The public names, one table: name -> the module (relative to this package) that defines it; a subpackage maps to
# None (``spikeforge.data`` is the module itself). Each is imported on first access by ``__getattr__`` below.
_PUBLIC: dict[str, str | None] = {
    "CUBALIFNode": ".neuron",
    "IFNode": ".neuron",
    "LIFNode": ".neuron",
    "NeuronParameterError": ".neuron",
    "materialize": ".neuron",
    "get_surrogate": ".neuron.surrogate",
    "TimeLayoutError": ".timelayout",
    "set_time_steps": ".timelayout",
    "build_model": ".models.registry",
    "register_model": ".models.registry",
    "register_dataset": ".data.registry",
    "register_loss": ".losses",
    "register_metric": ".monitor.metrics",
    "register_command": ".command_registry",
    "register_neuron_kind": ".neuron",
    "load_config": ".train.config",
    "load_trained_model": ".train.evaluate",
    "NIRConversionError": ".export.nir",
    "export_nir": ".export.nir",
    "import_nir": ".export.nir",
    "data": None,
    "losses": None,
    "models": None,
    "neuron": None,
}

__all__ = ["__version__", *sorted(_PUBLIC)]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    where = _PUBLIC[name]
    try:
        value = importlib.import_module(f".{name}" if where is None else where, __name__)
    except ModuleNotFoundError as exc:  # an optional package (pyyaml for load_config, ...): say which extra
        from .extras import missing_dependency

        raise (missing_dependency(exc, f"spikeforge.{name}") or exc) from None
    if where is not None:
        value = getattr(value, name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
