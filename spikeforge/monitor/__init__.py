"""Training-time diagnostics: spiking activity, weight change, and SOP/energy counting.

:class:`TrainingMonitor` is what the engine runs with ``run.monitor: true``; the energy of a
trained run is measured by :mod:`spikeforge.train.energy`. Monitors import nothing from
:mod:`spikeforge.train`: the engine drives them through its callbacks.
"""

from .activity import ActivityMonitor, LayerActivity, ParamStats, WeightChangeTracker, unwrap_model
from .energy import E_AC_PJ, E_MAC_PJ, EnergyMeter, energy_report, format_table
from .metrics import BatchDeadNeurons, LayerMetric, MembraneStats, SilentNeurons, SpikeCounts
from .training import BatchActivity, TrainingMonitor

__all__ = [
    "E_AC_PJ",
    "E_MAC_PJ",
    "ActivityMonitor",
    "BatchActivity",
    "BatchDeadNeurons",
    "EnergyMeter",
    "LayerActivity",
    "LayerMetric",
    "MembraneStats",
    "ParamStats",
    "SilentNeurons",
    "SpikeCounts",
    "TrainingMonitor",
    "WeightChangeTracker",
    "energy_report",
    "format_table",
    "unwrap_model",
]
