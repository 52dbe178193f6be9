"""MAC / SOP / energy counting against hand counts."""

import argparse
import json

import pytest
import torch
from torch import nn

from spikeforge import IFNode
from spikeforge.commands.energy import add_energy_parser, run_energy
from spikeforge.layers import MultiStep
from spikeforge.monitor import EnergyMeter, energy_report, format_table


def rows(report):
    return {r["layer"]: r for r in report["layers"]}


def test_linear_on_known_spikes():
    layer = MultiStep(nn.Linear(4, 3))
    x = torch.tensor([[1.0, 0, 1, 0], [0, 0, 0, 1]]).reshape(2, 1, 4)  # T=2, B=1: 3 spikes of 8
    r = rows(energy_report(layer, x))["0"]
    assert (r["input_kind"], r["op"]) == ("spike", "AC")
    assert r["flops"] == 12 and r["steps"] == 2 and r["dense_macs"] == 24
    assert r["input_rate"] == pytest.approx(3 / 8)
    assert r["sops"] == pytest.approx(9) and r["macs"] == 0  # rate x T x FLOPs = 3/8 * 2 * 12
    assert r["energy_pj"] == pytest.approx(9 * 0.9)


def test_numbers_are_per_sample():
    layer = MultiStep(nn.Linear(4, 3))
    x = torch.zeros(2, 2, 4)
    x[:, 0] = torch.tensor([[1.0, 0, 1, 0], [0, 0, 0, 1]])  # sample 1 as above, sample 2 silent
    report = energy_report(layer, x)
    assert report["num_samples"] == 2
    assert rows(report)["0"]["sops"] == pytest.approx(4.5)
    assert rows(report)["0"]["dense_macs"] == 24


@pytest.mark.parametrize(
    ("conv", "flops"),
    [
        (nn.Conv2d(2, 3, 3, padding=1), 3 * 5 * 5 * 2 * 9),  # 5x5 output, fan-in 18
        (nn.Conv2d(2, 3, 3, stride=2), 3 * 2 * 2 * 2 * 9),  # (5-3)//2+1 = 2
        (nn.Conv2d(2, 4, 3, groups=2), 4 * 3 * 3 * 1 * 9),  # fan-in per group: 1 channel x 9
    ],
)
def test_conv_on_analog_input_counts_macs(conv, flops):
    x = torch.rand(3, 1, 2, 5, 5) + 0.1  # T=3 analog steps
    r = rows(energy_report(MultiStep(conv), x, e_mac=2.0))["0"]
    assert (r["input_kind"], r["op"]) == ("analog", "MAC")
    assert r["flops"] == flops and r["steps"] == 3
    assert r["macs"] == 3 * flops and r["sops"] == 0
    assert r["energy_pj"] == pytest.approx(2.0 * 3 * flops)


def two_layer_net():
    net = nn.Sequential(MultiStep(nn.Linear(4, 3, bias=False)), IFNode(), MultiStep(nn.Linear(3, 2)))
    with torch.no_grad():
        net[0][0].weight.copy_(torch.eye(3, 4))
    return net


def test_encoding_layer_is_mac_and_spiking_layer_is_ac():
    net = two_layer_net()
    x = torch.tensor([1.5, 0.2, 0.7, 0.3]).expand(2, 1, 4)  # T=2, analog
    # IF neurons: 1.5 fires twice; 0.2 never (0.4); 0.7 fires at t=1 (1.4): 3 spikes of 6.
    report = energy_report(net, x)
    enc, hid = rows(report)["0.0"], rows(report)["2.0"]
    assert (enc["op"], enc["macs"], enc["sops"]) == ("MAC", 2 * 12, 0)
    assert (hid["op"], hid["input_kind"]) == ("AC", "spike")
    assert hid["input_rate"] == pytest.approx(0.5)
    assert hid["sops"] == pytest.approx(0.5 * 2 * 6)
    assert report["totals"]["energy_pj"] == pytest.approx(24 * 4.6 + 6 * 0.9)
    assert report["totals"]["ann_energy_pj"] == pytest.approx((24 + 12) * 4.6)
    forced = rows(energy_report(net, x, mac_layers=["2.0"]))["2.0"]
    assert (forced["op"], forced["macs"]) == ("MAC", 12)


