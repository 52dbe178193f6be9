"""Gather what a run folder holds for the report: config, result, metrics, figures, monitor, energy, analyses.

Nothing here renders HTML; :func:`collect_run` returns plain data (and PNG bytes) that
:mod:`spikeforge.report.html` lays out. Figures the engine did not write (layer curves from
the monitor's keys, the training curves of an old run) are drawn into memory, so building a
report never changes the run folder except for the report itself.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .. import records as R
from ..errors import MissingFileError
from ..train import runfolder as RF

__all__ = ["Analysis", "RunData", "collect_run", "monitor_tables"]

# Figures that have their own place in the report (not listed again under "analyses").
ENGINE_FIGURES = {RF.CURVES_PNG, RF.STEP_ACCURACY_PNG}
SKIP_DIRS = {RF.TENSORBOARD, "runs", "__pycache__"}
# the titles of the per-layer figures (the metrics drawn: spikeforge.analysis.plots.LAYER_METRICS)
LAYER_TITLES = {
    R.DEAD_FRACTION_SAMPLE: "dead neurons per sample per layer (test set; epoch 0 = before training)",
    R.DEAD_FRACTION: "dead neurons per layer (test set)",
    R.TRAIN_DEAD_FRACTION: "dead neurons per training batch (epoch mean)",
    R.FIRING_RATE: "firing rate per layer (test set)",
    R.WEIGHT_CHANGE: "weight change ||W - W0|| / ||W0||",
}

ANALYSIS_TITLES = {
    "timestep_accuracy": "Accuracy per time step (re-evaluated checkpoint)",
    "pattern_mapping": "Spike-pattern mappings (Shen et al. Fig 3)",
    "membrane": "Membrane potential vs IMP and input (Shen et al. Fig 1)",
    "imp_overhead": "IMP / threshold overhead (Shen et al. Fig 6)",
    "convergence": "Convergence of SDT / TET / TET-S / LTS (Shen et al. Fig 5)",
    "threshold_grid": "Threshold grid, fixed vs learned (Rouser)",
    "energy": "Energy",
}


@dataclasses.dataclass
class Analysis:
    """One analysis output found in the run folder: its figures and the scalar facts of its JSON."""

    key: str
    title: str
    images: list[tuple[str, bytes]]
    facts: list[tuple[str, str]]
    files: list[str]


@dataclasses.dataclass
class RunData:
    """Everything the report shows about one run (missing parts are empty)."""

    run_dir: Path
    config_text: str
    config: dict[str, Any]
    result: dict[str, Any]
    records: list[dict[str, Any]]
    curves_png: bytes | None
    step_png: bytes | None
    layer_pngs: list[tuple[str, bytes]]
    energy: dict[str, Any] | None
    analyses: list[Analysis]

    @property
    def monitor_record(self) -> dict[str, Any]:
        """The last per-epoch record that holds monitor keys (empty if the monitor was off)."""
        for r in reversed(self.records):
            if any(R.is_monitor_key(k) for k in r):
                return r
        return {}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _read_records(run_dir: Path) -> list[dict[str, Any]]:
    return RF.read_metrics(run_dir)  # a line cut short by a crash is skipped: the rest is still worth showing


def _layer_figures(records: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    """Per-layer curves (dead fraction, firing rate, weight change) drawn from the monitor's keys."""
    from ..analysis.plots import LAYER_METRICS, layer_series, plot_layer_curves, with_epoch0

    # the untrained model's activity (``init_<metric>`` keys of the first record) is the epoch-0 point
    monitored = with_epoch0([{k: v for k, v in r.items() if k == R.EPOCH or R.is_monitor_key(k)} for r in records])
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for metric in LAYER_METRICS:
            if not layer_series(monitored, metric):
                continue
            png = Path(tmp) / f"{metric}.png"
            title = LAYER_TITLES[metric]
            plot_layer_curves(monitored, metric, png, title=title)
            out.append((title, png.read_bytes()))
    return out


def _curves_png(run_dir: Path, records: list[dict[str, Any]]) -> bytes | None:
    if (run_dir / RF.CURVES_PNG).is_file():
        return (run_dir / RF.CURVES_PNG).read_bytes()
    if not records:
        return None
    from ..train.plots import plot_curves

    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / RF.CURVES_PNG
        plot_curves(records, png)
        return png.read_bytes() if png.is_file() else None


