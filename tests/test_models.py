"""spikeforge.models: every registered network builds, runs and trains; architecture facts."""

import pytest
import torch
from torch import nn

import spikeforge
from spikeforge.encoding import direct
from spikeforge.models import (
    MODELS,
    SEWBasicBlock,
    SEWResNet,
    SumPool2d,
    TimeWindow,
    build_model,
    list_models,
    load_torchvision_resnet_,
    model_info,
)
from spikeforge.models.sew_resnet import sew_add, sew_and, sew_iand
from spikeforge.neuron import is_neuron

T, B = 2, 2

# Smaller inputs than the paper's where the architecture allows it, to keep the tests fast.
SMALL_INPUT = {
    "sew_resnet18": (3, 32, 32),
    "sew_resnet34": (3, 32, 32),
    "sew_resnet50": (3, 32, 32),
    "sew_resnet18_cifar": (3, 16, 16),
    "sew_resnet34_cifar": (3, 16, 16),
    "vgg11_128": (2, 32, 32),
}


def _setup(name: str, neuron=None):
    """(model, input [T, B, ...], number of classes) for a registered model."""
    torch.manual_seed(0)
    info = model_info(name)
    kwargs = {"T": T} if "T" in info.options() else {}
    if neuron is not None:
        kwargs["neuron"] = neuron
    model = build_model(name, **kwargs)
    shape = SMALL_INPUT.get(name, info.input_shape)
    x = (torch.rand(T, B, *shape) < 0.3).float()  # spike-like input suits every model
    defaults = info.defaults()
    K = defaults["sizes"][-1] if "sizes" in defaults else defaults["num_classes"]
    return model, x, K


def _forward_backward(model: nn.Module, x: torch.Tensor, K: int) -> torch.Tensor:
    model.train()
    out = model(x)
    assert out.shape == (T, B, K)
    assert torch.isfinite(out).all()
    # A random linear loss: its gradient is never zero, even where the outputs are.
    (out * torch.randn_like(out)).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"
    return out


@pytest.mark.parametrize("name", sorted(MODELS))
def test_builds_and_trains_with_default_neuron(name):
    model, x, K = _setup(name)
    spikeforge.materialize(model, x[:, :1])
    _forward_backward(model, x, K)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_learnable_imp_and_threshold_everywhere(name):
    neuron = {**model_info(name).default_neuron, "imp": "learn", "v_threshold": "learn"}
    model, x, K = _setup(name, neuron)
    neurons = [m for m in model.modules() if is_neuron(m)]
    assert neurons and all(m.learn_imp and m.learn_threshold for m in neurons)
    spikeforge.materialize(model, x[:, :1])
    assert all(m.is_materialized() for m in neurons)
    for m in neurons:
        assert m.imp.shape == m.v_threshold.shape and m.imp.numel() > 1  # per neuron by default
    _forward_backward(model, x, K)
    imp_grads = [m.imp.grad for m in neurons]
    assert any(g.abs().sum() > 0 for g in imp_grads)
    assert any(m.v_threshold.grad.abs().sum() > 0 for m in neurons)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("sew_resnet18", 11_689_512), ("sew_resnet34", 21_797_672), ("sew_resnet50", 25_557_032)],
)
def test_sew_resnet_parameter_counts_equal_torchvision_resnets(name, expected):
    model = build_model(name)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_connect_functions_on_spikes():
    a = torch.tensor([0.0, 0.0, 1.0, 1.0])  # residual branch spikes A
    s = torch.tensor([0.0, 1.0, 0.0, 1.0])  # shortcut spikes S
    assert sew_add(a, s).tolist() == [0, 1, 1, 2]
    assert sew_and(a, s).tolist() == [0, 0, 0, 1]
    assert sew_iand(a, s).tolist() == [0, 1, 0, 0]  # (NOT A) AND S


