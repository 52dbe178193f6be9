"""Per-epoch metrics: JSON lines, CSV, optional TensorBoard, and curve plots (rank 0 only).

File names, record keys and the reader live in :mod:`.runfolder`; this module adds the
TensorBoard mirror and the curves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import records as R
from . import runfolder as RF
from .runfolder import read_metrics

__all__ = ["MetricsLogger", "read_metrics"]


class MetricsLogger:
    """Appends one record per epoch to ``metrics.jsonl``, rewrites ``metrics.csv`` and ``curves.png``.

    Records hold scalars and short lists (per-step accuracies); the CSV keeps the scalars.
    TensorBoard event files are written too when the ``tensorboard`` package is installed.
    """

    def __init__(self, run_dir: Path, history: list[dict[str, Any]] | None = None, plots: bool = True) -> None:
        self.run_dir = run_dir
        self.plots = plots
        self.records: list[dict[str, Any]] = list(history or [])
        self._tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(run_dir / RF.TENSORBOARD))
        except ImportError:
            pass

    def log(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        RF.append_record(self.run_dir, record)
        RF.write_metrics_csv(self.run_dir, self.records)
        if self._tb is not None:
            for k, v in record.items():
                if isinstance(v, int | float) and k != R.EPOCH and math.isfinite(v):
                    self._tb.add_scalar(k, v, record[R.EPOCH])
            self._tb.flush()
        if self.plots:
            from .plots import plot_curves

            plot_curves(self.records, self.run_dir / RF.CURVES_PNG)

    def add_histograms(self, write: Callable[[Any, int], None], step: int) -> None:
        """Call ``write(summary_writer, step)`` when TensorBoard is on (e.g. the monitor's histograms)."""
        if self._tb is not None:
            write(self._tb, step)
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
