"""The papers' networks and a registry that builds them by name.

Every model maps time-first input ``[T, B, ...]`` to ``[T, B, num_classes]`` (logits per
step, or output spikes for the Rouser nets) and builds all its spiking layers from one
``neuron`` mapping (a YAML ``neuron:`` section)::

    from spikeforge import materialize
    from spikeforge.models import build_model, list_models

    model = build_model("sew_resnet18", num_classes=100, neuron={"type": "if", "imp": "learn"})
    materialize(model, torch.rand(4, 1, 3, 224, 224))  # create the per-neuron IMPs

=========================  =====================================  =======================
name                       input per step                         output
=========================  =====================================  =======================
``sew_resnet18/34/50``     ``[3, 224, 224]``                      logits
``sew_resnet18/34_cifar``  ``[3, 32, 32]``                        logits
``vgg11_48``               ``[2, 48, 48]`` (built for one ``T``)  logits
``vgg11_128``              ``[2, 128, 128]``                      logits
``rouser_nmnist``          ``[2, 34, 34]``                        output spikes
``rouser_dvs128``          ``[2, 128, 128]``                      output spikes
``rouser_shd``             ``[700]``                              output spikes
``spiking_mlp``            ``[sizes[0]]``                         output spikes or logits
``digits_convnet``         ``[1, 8, 8]``                          logits
``mnist1d_snn``            ``[1]`` (T = 40)                       logits
``event_convnet``          ``[2, 34, 34]``                        logits
``mnist1d_convnet``        ``[40]`` (reproduction study)          logits
``narrow_vgg_legacy``      ``[2, 16, 16]`` (reproduction study)   logits
=========================  =====================================  =======================
"""

from . import convnet, mlp, sew_resnet, vgg
from .common import ConvUnit, EncodeOnce, SumPool2d, TimeWindow
from .convnet import ConvSNN
from .mlp import SpikingMLP
from .registry import MODELS, ModelInfo, build_model, list_models, model_info, register_model
from .sew_resnet import SEWBasicBlock, SEWBottleneck, SEWResNet, load_torchvision_resnet_
from .vgg import VGG11, VGG11R48

__all__ = [
    "MODELS",
    "VGG11",
    "ConvSNN",
    "ConvUnit",
    "EncodeOnce",
    "ModelInfo",
    "SEWBasicBlock",
    "SEWBottleneck",
    "SEWResNet",
    "SpikingMLP",
    "SumPool2d",
    "TimeWindow",
    "VGG11R48",
    "build_model",
    "convnet",
    "list_models",
    "load_torchvision_resnet_",
    "mlp",
    "model_info",
    "register_model",
    "sew_resnet",
    "vgg",
]