@pytest.mark.parametrize(("connect", "passes_input"), [("add", True), ("iand", True), ("and", False)])
def test_zero_init_residual_blocks_start_as_identity(connect, passes_input):
    # A zeroed last BN feeds 0 to the last neuron, so the branch is silent (A = 0):
    # ADD and IAND give S, AND gives 0.
    model = build_model("sew_resnet18_cifar", connect=connect, zero_init_residual=True).eval()
    identity_blocks = [m for m in model.modules() if isinstance(m, SEWBasicBlock) and m.downsample is None]
    seen = []
    hooks = [b.register_forward_hook(lambda mod, inp, out: seen.append((inp[0], out))) for b in identity_blocks]
    with torch.no_grad():
        model(direct(torch.rand(B, 3, 8, 8), T))
    for h in hooks:
        h.remove()
    assert len(seen) == len(identity_blocks) == 5  # both blocks of layer1, the second of layers 2-4
    for inp, out in seen:
        assert torch.equal(out, inp if passes_input else torch.zeros_like(inp))
    assert any(inp.sum() > 0 for inp, _ in seen)


def test_bad_connect_and_stem_options_fail_clearly():
    with pytest.raises(ValueError, match="connect"):
        build_model("sew_resnet18", connect="or")
    with pytest.raises(ValueError, match="stem_pool"):
        build_model("sew_resnet18", stem_pool="median")
    with pytest.raises(ValueError, match="no pooling"):
        SEWResNet("basic", (1, 1, 1, 1), stem="cifar", stem_pool="avg")


def test_stem_pooling_is_configurable():
    assert isinstance(build_model("sew_resnet18").stem_pool[0], nn.AvgPool2d)
    assert isinstance(build_model("sew_resnet18", stem_pool="max").stem_pool[0], nn.MaxPool2d)
    assert isinstance(build_model("sew_resnet18", stem_pool="none").stem_pool, nn.Identity)


@pytest.mark.parametrize("train", [False, True])
def test_stem_runs_once_for_direct_encoded_input(train):
    torch.manual_seed(0)
    model = build_model("sew_resnet18_cifar", num_classes=5).train(train)
    batch_sizes = []
    model.stem.conv.register_forward_hook(lambda mod, inp, out: batch_sizes.append(inp[0].shape[0]))
    images = torch.rand(B, 3, 8, 8)

    out_once = model(direct(images, 3))
    out_once.sum().backward()
    grad_once = model.stem.conv.weight.grad.clone()
    model.zero_grad()
    out_full = model(images.unsqueeze(0).repeat(3, 1, 1, 1, 1))  # materialised copies: no shortcut
    out_full.sum().backward()

    assert batch_sizes == [B, 3 * B]
    torch.testing.assert_close(out_once, out_full, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(grad_once, model.stem.conv.weight.grad, rtol=1e-4, atol=1e-5)


def test_torchvision_checkpoint_keys_and_shapes_fit():
    # Keys and shapes of torchvision's resnet50 state dict (a sample covering every rule).
    tv = {
        "conv1.weight": (64, 3, 7, 7),
        "bn1.running_var": (64,),
        "layer1.0.conv1.weight": (64, 64, 1, 1),
        "layer1.0.conv3.weight": (256, 64, 1, 1),
        "layer1.0.bn3.weight": (256,),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer1.0.downsample.1.bias": (256,),
        "layer3.2.conv2.weight": (256, 256, 3, 3),
        "layer4.0.downsample.1.num_batches_tracked": (),
        "fc.weight": (1000, 2048),
        "fc.bias": (1000,),
    }
    state = {k: torch.randn(s) if s else torch.tensor(7) for k, s in tv.items()}
    model = build_model("sew_resnet50", num_classes=10)
    not_loaded = load_torchvision_resnet_(model, state)
    own = model.state_dict()
    assert torch.equal(own["stem.conv.weight"], state["conv1.weight"])
    assert torch.equal(own["layer1.0.conv3.bn.weight"], state["layer1.0.bn3.weight"])
    assert torch.equal(own["layer1.0.downsample.conv.weight"], state["layer1.0.downsample.0.weight"])
    assert torch.equal(own["layer3.2.conv2.conv.weight"], state["layer3.2.conv2.weight"])
    assert {"head.fc.weight", "head.fc.bias"} <= set(not_loaded)  # 10 classes: the 1000-class fc is skipped
    with pytest.raises(ValueError, match="not a torchvision ResNet"):
        load_torchvision_resnet_(model, {"classifier.weight": torch.zeros(1)})


def test_vgg11_48_layout():
    model = build_model("vgg11_48", T=3)
    assert model.classifier.fc.in_features == 512 * 3 * 3
    assert isinstance(model.classifier.dropout, nn.Dropout) and model.classifier.dropout.p == 0.25
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256, 512, 512, 512, 512]
    assert all(c.bias is not None for c in convs)
    assert sum(isinstance(m, nn.AvgPool2d) for m in model.modules()) == 4
    assert all(m.te.shape == (3, 1, 1, 1, 1) for m in model.modules() if hasattr(m, "te"))
    neuron = next(m for m in model.modules() if is_neuron(m))
    assert neuron.dynamics().kind == "lif" and 1 - 1 / neuron.tau == pytest.approx(0.25)
    model.eval()
    with torch.no_grad(), pytest.raises(ValueError, match="48x48"):
        model(torch.rand(3, 1, 2, 32, 32))
    with torch.no_grad(), pytest.raises(ValueError, match="T=3"):
        model(torch.rand(2, 1, 2, 48, 48))


