"""``spikeforge report``: one self-contained HTML page per run folder.

:func:`build_report` reads a run folder (:func:`collect_run`) and renders it
(:func:`render_report`): config, final metrics, accuracy per time step, curves, spiking
activity, energy and any analysis outputs found there, with every figure embedded.
"""

from __future__ import annotations

from .build import build_report
from .collect import RunData, collect_run
from .html import render_report

__all__ = ["RunData", "build_report", "collect_run", "render_report"]
