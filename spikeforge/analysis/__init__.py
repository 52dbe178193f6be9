"""The papers' analyses: pattern mapping, membrane heatmaps, IMP overhead timing, per-layer curves,
accuracy per time step, loss convergence and the threshold grid.

Each analysis is a function with explicit arguments that returns its numbers and writes its
files (PNG, CSV, JSON) into an output folder:

* :func:`run_pattern_mapping` (Shen et al. Fig 3),
* :func:`run_membrane` (Fig 1),
* :func:`run_overhead` (Fig 6),
* :func:`run_timestep_accuracy` / :func:`timestep_accuracy` (Fig 4),
* :func:`run_convergence` (Fig 5: SDT / TET / TET-S / LTS at several T),
* :func:`run_threshold_grid` (Rouser: fixed vs learned thresholds),
* :func:`plot_layer_curves` (Rouser Figs 3-5, from ``metrics.jsonl`` records).

Submodules are imported on first use so that ``import spikeforge.analysis`` (and the CLI's
start-up) does not load matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "epochs_to_reach",
    "imps_from_model",
    "imps_from_state_dict",
    "load_metrics_jsonl",
    "mapping_matrix",
    "plot_layer_curves",
    "run_membrane",
    "run_overhead",
    "run_pattern_mapping",
    "run_convergence",
    "run_threshold_grid",
    "run_timestep_accuracy",
    "simulate",
    "timestep_accuracy",
]

_WHERE = {
    "imps_from_model": "pattern_mapping",
    "imps_from_state_dict": "pattern_mapping",
    "mapping_matrix": "pattern_mapping",
    "run_pattern_mapping": "pattern_mapping",
    "run_membrane": "membrane",
    "simulate": "membrane",
    "run_overhead": "overhead",
    "plot_layer_curves": "plots",
    "load_metrics_jsonl": "plots",
    "run_timestep_accuracy": "timestep_accuracy",
    "timestep_accuracy": "timestep_accuracy",
    "run_convergence": "convergence",
    "run_threshold_grid": "threshold_grid",
    "epochs_to_reach": "sweep",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