def test_vgg11_48_default_neuron_is_the_legacy_tet_lif():
    # Legacy loop of the official 48x48 code: mem = 0.25 * mem + x; spike = mem > 1; hard reset to 0.
    from spikeforge.models.vgg import VGG11_48_NEURON
    from spikeforge.neuron.factory import build_neuron

    torch.manual_seed(0)
    x = torch.randn(6, 4, 16) * 1.5
    imp = torch.rand(16) * 0.4 - 0.2
    mem, expected = imp.clone(), []
    for t in range(x.shape[0]):
        mem = 0.25 * mem + x[t]
        spike = (mem >= 1.0).float()  # (the legacy code fires on mem > 1; equality has probability 0 here)
        mem = mem * (1 - spike)
        expected.append(spike)
    node = build_neuron(VGG11_48_NEURON, imp="learn", feature_shape=(16,))
    with torch.no_grad():
        node.imp.copy_(imp)
    torch.testing.assert_close(node(x), torch.stack(expected))


def test_vgg11_128_layout():
    model = build_model("vgg11_128", num_classes=101)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256, 512, 512, 512, 512]
    assert convs[0].in_channels == 2
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 8
    assert model.head.fc.in_features == 512 and model.head.fc.out_features == 101


@pytest.mark.parametrize("name", ["rouser_nmnist", "rouser_dvs128", "rouser_shd"])
def test_rouser_nets_output_spikes_and_learn_thresholds(name):
    model, x, K = _setup(name)
    with torch.no_grad():
        out = model(x * 3)
    assert out.shape == (T, B, K) and set(out.unique().tolist()) <= {0.0, 1.0}
    assert out.sum() > 0
    neurons = [m for m in model.modules() if is_neuron(m)]
    assert [m.dynamics().kind for m in neurons] == ["cuba"] * len(neurons)
    widths = [m.weight.shape[0] for m in model.modules() if isinstance(m, nn.Linear)]
    assert [tuple(m.v_threshold.shape) for m in neurons] == [(w,) for w in widths]  # per neuron, output included
    assert all(torch.all(m.v_threshold == 1.25) for m in neurons)
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Linear))


