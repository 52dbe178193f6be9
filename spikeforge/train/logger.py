"""Per-epoch metrics: JSON lines, CSV, optional TensorBoard, and curve plots (rank 0 only)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

__all__ = ["MetricsLogger", "read_metrics"]


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The records of ``RUN_DIR/metrics.jsonl``, one dict per epoch."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


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

            self._tb = SummaryWriter(str(run_dir / "tensorboard"))
        except ImportError:
            pass

    def log(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        self._write_csv()
        if self._tb is not None:
            for k, v in record.items():
                if isinstance(v, int | float) and k != "epoch" and math.isfinite(v):
                    self._tb.add_scalar(k, v, record["epoch"])
            self._tb.flush()
        if self.plots:
            from .plots import plot_curves

            plot_curves(self.records, self.run_dir / "curves.png")

    def _write_csv(self) -> None:
        keys: list[str] = []
        for r in self.records:
            keys += [k for k, v in r.items() if k not in keys and not isinstance(v, list | dict)]
        with open(self.run_dir / "metrics.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
            w.writeheader()
            w.writerows(self.records)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
