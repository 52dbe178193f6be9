"""Training-time diagnostics: spiking activity, weight change, and SOP/energy counting."""

from .activity import ActivityMonitor, LayerActivity, ParamStats, WeightChangeTracker, unwrap_model
from .energy import E_AC_PJ, E_MAC_PJ, EnergyMeter, energy_report, format_table

__all__ = [
    "E_AC_PJ",
    "E_MAC_PJ",
    "ActivityMonitor",
    "EnergyMeter",
    "LayerActivity",
    "ParamStats",
    "WeightChangeTracker",
    "energy_report",
    "format_table",
    "unwrap_model",
]
