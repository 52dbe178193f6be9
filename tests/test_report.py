"""``spikeforge report``: the HTML is well formed, self-contained and shows the run's contents."""

import base64
import html.parser
import json
import re

import pytest
import yaml
from matplotlib.figure import Figure

from spikeforge.commands import main
from spikeforge.report import build_report, collect_run
from spikeforge.report.collect import monitor_tables

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class StrictParser(html.parser.HTMLParser):
    """Records every problem a browser would silently repair: unbalanced or misnested tags."""

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.images, self.links, self.text = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        for key in ("href", "src", "action", "poster"):
            if key in attrs:
                self.links.append(attrs[key])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def png(title: str) -> bytes:
    fig = Figure(figsize=(2, 1.5))
    fig.subplots().set_title(title)
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


CONFIG = {
    "name": "digits_demo",
    "description": "demo run <with markup & a link http://example.org>",
    "seed": 3,
    "T": 4,
    "epochs": 2,
    "model": {"name": "digits_convnet", "options": {}},
    "neuron": {"type": "if", "imp": "learn", "v_threshold": "learn", "v_threshold_init": 1.25},
    "data": {"name": "digits", "batch_size": 64},
    "loss": {"name": "lts"},
    "optim": {"name": "adamw", "lr": 0.005},
}


def monitor_keys(dead):
    return {
        "monitor/features.0.sn/firing_rate": 0.25,
        "monitor/features.0.sn/dead_fraction": dead,
        "monitor/features.0.sn/num_neurons": 2048.0,
        "monitor/features.0.sn/v_mean": -0.5,
        "monitor/features.0.sn/v_std": 1.25,
        "monitor/features.0.sn/imp_mean": 0.01,
        "monitor/features.0.sn/imp_std": 0.1,
        "monitor/features.0.sn/threshold_mean": 1.3,
        "monitor/features.0.sn/threshold_std": 0.05,
        "monitor/features.0.sn/train_dead_fraction": 0.125,
        "monitor/all/firing_rate": 0.25,
        "monitor/all/dead_fraction": dead,
        "monitor/head.fc/weight_change": 0.75,
        "monitor/head.fc/weight_delta_norm": 3.0,
    }


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    records = [
        {"epoch": 1, "lr": 0.005, "train/loss": 1.0, "train/acc": 0.6, "test/loss": 0.8, "test/acc": 0.7,
         "test/acc_step": [0.5, 0.6, 0.65, 0.7], "test/acc_cum": [0.5, 0.55, 0.6, 0.66], **monitor_keys(0.3)},
        {"epoch": 2, "lr": 0.0, "train/loss": 0.5, "train/acc": 0.9, "test/loss": 0.4, "test/acc": 0.9611,
         "test/acc_step": [0.8222, 0.9472, 0.9528, 0.9611], "test/acc_cum": [0.8222, 0.9333, 0.9472, 0.9556],
         **monitor_keys(0.04)},
    ]  # fmt: skip
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + '{"epoch": 3, "trunc')
    (run / "result.json").write_text(
        json.dumps({"test_acc": 0.9611, "best_acc": 0.9611, "acc_per_step": records[-1]["test/acc_step"],
                    "acc_cumulative": records[-1]["test/acc_cum"], "epochs": 2, "seconds": 6.4})
    )  # fmt: skip
    (run / "curves.png").write_bytes(png("curves"))
    (run / "accuracy_per_step.png").write_bytes(png("steps"))
    energy = {
        "layers": [
            {"layer": "features.1.synapse.conv", "type": "Conv2d", "input_kind": "spike", "op": "AC", "flops": 1000,
             "steps": 4.0, "dense_macs": 4000.0, "input_rate": 0.18, "macs": 0.0, "sops": 720.0, "energy_pj": 648.0},
        ],
        "totals": {"dense_macs": 4000.0, "macs": 0.0, "sops": 720.0, "energy_pj": 648.0, "energy_mj": 6.48e-7,
                   "ann_energy_pj": 18400.0},
        "num_samples": 360, "e_mac_pj": 4.6, "e_ac_pj": 0.9, "source": {"trained": True},
    }  # fmt: skip
    (run / "energy.json").write_text(json.dumps(energy))
    (run / "timestep_accuracy.json").write_text(json.dumps({"acc": 0.9611, "best_step": 4, "acc_step": [0.8, 0.9]}))
    (run / "timestep_accuracy.png").write_bytes(png("timestep"))
    (run / "pattern-mapping").mkdir()
    (run / "pattern-mapping" / "pattern_mapping_zero.png").write_bytes(png("pm"))
    (run / "pattern-mapping" / "pattern_mapping_summary.json").write_text(json.dumps({"zero": {"num_mappings": 54}}))
    (run / "tensorboard").mkdir()
    (run / "tensorboard" / "ignored.png").write_bytes(png("tb"))
    return run


