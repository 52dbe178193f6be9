"""The plug-in seam: a third-party package registers a model, a loss and a command through the
``spikeforge.plugins`` entry point and a config naming them trains through ``spikeforge train``; every
registry (models, datasets, losses, commands) refuses duplicates and names its choices on an unknown name;
one loss-name normaliser for config validation and ``build_loss``; the library never imports its study."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
import yaml

from spikeforge import registry as reg
from spikeforge.command_registry import COMMANDS, register_command
from spikeforge.commands import main
from spikeforge.data.registry import DATASETS, build_dataset, dataset_info, register_dataset
from spikeforge.errors import UserError
from spikeforge.losses import LOSSES, TETLoss, TETSLoss, build_loss, register_loss
from spikeforge.models import MODELS, build_model, register_model
from spikeforge.train.builders import build_loss_from_config, build_model_from_config
from spikeforge.train.config import ConfigError, config_from_dict

# A package as a third party would ship it: one module, and an entry point that calls its register().
PLUGIN_SOURCE = '''
import dataclasses

import torch.nn.functional as F
from torch import nn

from spikeforge.command_registry import register_command
from spikeforge.losses import register_loss
from spikeforge.models import register_model
from spikeforge.models.common import make_neurons


@dataclasses.dataclass(frozen=True)
class MarginOptions:
    margin: float = 1.0

    def __post_init__(self):
        if not self.margin > 0:
            raise ValueError(f"margin must be > 0, got {self.margin}")


class MarginLoss(nn.Module):
    """Multi-class hinge loss of the time-averaged output [T, B, K]; no readout of its own."""

    def __init__(self, margin):
        super().__init__()
        self.margin = margin

    def forward(self, outputs, target):
        return F.multi_margin_loss(outputs.mean(0), target, margin=self.margin)


class FlatSNN(nn.Module):
    """[T, B, 1, 8, 8] -> [T, B, num_classes]: linear, spiking layer, linear."""

    def __init__(self, num_classes, hidden, neuron):
        super().__init__()
        self.fc1 = nn.Linear(64, hidden)
        self.sn = make_neurons(neuron, {"type": "lif", "v_reset": None})()
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x):
        return self.fc2(self.sn(self.fc1(x.flatten(2))))


def flat_snn(num_classes: int = 10, hidden: int = 16, neuron=None):
    return FlatSNN(num_classes, hidden, neuron)


def hello(args):
    print(f"hello {args.who}")
    return 0


def register():
    register_model("plug_flat", description="a plug-in's flat SNN", input_shape=(1, 8, 8),
                   default_neuron={"type": "lif", "v_reset": None})(flat_snn)
    register_loss("plug_margin", options=MarginOptions, description="a plug-in's hinge loss")(MarginLoss)
    register_command("plug_hello", help="a plug-in's command", handler=hello,
                     configure=lambda p: p.add_argument("who"))
'''

PLUGGED = ((MODELS, "plug_flat"), (LOSSES, "plug_margin"), (COMMANDS, "plug_hello"))


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The fake package installed on sys.path with its dist-info; its pieces are unregistered afterwards."""
    (tmp_path / "sf_fake_plugin.py").write_text(PLUGIN_SOURCE)
    dist = tmp_path / "sf_fake_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sf-fake-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[spikeforge.plugins]\nfake = sf_fake_plugin:register\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        yield reg.load_plugins(again=True)
    finally:
        for registry, name in PLUGGED:
            registry.pop(name, None)
        sys.modules.pop("sf_fake_plugin", None)


def plug_config(**loss_options):
    return {
        "name": "plug",
        "device": "cpu",
        "T": 2,
        "epochs": 1,
        "model": {"name": "plug_flat", "options": {"hidden": 8}},
        "data": {"name": "digits", "batch_size": 32},
        "loss": {"name": "plug_margin", "options": loss_options},
        "optim": {"name": "adamw", "lr": 0.01},
        "schedule": {"name": "constant"},
        "run": {"max_steps_per_epoch": 2, "progress": False, "plots": False},
    }


