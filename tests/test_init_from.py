"""``model.init_from``: ANN weights for the ImageNet configs, and one line when the file is absent."""

import torch
from torch import nn

from spikeforge.commands import main
from spikeforge.models import build_model
from spikeforge.models.sew_resnet import torchvision_resnet_key
from spikeforge.train.builders import init_from_state_dict
from spikeforge.train.config import CONFIG_DIR, load_config


def test_missing_weights_file_fails_in_one_line_before_the_data(tmp_path, capsys):
    # imagenet100 has no data here either: the weights check must come first, in one line.
    code = main(["train", "imagenet100_sew18_lts", "--set", f"model.init_from={tmp_path / 'resnet18.pth'}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("spikeforge: error: model.init_from: weights file") and "resnet18.pth not found" in err


def test_imagenet_configs_name_the_torchvision_weights_they_start_from():
    for depth, name in ((18, "resnet18-f37072fd.pth"), (34, "resnet34-b627a593.pth"), (50, "resnet50-0676ba61.pth")):
        assert load_config(CONFIG_DIR / f"imagenet1k_sew{depth}_lts.yaml").model.init_from == name
    assert load_config(CONFIG_DIR / "imagenet100_sew18_sdt_imp.yaml").model.init_from == "resnet18-f37072fd.pth"


def test_torchvision_state_dict_loads_into_a_sew_resnet(tmp_path):
    torch.manual_seed(0)
    model = build_model("sew_resnet18", num_classes=100)
    # A torchvision-named state dict: the inverse of the key mapping, with a 1000-class fc.
    own = model.state_dict()
    inverse = {}
    for key in ["conv1.weight", "bn1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer2.0.bn2.bias",
                "layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_var"]:  # fmt: skip
        inverse[key] = torch.randn_like(own[torchvision_resnet_key(key)])
    inverse["fc.weight"], inverse["fc.bias"] = torch.randn(1000, 512), torch.randn(1000)
    torch.save(inverse, tmp_path / "resnet18.pth")
    copied, skipped = init_from_state_dict(model, str(tmp_path / "resnet18.pth"))
    assert (copied, skipped) == (7, 2)  # the fc has another number of classes
    assert torch.equal(model.stem.conv.weight, inverse["conv1.weight"])
    assert torch.equal(model.layer2[0].downsample.bn.running_var, inverse["layer2.0.downsample.1.running_var"])
    assert isinstance(model.head.fc, nn.Linear) and model.head.fc.out_features == 100