def test_stem_computed_once_counts_once():
    class OnceStem(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Linear(4, 3)

        def forward(self, x):  # x: [T, B, 4]; the stem sees one step and is repeated
            return self.stem(x[0]).unsqueeze(0).expand(x.shape[0], -1, -1)

    r = rows(energy_report(OnceStem(), torch.rand(4, 2, 4)))["stem"]
    assert r["steps"] == 1 and r["macs"] == 12


def test_spike_counts_are_accumulates_unless_asked():
    layer = MultiStep(nn.Linear(2, 1))
    x = torch.tensor([[2.0, 0.0], [1.0, 1.0]]).reshape(2, 1, 2)  # SEW-ADD-like values {0, 1, 2}
    r = rows(energy_report(layer, x))["0"]
    assert (r["input_kind"], r["op"]) == ("count", "AC")
    assert r["sops"] == pytest.approx(4.0)  # mean count 1 x T 2 x FLOPs 2: one accumulate per unit of count
    r = rows(energy_report(layer, x, count_as_ac=False))["0"]
    assert (r["op"], r["macs"]) == ("MAC", 4)


def test_meter_accumulates_batches_and_restores_the_model():
    net = two_layer_net().train()
    meter = EnergyMeter(net)
    meter.update(torch.zeros(2, 3, 4))
    meter.update(torch.tensor([1.5, 0.2, 0.7, 0.3]).expand(2, 1, 4))
    report = meter.compute()
    assert report["num_samples"] == 4
    assert rows(report)["2.0"]["sops"] == pytest.approx(6 / 4)  # 6 SOPs in one sample of four
    assert all(not m._forward_hooks for m in net.modules())
    energy_report(net, torch.zeros(2, 1, 4))
    assert net.training
    with pytest.raises(ValueError, match="no forward pass"):
        EnergyMeter(net).compute()
    with pytest.raises(ValueError, match="mac_layers"):
        EnergyMeter(net, mac_layers=["1"])


def test_format_table_lists_layers_and_totals():
    text = format_table(energy_report(two_layer_net(), torch.rand(2, 1, 4)))
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["layer", "type"]
    assert any(line.startswith("0.0") for line in lines) and any(line.startswith("2.0") for line in lines)
    assert any(line.startswith("total") for line in lines) and "pJ" in lines[-1]


def parse(argv):
    parser = argparse.ArgumentParser()
    add_energy_parser(parser.add_subparsers(dest="cmd"))
    return parser.parse_args(["energy", *argv])


def test_energy_cli(tmp_path, capsys):
    out = tmp_path / "energy.json"
    argv = ["--model", "torch.nn:Linear", "--model-arg", "in_features=4", "--model-arg", "out_features=3"]
    argv += ["--input-shape", "6,1,4", "--input", "ones", "--json", str(out)]
    assert run_energy(parse(argv)) == 0
    report = json.loads(out.read_text())
    assert report["layers"][0]["sops"] == pytest.approx(6 * 12)  # all-ones input is spikes at rate 1
    assert "total" in capsys.readouterr().out


def test_energy_cli_errors_are_one_line(capsys):
    assert run_energy(parse(["--model", "torch.nn:NoSuchLayer", "--input-shape", "2,1,4"])) == 2
    assert run_energy(parse(["--model", "no_such_model", "--input-shape", "2,1,4"])) == 2
    assert run_energy(parse(["--model", "torch.nn:Linear", "--input-shape", "2,x"])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("spikeforge energy: error:") for line in err)
    built = []
    args = parse(["--model", "tiny", "--input-shape", "2,1,4", "--input", "bernoulli"])
    assert run_energy(args, build_model=lambda name, **kw: built.append(name) or nn.Linear(4, 2)) == 0
    assert built == ["tiny"]


def test_direct_sample_input_is_an_expanded_view():
    from spikeforge.commands.energy import make_sample_input

    x = make_sample_input("direct", (4, 2, 3, 5, 5))
    assert x.shape == (4, 2, 3, 5, 5) and x.stride(0) == 0 and torch.equal(x[0], x[3])
    assert make_sample_input("bernoulli", (3, 2, 4), rate=1.0).sum() == 24


def test_energy_cli_with_a_registered_model(tmp_path):
    out = tmp_path / "e.json"
    args = parse(["--model", "rouser_shd", "--T", "3", "--batch", "2", "--input", "bernoulli", "--json", str(out)])
    assert run_energy(args) == 0
    report = json.loads(out.read_text())
    first = report["layers"][0]
    assert report["num_samples"] == 2 and first["input_kind"] == "spike" and first["steps"] == 3
    assert first["flops"] == 700 * 200  # SHD: 700-200-200-20
