"""Config loading: types, unknown keys, overrides, one-line errors."""

import pytest

from spikeforge.train.config import (
    Config,
    ConfigError,
    OptimConfig,
    ScheduleConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
)
from spikeforge.train.optim import build_optimizer, lr_factor


def test_defaults_round_trip():
    cfg = Config()
    assert config_from_dict(config_to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"optim": {"lrr": 0.1}}, "unknown config key 'optim.lrr'; allowed keys in optim: ['name', 'lr'"),
        ({"epoks": 3}, "unknown config key 'epoks'"),
        ({"optim": {"name": "rmsprop"}}, "optim.name must be one of ['sgd', 'adam', 'adamw', 'lamb'], got 'rmsprop'"),
        ({"epochs": 2.5}, "epochs must be an integer, got 2.5"),
        ({"T": "four"}, "T must be an integer"),
        ({"run": {"monitor": "yes"}}, "run.monitor must be true or false"),
        ({"optim": {"betas": [0.9]}}, "optim.betas must be a list of 2 values"),
        ({"optim": {"no_decay": ["imp", "gamma"]}}, "optim.no_decay[1] must be one of"),
        ({"data": "digits"}, "data must be a mapping with keys"),
        ({"T": 0}, "T must be >= 1"),
        ({"device": "tpu"}, "device must be"),
    ],
)
def test_bad_configs_name_the_field(raw, message):
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert message in str(info.value)


def test_numbers_in_yaml_exponent_form_are_accepted(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("optim:\n  lr: 1e-3\n  weight_decay: 5e-4\n")
    cfg = load_config(p)
    assert cfg.optim.lr == 1e-3 and cfg.optim.weight_decay == 5e-4


def test_overrides_parse_yaml_values():
    raw = apply_overrides({}, ["optim.lr=0.5", "neuron.imp=learn", "neuron.v_reset=null", "data.options.window=3"])
    assert raw == {
        "optim": {"lr": 0.5},
        "neuron": {"imp": "learn", "v_reset": None},
        "data": {"options": {"window": 3}},
    }
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["optim.lr"])


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: [1, 2\n")
    with pytest.raises(ConfigError, match="invalid YAML at line"):
        load_config(bad)
    err = tmp_path / "err.yaml"
    err.write_text("optim:\n  lr: fast\n")
    with pytest.raises(ConfigError, match=r"err.yaml: optim.lr must be a number"):
        load_config(err)


def test_schedule_factors():
    cos = ScheduleConfig(name="cosine", warmup_epochs=2, warmup_start_factor=0.1, min_lr=0.0)
    assert lr_factor(0, 12, cos, 1.0) == pytest.approx(0.1)
    assert lr_factor(1, 12, cos, 1.0) == pytest.approx(0.55)
    assert lr_factor(2, 12, cos, 1.0) == pytest.approx(1.0)
    assert lr_factor(7, 12, cos, 1.0) == pytest.approx(0.5)
    step = ScheduleConfig(name="step", step_size=3, gamma=0.5)
    assert [lr_factor(e, 10, step, 1.0) for e in (0, 2, 3, 6)] == [1.0, 1.0, 0.5, 0.25]


def test_optimizer_groups_exclude_neuron_norm_bias_from_decay():
    import torch
    from torch import nn

    from spikeforge import LIFNode
    from spikeforge.layers import TEBN

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 4)
            self.bn = nn.BatchNorm1d(4)
            self.tebn = TEBN(4, T=2)
            self.sn = LIFNode(imp="learn", v_threshold="learn", feature_shape=(4,))

    net = Net()
    opt = build_optimizer(net, OptimConfig(name="sgd", lr=0.1, weight_decay=1e-4, neuron_lr=0.01))
    groups = {g["name"]: g for g in opt.param_groups}
    assert set(groups) == {"network", "network_no_decay", "neuron_no_decay"}
    assert [p.shape for p in groups["network"]["params"]] == [torch.Size([4, 3])]
    assert groups["network"]["weight_decay"] == 1e-4 and groups["network_no_decay"]["weight_decay"] == 0
    assert len(groups["network_no_decay"]["params"]) == 6  # fc.bias, bn w/b, tebn.te, tebn.bn w/b
    assert groups["neuron_no_decay"]["lr"] == 0.01 and len(groups["neuron_no_decay"]["params"]) == 2


def test_optimizer_refuses_unmaterialized_neurons():
    from torch import nn

    from spikeforge import LIFNode, NeuronParameterError

    with pytest.raises(NeuronParameterError, match="materialize"):
        build_optimizer(nn.Sequential(nn.Linear(2, 2), LIFNode(imp="learn")), OptimConfig())


def test_init_from_copies_matching_tensors(tmp_path):
    import torch
    from torch import nn

    from spikeforge.train.builders import init_from_state_dict

    src = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    torch.save({"state_dict": {**src.state_dict(), "extra.weight": torch.zeros(1)}}, tmp_path / "w.pth")
    dst = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 5))  # head differs in shape: skipped
    copied, skipped = init_from_state_dict(dst, str(tmp_path / "w.pth"))
    assert (copied, skipped) == (2, 3)
    assert torch.equal(dst[0].weight, src[0].weight) and not torch.equal(dst[1].bias[:2], src[1].bias)
    with pytest.raises(ConfigError, match="no entry matches"):
        init_from_state_dict(nn.Linear(7, 7), str(tmp_path / "w.pth"))
