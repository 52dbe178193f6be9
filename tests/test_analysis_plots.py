"""Per-layer curves over epochs from metrics.jsonl records (Rouser Figs 3-5)."""

import argparse
import json

import pytest

from spikeforge.analysis.plots import layer_series, load_metrics_jsonl, plot_layer_curves
from spikeforge.commands.analyze import add_analyze_parser, run_analyze

RECORDS = [
    {"epoch": 0, "train/loss": 2.0, "monitor/l1/dead_fraction": 0.7, "monitor/l2/dead_fraction": 0.5},
    {"epoch": 1, "train/loss": 1.0, "monitor/l1/dead_fraction": 0.4, "monitor/l2/dead_fraction": 0.1},
    {"step": 5, "monitor/l1/dead_fraction": 0.9},  # not an epoch record
    {"epoch": 2, "monitor/l1/dead_fraction": 0.2, "monitor/all/dead_fraction": 0.3, "weights/l1/weight_change": 0.05},
]


def test_layer_series_groups_keys_by_layer():
    series = layer_series(RECORDS, "dead_fraction")
    assert series["l1"] == ([0.0, 1.0, 2.0], [0.7, 0.4, 0.2])
    assert series["l2"] == ([0.0, 1.0], [0.5, 0.1])
    assert series["all"] == ([2.0], [0.3])
    assert layer_series(RECORDS, "weight_change") == {"l1": ([2.0], [0.05])}


def test_plot_layer_curves_writes_png(tmp_path):
    series = plot_layer_curves(RECORDS, "dead_fraction", tmp_path / "dead.png")
    assert set(series) == {"l1", "l2", "all"}
    assert (tmp_path / "dead.png").stat().st_size > 10_000
    with pytest.raises(ValueError, match="firing_rate"):
        plot_layer_curves(RECORDS, "firing_rate", tmp_path / "x.png")


def test_jsonl_and_cli(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n\n")
    assert load_metrics_jsonl(run / "metrics.jsonl") == RECORDS
    parser = argparse.ArgumentParser()
    add_analyze_parser(parser.add_subparsers(dest="cmd"))
    assert run_analyze(parser.parse_args(["analyze", "layer-curves", str(run)])) == 0
    assert (run / "plots" / "layers_dead_fraction.png").is_file()
    assert (run / "plots" / "layers_weight_change.png").is_file()
    assert not (run / "plots" / "layers_firing_rate.png").exists()
    (run / "bad.jsonl").write_text('{"epoch": 0}\nnot json\n')
    assert run_analyze(parser.parse_args(["analyze", "layer-curves", str(run / "bad.jsonl")])) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err


def test_fractions_and_rates_are_drawn_in_percent(tmp_path, monkeypatch):
    import spikeforge.analysis.plots as plots

    drawn = {}
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: drawn.__setitem__(path.stem, fig.axes[0]))
    metrics = ("dead_fraction_sample", "saturated_fraction_sample", "firing_rate", "weight_change")
    records = [{"epoch": e, **{f"monitor/a/{m}": 0.25 for m in metrics}} for e in (1, 2)]
    for metric in metrics:
        plots.plot_layer_curves(records, metric, tmp_path / f"{metric}.png")
    shown = {m: (ax.get_ylabel(), float(max(ax.lines[0].get_ydata()))) for m, ax in drawn.items()}
    assert shown == {
        "dead_fraction_sample": ("dead_fraction_sample (%)", 25.0),
        "saturated_fraction_sample": ("saturated_fraction_sample (%)", 25.0),
        "firing_rate": ("firing_rate (%)", 25.0),
        "weight_change": ("weight_change", 0.25),
    }