def _fact_text(v: Any) -> str | None:
    """A short display form of a JSON value, or ``None`` for values not worth a line."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else None
    if isinstance(v, str):
        return v if len(v) <= 90 else None
    if isinstance(v, list) and 0 < len(v) <= 8 and all(isinstance(x, int | float) for x in v):
        return ", ".join(f"{x:.3g}" if isinstance(x, float) else str(x) for x in v)
    return None


def _facts(data: Any, limit: int = 14) -> list[tuple[str, str]]:
    """Scalars of an analysis JSON: the top level, and one level into nested mappings (``"zero / num_mappings"``)."""
    if not isinstance(data, dict):
        return []
    facts = []
    for k, v in data.items():
        items = [(f"{k} / {k2}", v2) for k2, v2 in v.items()] if isinstance(v, dict) else [(k, v)]
        for key, value in items:
            text = _fact_text(value)
            if text is not None:
                facts.append((str(key), text))
    return facts[:limit]


def _group_key(stem: str) -> str:
    """``pattern_mapping_sweep`` -> ``pattern_mapping``; unknown stems are their own group."""
    for key in ANALYSIS_TITLES:
        if stem == key or stem.startswith(key + "_"):
            return key
    return re.sub(r"[_-]?(summary|curves|times|grid)$", "", stem) or stem


def _analyses(run_dir: Path) -> list[Analysis]:
    """PNG figures and JSON results in the run folder and its sub-folders (two levels), grouped by analysis."""
    groups: dict[str, dict[str, Any]] = {}
    candidates = []
    for path in sorted(run_dir.rglob("*")):
        rel = path.relative_to(run_dir)
        if len(rel.parts) > 3 or any(p in SKIP_DIRS for p in rel.parts[:-1]) or not path.is_file():
            continue
        if path.suffix not in (".png", ".json") or path.name in ENGINE_FIGURES or path.name == RF.RESULT:
            continue
        if rel.parts[0] == "plots" and path.name.startswith("layers_"):
            continue  # the monitor's layer curves, drawn afresh in their own section
        candidates.append((rel, path))
    for rel, path in candidates:
        key = _group_key(path.stem)
        g = groups.setdefault(key, {"images": [], "jsons": [], "files": []})
        g["files"].append(str(rel))
        if path.suffix == ".png":
            g["images"].append((str(rel), path.read_bytes()))
        else:
            g["jsons"].append(path)
    out = []
    for key, g in groups.items():
        if key == "energy" and not g["images"]:
            continue  # the energy report has its own section
        title = ANALYSIS_TITLES.get(key, key.replace("_", " ").replace("-", " ").capitalize())
        out.append(
            Analysis(
                key, title, g["images"], _facts(_read_json(p)) if (p := _primary(key, g["jsons"])) else [], g["files"]
            )
        )
    return out


def _primary(key: str, jsons: list[Path]) -> Path | None:
    """The JSON whose facts represent an analysis: its summary, else the one named after it, else the first."""
    for wanted in (f"{key}_summary.json", f"{key}.json"):
        for p in jsons:
            if p.name == wanted:
                return p
    return jsons[0] if jsons else None


def collect_run(run_dir: str | Path) -> RunData:
    """Read a run folder (see :class:`RunData`); raises ``FileNotFoundError`` if it is not one."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MissingFileError(f"no such run folder: {run_dir}")
    config_path = run_dir / RF.CONFIG
    if not config_path.is_file() and not (run_dir / RF.METRICS).is_file():
        raise MissingFileError(f"{run_dir}: no {RF.CONFIG} or {RF.METRICS} (is it a run folder?)")
    config_text = config_path.read_text() if config_path.is_file() else ""
    try:
        config = yaml.safe_load(config_text) or {}
    except yaml.YAMLError:
        config = {}
    records = _read_records(run_dir)
    result = _read_json(run_dir / RF.RESULT) or {}
    energy = _read_json(run_dir / "energy.json")
    step_png = (run_dir / RF.STEP_ACCURACY_PNG).read_bytes() if (run_dir / RF.STEP_ACCURACY_PNG).is_file() else None
    return RunData(
        run_dir=run_dir,
        config_text=config_text,
        config=config if isinstance(config, dict) else {},
        result=result if isinstance(result, dict) else {},
        records=records,
        curves_png=_curves_png(run_dir, records),
        step_png=step_png,
        layer_pngs=_layer_figures(records) if any(R.is_monitor_key(k) for r in records for k in r) else [],
        energy=energy if isinstance(energy, dict) and "layers" in energy else None,
        analyses=_analyses(run_dir),
    )


def monitor_tables(record: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split a record's ``monitor/<layer>/<metric>`` keys into neuron-layer rows and weight-layer rows.

    Neuron rows carry ``layer`` and any of ``firing_rate``, ``dead_fraction_sample``, ``dead_fraction``,
    ``train_dead_fraction``, ``v_mean``, ``v_std``, ``imp_mean``, ``imp_std``, ``threshold_mean``,
    ``threshold_std``, ``num_neurons``; weight rows ``layer``, ``weight_change``, ``weight_delta_norm``.
    The network total (``all``) comes last among the neuron rows.
    """
    neurons: dict[str, dict[str, Any]] = {}
    weights: dict[str, dict[str, Any]] = {}
    for key, value in record.items():
        parsed = R.parse_monitor_key(key)
        if parsed is None or not isinstance(value, int | float):
            continue
        layer, metric = parsed
        table = weights if metric.startswith("weight_") else neurons
        table.setdefault(layer, {"layer": layer})[metric] = value
    rows = [r for name, r in neurons.items() if name != R.ALL_LAYERS]
    if R.ALL_LAYERS in neurons:
        rows.append(neurons[R.ALL_LAYERS])
    return rows, list(weights.values())