def parse(path):
    parser = StrictParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def test_report_is_well_formed_and_self_contained(run_dir):
    path = build_report(run_dir)
    assert path == run_dir / "report.html"
    doc = parse(path)
    assert doc.errors == [] and doc.stack == []
    # every image is an embedded PNG that decodes
    assert len(doc.images) >= 7
    for img in doc.images:
        assert img["src"].startswith("data:image/png;base64,") and img.get("alt")
        assert base64.b64decode(img["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # links only inside the page; no resource from elsewhere (CSS url() included)
    assert all(link.startswith(("#", "data:")) for link in doc.links)
    raw = path.read_text()
    assert not re.search(r"url\(\s*['\"]?(?!data:)", raw) and "<script" not in raw and "<link" not in raw
    assert "http://example.org" in "".join(doc.text)  # the description is text, escaped, not a link
    assert "<with markup" not in raw and "&lt;with markup" in raw


def test_report_shows_config_metrics_activity_energy_and_analyses(run_dir):
    text = " ".join(parse(build_report(run_dir)).text)
    for expected in ("digits_demo", "digits_convnet", "adamw", "0.005", "batch_size", "v_threshold_init"):
        assert expected in text  # the config
    assert "96.11%" in text and "82.22%" in text and "95.56%" in text  # final, step 1 alone, cumulative at T
    assert "features.0.sn" in text and "12.5%" in text and "1.300 ± 0.050" in text  # activity table
    assert "head.fc" in text and "0.750" in text  # weight change
    assert "648 pJ" in text and "720" in text  # energy
    assert "Spike-pattern mappings" in text and "zero / num_mappings" in text and "54" in text
    assert "Accuracy per time step (re-evaluated checkpoint)" in text
    assert "ignored.png" not in text  # TensorBoard folder skipped


def test_collect_and_monitor_tables(run_dir):
    run = collect_run(run_dir)
    assert len(run.records) == 2  # the truncated last line is skipped
    assert [title for title, _ in run.layer_pngs] == [
        "dead neurons per layer (test set)",
        "dead neurons per training batch (epoch mean)",
        "firing rate per layer (test set)",
        "weight change ||W - W0|| / ||W0||",
    ]
    neurons, weights = monitor_tables(run.monitor_record)
    assert [r["layer"] for r in neurons] == ["features.0.sn", "all"]
    assert neurons[0]["dead_fraction"] == 0.04 and weights == [
        {"layer": "head.fc", "weight_change": 0.75, "weight_delta_norm": 3.0}
    ]
    assert not any((run_dir / "plots").glob("*"))  # building a report writes nothing but the report


def test_minimal_run_and_cli(tmp_path, capsys):
    run = tmp_path / "bare"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"name": "bare"}))
    assert main(["report", str(run), "--out", str(tmp_path / "out")]) == 0
    page = tmp_path / "out" / "report.html"
    doc = parse(page)
    assert doc.errors == [] and "bare" in " ".join(doc.text) and not doc.images
    assert "wrote" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