def test_entry_point_plugin_model_and_loss_train_through_spikeforge_train(plugin, tmp_path, capsys):
    assert "fake" in plugin
    cfg = config_from_dict(plug_config(margin=0.5))  # validated against the plug-in's model and loss
    model = build_model_from_config(cfg, num_classes=10)
    loss = build_loss_from_config(cfg)
    assert type(model).__name__ == "FlatSNN" and model.fc1.out_features == 8
    assert type(loss).__name__ == "MarginLoss" and loss.margin == 0.5
    outputs = torch.tensor([[[2.0, 0.0]], [[0.0, 4.0]]])  # [T=2, B=1, K=2]
    assert loss.readout(outputs).tolist() == [[1.0, 2.0]]  # the declared readout: mean over time

    config = tmp_path / "plug.yaml"
    config.write_text(yaml.safe_dump(plug_config(margin=0.5)))
    run_dir = tmp_path / "run"
    assert main(["train", str(config), "--run-dir", str(run_dir)]) == 0
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any("train/loss" in r for r in records)

    capsys.readouterr()
    assert main(["plug_hello", "world"]) == 0
    assert capsys.readouterr().out == "hello world\n"
    for listing, name in (("models", "plug_flat"), ("losses", "plug_margin"), ("commands", "plug_hello")):
        assert main([listing]) == 0
        assert name in [line.split()[0] for line in capsys.readouterr().out.splitlines()], listing


def test_plugin_loss_options_are_typed_and_checked_at_config_load(plugin):
    with pytest.raises(ConfigError, match=r"^loss\.options: loss 'plug_margin': margin must be > 0, got -1\.0$"):
        config_from_dict(plug_config(margin=-1.0))
    with pytest.raises(
        ConfigError, match=r"loss\.options \['gamma'\] not accepted by 'plug_margin'; allowed: \['margin'\]"
    ):
        config_from_dict(plug_config(gamma=1))
    with pytest.raises(UserError, match="loss 'plug_margin': margin must be > 0, got 0"):
        build_loss("plug_margin", margin=0)


def test_every_registry_refuses_a_taken_name_and_replace_overrides_it():
    def flat(neuron=None):
        return torch.nn.Identity()

    with pytest.raises(ValueError, match="model 'digits_convnet' is already registered"):
        register_model("digits_convnet", description="", input_shape=(1,), default_neuron={})(flat)
    with pytest.raises(ValueError, match="dataset 'digits' is already registered"):
        register_dataset("digits", "static", 10, needs_root=False)(lambda root, split, T: None)
    with pytest.raises(ValueError, match="loss 'tet_s' is already registered"):  # any spelling of a taken name
        register_loss("TET-S")(TETLoss)
    with pytest.raises(ValueError, match="command 'train' is already registered"):
        register_command("train", help="", handler=lambda args: 0)

    original = LOSSES.get("tet")
    try:
        register_loss("tet", replace=True)(TETSLoss)
        assert isinstance(build_loss("tet"), TETSLoss)
    finally:
        LOSSES["tet"] = original
    assert type(build_loss("tet")) is TETLoss


def test_a_user_dataset_registers_and_builds():
    from torch.utils.data import TensorDataset

    @register_dataset("plug_tiny", "static", 2, needs_root=False)
    def tiny(root, split, T, n: int = 3):
        return TensorDataset(torch.zeros(n, 4), torch.zeros(n, dtype=torch.long))

    try:
        assert dataset_info("plug_tiny").options() == ["n"]
        assert len(build_dataset("plug_tiny", "train", n=5)) == 5
        with pytest.raises(UserError, match=r"dataset 'plug_tiny' has no option \['m'\]; allowed: \['n'\]"):
            build_dataset("plug_tiny", "train", m=5)
    finally:
        DATASETS.pop("plug_tiny", None)


