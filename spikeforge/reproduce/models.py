"""Small networks that only the reproduction study uses; :func:`register` adds them to the model registry.

The library never imports this module: the study's plug-in (:mod:`spikeforge.reproduce.plugin`)
registers them, from this package's own ``spikeforge.plugins`` entry point (so ``spikeforge train``
with a config naming one finds them) and when the study runs.

* ``mnist1d_convnet``: a bias-free conv-BN SNN for MNIST-1D as a static 40-vector (claim 1: Shen
  et al.'s static networks are conv-BN nets without bias, in which a learnable IMP is not a
  bias in disguise). ``[T, B, 40] -> [T, B, 10]``: two ``conv1d(k=5, no bias) -> BN -> neuron``
  units (the second with stride 2), then ``AvgPool1d(2)``, flatten and a linear readout.
* ``narrow_vgg_legacy``: the TET-style VGG of Shen et al.'s 48x48 event runs (``conv3x3 (bias)
  -> TEBN -> legacy LIF`` units, average pooling, linear classifier; the neuron of
  :data:`spikeforge.models.vgg.VGG11_48_NEURON`) narrowed to a CPU budget: four units of widths
  ``16, 32, 64, 64`` (VGG-11's first four, divided by 4 to 8) on 16x16 frames, pooling after the
  second and fourth unit. Claims 3 and 4 use it.
* ``mnist1d_convnet_bias``: ``mnist1d_convnet`` plus a learnable per-neuron bias added to each neuron
  layer's input current at every step (claim 1's control): as many extra parameters as a per-neuron IMP
  (one per neuron, the same U(-0.2, 0.2) init, no weight decay), but a constant drive instead of an initial
  state, so it tells extra parameters from the IMP's dynamics.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..layers import MultiStep
from ..models.common import EncodeOnce, init_conv_kaiming_, make_neurons
from ..models.registry import register_model
from ..models.vgg import VGG11_48_NEURON, tebn_features

__all__ = [
    "MNIST1D_CONVNET",
    "MNIST1D_CONVNET_BIAS",
    "NARROW_VGG",
    "Mnist1dConvBiasSNN",
    "Mnist1dConvSNN",
    "NarrowVGGLegacy",
    "NeuronBias",
    "register",
]

MNIST1D_CONVNET = "mnist1d_convnet"
MNIST1D_CONVNET_BIAS = "mnist1d_convnet_bias"
NARROW_VGG = "narrow_vgg_legacy"
# IF with soft reset and ATan, as the SEW-ResNet CIFAR configs of Shen et al. (IMP set per arm)
IF_NEURON: Mapping[str, Any] = {"type": "if", "v_reset": None, "surrogate": {"name": "atan", "alpha": 2.0}}


class Mnist1dConvSNN(nn.Module):
    """Bias-free conv-BN SNN on a static 40-vector: ``[T, B, 40] -> [T, B, num_classes]``."""

    def __init__(
        self, num_classes: int = 10, widths: Sequence[int] = (32, 64), neuron: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__()
        make_neuron = make_neurons(neuron, IF_NEURON)
        c1, c2 = widths
        # the first stage sees the same input at every step: computed once (EncodeOnce)
        self.stem = EncodeOnce(OrderedDict(conv=nn.Conv1d(1, c1, 5, padding=2, bias=False), bn=nn.BatchNorm1d(c1)))
        self.sn1 = make_neuron()
        self.conv2 = MultiStep(
            OrderedDict(conv=nn.Conv1d(c1, c2, 5, stride=2, padding=2, bias=False), bn=nn.BatchNorm1d(c2))
        )
        self.sn2 = make_neuron()
        self.head = MultiStep(
            OrderedDict(pool=nn.AvgPool1d(2), flatten=nn.Flatten(1), fc=nn.Linear(c2 * 10, num_classes))
        )
        init_conv_kaiming_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[T, B, 40]``; returns logits ``[T, B, num_classes]``."""
        y = self.sn1(self.stem(x.unsqueeze(2)))
        return self.head(self.sn2(self.conv2(y)))