def test_rouser_layer_sizes():
    def sizes(model):
        return [m.in_features for m in model.modules() if isinstance(m, nn.Linear)] + [model.sizes[-1]]

    assert sizes(build_model("rouser_nmnist")) == [34 * 34 * 2, 500, 500, 10]
    assert sizes(build_model("rouser_dvs128")) == [128 * 128 * 2, 64, 11]
    assert sizes(build_model("rouser_dvs128", input_pool=4)) == [32 * 32 * 2, 64, 11]
    assert sizes(build_model("rouser_shd")) == [700, 200, 200, 20]
    model = build_model("rouser_dvs128", input_pool=4)
    assert model(torch.rand(2, 1, 2, 128, 128)).shape == (2, 1, 11)
    with pytest.raises(ValueError, match="sizes\\[0\\]"):
        model(torch.rand(2, 1, 2, 64, 64))


def test_sum_pool_keeps_event_counts():
    x = torch.randint(0, 3, (5, 2, 16, 16)).float()
    y = SumPool2d(4)(x)
    assert y.shape == (5, 2, 4, 4) and y.sum() == x.sum()


def test_time_window_is_causal_and_ordered():
    x = torch.arange(1.0, 6.0).reshape(5, 1, 1)  # [T=5, B=1, F=1]: values 1..5
    y = TimeWindow(3)(x)
    assert y.shape == (5, 1, 3)
    assert y[:, 0].tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]]
    model = build_model("mnist1d_snn", window=4)
    assert model(torch.rand(40, 3, 1)).shape == (40, 3, 10)


def test_mnist1d_has_linear_readout():
    model = build_model("mnist1d_snn")
    assert model.sizes[0] == 10  # the default causal window of 10 scalar values
    assert not is_neuron(list(model.layers)[-1])
    out = model(torch.randn(40, 2, 1))
    assert not set(out.unique().tolist()) <= {0.0, 1.0}


def test_registry_reports_bad_names_and_options():
    with pytest.raises(ValueError, match="unknown model 'resnet9000'"):
        build_model("resnet9000")
    with pytest.raises(ValueError, match=r"model 'digits_convnet' has no option \['depth'\]; allowed: \[.*neuron"):
        build_model("digits_convnet", depth=3)
    with pytest.raises(ValueError, match=r"neuron\.type"):
        build_model("digits_convnet", neuron={"type": "hodgkin-huxley"})
    descriptions = list_models()
    assert set(descriptions) == set(MODELS) and all(descriptions.values())


def test_neuron_mapping_replaces_the_model_default():
    default = build_model("rouser_shd")
    assert all(type(m).__name__ == "CUBALIFNode" for m in default.modules() if is_neuron(m))
    lif = build_model("rouser_shd", neuron={"type": "lif", "tau": 3.0})
    nodes = [m for m in lif.modules() if is_neuron(m)]
    assert len(nodes) == 3 and all(type(m).__name__ == "LIFNode" and m.tau == 3.0 for m in nodes)
    assert all(not m.learn_threshold for m in nodes)  # nothing kept from the CUBA default


def test_digits_convnet_first_stage_encodes_once():
    model = build_model("digits_convnet").eval()
    seen = []
    model.features[0].synapse.conv.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape[0]))
    with torch.no_grad():
        out = model(direct(torch.rand(5, 1, 8, 8), 4))
    assert seen == [5] and out.shape == (4, 5, 10)


def test_models_command_lists_every_model_and_shows_one(capsys):
    from spikeforge.commands import main
    from spikeforge.models import MODELS

    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == sorted(MODELS)
    assert "digits_convnet  " in lines[0] and "[T, B, 1, 8, 8]" in lines[0]
    assert lines[-1].startswith(f"{len(MODELS)} models")
    assert main(["models", "digits_convnet"]) == 0
    out = capsys.readouterr().out
    assert "  widths: [32, 64]\n" in out and "  encode_once: true\n" in out  # as a YAML config writes them
    assert "from the run: num_classes" in out and "  type: lif\n" in out  # the default neuron
    assert "  neuron:" not in out  # the config's own neuron: section
    assert main(["models", "resnet9000"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("spikeforge models: error: unknown model 'resnet9000'; choose one of [")