@pytest.mark.parametrize(
    ("lookup", "message"),
    [
        (lambda: build_model("nope"), "unknown model 'nope'; choose one of ['digits_convnet', "),
        (lambda: dataset_info("nope"), "unknown dataset 'nope'; choose one of ['cifar10', "),
        (lambda: build_loss("nope"), "unknown loss 'nope'; choose one of ['sdt', 'tet', 'tet_s', 'lts', 'spike_rate'"),
        (lambda: COMMANDS.get("nope"), "unknown command 'nope'; choose one of ["),
    ],
)
def test_unknown_names_fail_in_one_line_listing_the_choices(lookup, message):
    with pytest.raises(UserError) as info:
        lookup()
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_tet_s_spellings_agree_between_config_validation_and_build_loss():
    for spelling in ("tet_s", "tet-s", "TET-S"):
        assert isinstance(build_loss(spelling), TETSLoss)
        cfg = config_from_dict({"loss": {"name": spelling, "options": {"label_smoothing": 0.1}}})
        loss = build_loss_from_config(cfg)
        assert isinstance(loss, TETSLoss) and loss.label_smoothing == 0.1
    with pytest.raises(ConfigError, match=r"loss\.name must be one of \['sdt', 'tet', 'tet_s', 'lts', 'spike_rate'"):
        config_from_dict({"loss": {"name": "tet-x"}})


def test_the_library_does_not_import_its_study():
    """Importing the library (and the command line) loads nothing of spikeforge.reproduce; a registry lookup
    finds the study's pieces through this package's own entry point."""
    code = textwrap.dedent(
        """
        import sys
        import spikeforge, spikeforge.models, spikeforge.data, spikeforge.losses, spikeforge.commands
        import spikeforge.train.engine
        study = sorted(m for m in sys.modules if m.startswith("spikeforge.reproduce"))
        assert not study, study
        from spikeforge.models import MODELS
        assert "mnist1d_convnet" in MODELS and "spikeforge.reproduce.models" in sys.modules
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_options_derived_once_from_a_builder_signature():
    def builder(width: int, sizes: list = [1, 2], *, name: str = "n"):  # noqa: B006  a mutable default on purpose
        return None

    options_type = reg.options_from_signature("my_thing", builder)
    assert options_type.__name__ == "MyThingOptions"
    first = reg.parse_options("thing", options_type, {"width": 3})
    second = reg.parse_options("thing", options_type, {"width": 4})
    assert reg.options_as_kwargs(first) == {"width": 3, "sizes": [1, 2], "name": "n"}
    assert first.sizes is not second.sizes  # one copy of the list default per options object
    with pytest.raises(UserError, match=r"thing: .*missing 1 required keyword-only argument: 'width'"):
        reg.parse_options("thing", options_type, {})
    with pytest.raises(UserError, match=r"thing has no option \['depth'\]; allowed: \['name', 'sizes', 'width'\]"):
        reg.check_option_names("thing", options_type, {"depth": 1})

    def loose(neuron=None, **kwargs):
        return None

    with pytest.raises(TypeError, match="must list its options explicitly"):
        register_model("plug_loose", description="", input_shape=(1,), default_neuron={})(loose)
    assert "plug_loose" not in MODELS


def test_registry_dict_face_for_tests_and_old_callers():
    r: reg.Registry[int] = reg.Registry("widget")
    r["a"] = 1
    r["a"] = 2  # item assignment replaces, as monkeypatch.setitem expects
    r.add("c", 3)
    r.add("b", 4)
    assert r.get("a") == 2 and r.get("zz", None) is None and r.values() == [2, 4, 3]
    assert r.names(in_registration_order=True) == ["a", "c", "b"] and r.names() == ["a", "b", "c"]
    assert r.pop("a") == 2 and r.pop("a", None) is None
    del r["b"]
    assert list(r) == ["c"]


def test_a_model_may_declare_its_options_dataclass():
    from spikeforge.models import model_info
    from spikeforge.models.sew_resnet import SEWCifarOptions, SEWImageNetOptions

    assert model_info("sew_resnet18").options_type is SEWImageNetOptions
    assert model_info("sew_resnet18_cifar").options_type is SEWCifarOptions
    assert model_info("sew_resnet18").defaults()["stem_pool"] == "avg"
    assert model_info("sew_resnet18_cifar").defaults()["zero_init_residual"] is True
    with pytest.raises(UserError, match=r"model 'sew_resnet18_cifar' has no option \['stem_pool'\]; allowed: \["):
        build_model("sew_resnet18_cifar", stem_pool="max")