class NeuronBias(nn.Module):
    """A learnable bias per neuron, added at every step: ``[T, B, *shape] -> [T, B, *shape]``.

    Named ``bias`` so that the optimiser's parameter groups treat it as a bias (no weight decay,
    like the IMP it stands in for).
    """

    def __init__(self, shape: Sequence[int], init: float = 0.2) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.empty(*shape).uniform_(-init, init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[T, B, *shape]``; the same bias at every step and for every sample."""
        return x + self.bias


class Mnist1dConvBiasSNN(Mnist1dConvSNN):
    """:class:`Mnist1dConvSNN` with a :class:`NeuronBias` before each neuron layer (claim 1's control):
    ``[T, B, length] -> [T, B, num_classes]``; one bias per neuron (``widths[0] x length`` and
    ``widths[1] x length / 2``, as many as a per-neuron IMP), init U(-``bias_init``, ``bias_init``)."""

    def __init__(
        self,
        num_classes: int = 10,
        widths: Sequence[int] = (32, 64),
        neuron: Mapping[str, Any] | None = None,
        length: int = 40,
        bias_init: float = 0.2,
    ) -> None:
        super().__init__(num_classes, widths, neuron)
        c1, c2 = widths
        # drawn after the parent's weights, so a seed gives the same weights as the IMP arms
        self.bias1 = NeuronBias((c1, length), bias_init)
        self.bias2 = NeuronBias((c2, (length + 1) // 2), bias_init)  # conv2: k5, stride 2, padding 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[T, B, length]``; returns logits ``[T, B, num_classes]``."""
        y = self.sn1(self.bias1(self.stem(x.unsqueeze(2))))
        return self.head(self.sn2(self.bias2(self.conv2(y))))


class NarrowVGGLegacy(nn.Module):
    """Narrow TET-style VGG (TEBN, legacy LIF) for 16x16 event frames: ``[T, B, 2, 16, 16] -> [T, B, K]``."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 2,
        T: int = 8,
        widths: Sequence[int] = (16, 32, 64, 64),
        neuron: Mapping[str, Any] | None = None,
        dropout: float = 0.25,
    ) -> None:
        super().__init__()
        layout: list[tuple[str, int] | str] = []
        for i, width in enumerate(widths):  # VGG11R48's units, pooled after every second one
            layout += [("C", width), "P"] if i % 2 else [("C", width)]
        self.features, channels = tebn_features(layout, in_channels, make_neurons(neuron, VGG11_48_NEURON), T)
        self.classifier = MultiStep(
            OrderedDict(
                pool=nn.AdaptiveAvgPool2d(4),
                flatten=nn.Flatten(1),
                dropout=nn.Dropout(dropout),
                fc=nn.Linear(channels * 16, num_classes),
            )
        )
        init_conv_kaiming_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[T, B, C, H, W]``; returns logits ``[T, B, num_classes]``."""
        return self.classifier(self.features(x))


def register() -> None:
    """Register the study's networks (their classes are the builders: one parameter list per model)."""
    register_model(
        MNIST1D_CONVNET,
        description="bias-free conv1d-BN SNN for MNIST-1D as a static 40-vector (reproduction study)",
        input_shape=(40,),
        default_neuron=IF_NEURON,
    )(Mnist1dConvSNN)
    register_model(
        MNIST1D_CONVNET_BIAS,
        description="mnist1d_convnet with a learnable per-neuron input bias (claim 1's control for the IMP)",
        input_shape=(40,),
        default_neuron=IF_NEURON,
    )(Mnist1dConvBiasSNN)
    register_model(
        NARROW_VGG,
        description="TET-style VGG (TEBN, legacy LIF) narrowed for 16x16 event frames (reproduction study)",
        input_shape=(2, 16, 16),
        default_neuron=VGG11_48_NEURON,
    )(NarrowVGGLegacy)
