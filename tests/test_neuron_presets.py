"""The papers' neurons are stated once (spikeforge.neuron.presets) and everything uses them."""

import pytest
import torch

from spikeforge import CUBALIFNode
from spikeforge.models import MODELS, build_model
from spikeforge.neuron import PRESETS, is_neuron, neuron_preset
from spikeforge.neuron.factory import build_neuron
from spikeforge.train.config import load_config
from tests.test_config_gradients import CONFIG_DIR


def test_rouser_preset_holds_table_ii_and_slayer_semantics():
    assert neuron_preset("rouser_cuba") == {
        "type": "cuba",
        "alpha_i": 0.75,
        "alpha_v": 0.97,
        "v_reset": 0.0,
        "v_threshold": "learn",
        "detach_reset": True,
        "surrogate": {"name": "exponential", "scale": 1.5, "tau": 3.75},
        "v_threshold_init": 1.25,
    }
    assert neuron_preset("slayer_cuba")["v_threshold"] == 1.25
    assert neuron_preset("tet_legacy_lif")["tau"] == pytest.approx(4 / 3)  # decay factor 1 - 1/tau = 0.25


def test_cuba_node_defaults_are_the_slayer_preset():
    default, preset = CUBALIFNode(), build_neuron(neuron_preset("slayer_cuba"))
    assert repr(default) == repr(preset) and default.detach_reset is True


def test_presets_are_copies_and_overrides_replace_keys():
    a = neuron_preset("rouser_cuba", v_threshold_init=0.25)
    a["surrogate"]["tau"] = 99.0
    assert PRESETS["rouser_cuba"].neuron["surrogate"]["tau"] == 3.75
    assert a["v_threshold_init"] == 0.25 and neuron_preset("rouser_cuba")["v_threshold_init"] == 1.25
    with pytest.raises(ValueError, match="unknown neuron preset 'lava'; choose one of"):
        neuron_preset("lava")
    with pytest.raises(TypeError):
        PRESETS["rouser_cuba"].neuron["v_reset"] = 1.0  # read-only


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_and_runs(name):
    node = build_neuron(neuron_preset(name), feature_shape=(3,))
    assert node(torch.rand(4, 2, 3) * 3).shape == (4, 2, 3)
    assert PRESETS[name].source


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_build_their_registered_default_neuron(name):
    # One declaration per model: what the registry reports is what the builder uses.
    expected = repr(build_neuron(MODELS[name].default_neuron))
    model = build_model(name)
    reprs = {repr(m) for m in model.modules() if is_neuron(m)}
    assert reprs == {expected}


def test_rouser_configs_use_the_presets():
    for ds in ("nmnist", "dvs128_gesture", "shd"):
        assert load_config(CONFIG_DIR / f"rouser_{ds}_learned_threshold.yaml").neuron == neuron_preset("rouser_cuba")
        assert load_config(CONFIG_DIR / f"rouser_{ds}_fixed_threshold.yaml").neuron == neuron_preset("slayer_cuba")
    assert load_config(CONFIG_DIR / "sim_events_rouser.yaml").neuron == neuron_preset("rouser_cuba")
