"""Spiking VGG-11 variants of Shen et al. for event data (docs/methods.md A.4).

* :class:`VGG11R48` (``vgg11_48``): the TET-style "VGG11R48x48" for 48x48 frames. Eight
  ``conv3x3 (bias) -> TEBN -> LIF`` units with ``AvgPool2d(2)`` after units 2, 4, 6 and 8,
  then flatten ``512*3*3`` -> ``Dropout(0.25)`` -> ``Linear``. Kaiming-normal (fan_out)
  conv init. Its default neuron is the legacy LIF of that code: ``mem = 0.25 * mem + x``,
  hard reset to 0 (not detached), threshold 1, triangle (ZIF) surrogate with gamma 1;
  in :class:`~spikeforge.LIFNode` terms ``tau = 4/3`` with ``decay_input=False``
  (``1 - 1/tau = 0.25``). TEBN learns a scale per step, so the model is built for one ``T``.
* :class:`VGG11` (``vgg11_128``): the mmpretrain-style VGG-11 for 128x128 frames. Stages of
  ``[1, 1, 2, 4]`` ``conv3x3 (bias) -> BN -> LIF`` units with widths ``[64, 128, 256, 512]``,
  ``AvgPool2d(2)`` between stages, spiking global average pooling, ``Linear(512 -> K)``.
  Default neuron: LIF tau 2, soft reset, detached reset, sigmoid surrogate (alpha 4).
  PyTorch default init, as that code.

Both take ``[T, B, C, H, W]`` (``C = 2`` event polarities by default) and return logits
``[T, B, num_classes]`` at every step (for TET / TET-S losses).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..layers import MultiStep
from ..neuron.presets import neuron_preset
from .common import ConvUnit, init_conv_kaiming_, make_neurons
from .registry import register_model

__all__ = ["VGG11", "VGG11R48", "VGG11_128_NEURON", "VGG11_48_NEURON", "tebn_features", "vgg11_128", "vgg11_48"]

# Legacy TET LIF (A.1(a)): decay factor 0.25 == LIF tau 4/3 without input decay.
VGG11_48_NEURON: Mapping[str, Any] = neuron_preset("tet_legacy_lif")
# mmpretrain VGG-11 (A.1(b)): SpikingJelly LIF defaults with soft, detached reset.
VGG11_128_NEURON: Mapping[str, Any] = neuron_preset("mmpretrain_lif")

# ("C", width) is a conv unit, "P" an AvgPool2d(2).
_VGG11R48_LAYOUT: tuple[tuple[str, int] | str, ...] = (
    ("C", 64), ("C", 128), "P",
    ("C", 256), ("C", 256), "P",
    ("C", 512), ("C", 512), "P",
    ("C", 512), ("C", 512), "P",
)  # fmt: skip


def tebn_features(
    layout: Sequence[tuple[str, int] | str], in_channels: int, make_neuron: Callable[[], nn.Module], T: int
) -> tuple[nn.Sequential, int]:
    """The TET-style feature stack: ``("C", width)`` a ``conv3x3 (bias) -> TEBN -> neuron`` unit, ``"P"`` an
    ``AvgPool2d(2)``; ``[T, B, in_channels, H, W] -> [T, B, C, H', W']``. Returns it and its output channels ``C``."""
    layers: list[nn.Module] = []
    channels = in_channels
    for item in layout:
        if item == "P":
            layers.append(MultiStep(nn.AvgPool2d(2)))
        else:
            _, width = item
            layers.append(ConvUnit(channels, width, make_neuron, norm="tebn", T=T, bias=True))
            channels = width
    return nn.Sequential(*layers), channels


class VGG11R48(nn.Module):
    """TET-style spiking VGG-11 for 48x48 event frames: ``[T, B, C, 48, 48] -> [T, B, K]``.

    Args:
        num_classes: classifier outputs.
        in_channels: input channels (2 polarities).
        T: time steps (TEBN learns one scale per step; the input must have this ``T``).
        neuron: neuron mapping, ``None`` for :data:`VGG11_48_NEURON`.
        dropout: dropout before the classifier.
    """

    feature_size = 3  # 48 / 2**4

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 2,
        T: int = 10,
        neuron: Mapping[str, Any] | None = None,
        dropout: float = 0.25,
    ) -> None:
        super().__init__()
        self.features, channels = tebn_features(_VGG11R48_LAYOUT, in_channels, make_neurons(neuron, VGG11_48_NEURON), T)
        self.classifier = MultiStep(
            OrderedDict(dropout=nn.Dropout(dropout), fc=nn.Linear(channels * self.feature_size**2, num_classes))
        )
        init_conv_kaiming_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[T, B, C, 48, 48]``; returns logits ``[T, B, num_classes]``."""
        if x.dim() != 5:
            raise ValueError(f"VGG11R48 expects input [T, B, C, 48, 48], got shape {tuple(x.shape)}")
        y = self.features(x)
        if y.shape[-2:] != (self.feature_size, self.feature_size):
            raise ValueError(
                f"VGG11R48 needs 48x48 input (features 512x3x3 before the classifier); got {tuple(x.shape[-2:])} "
                f"input, features {tuple(y.shape[2:])}"
            )
        return self.classifier(y.flatten(2))


class VGG11(nn.Module):
    """mmpretrain-style spiking VGG-11 with a global-average-pooling neck: ``[T, B, C, H, W] -> [T, B, K]``.

    Any input size divisible by 8 works (the neck pools globally); the paper uses 128x128.

    Args:
        num_classes: classifier outputs.
        in_channels: input channels (2 polarities).
        neuron: neuron mapping, ``None`` for :data:`VGG11_128_NEURON`.
        layers: conv units per stage.
        widths: channels per stage.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 2,
        neuron: Mapping[str, Any] | None = None,
        layers: Sequence[int] = (1, 1, 2, 4),
        widths: Sequence[int] = (64, 128, 256, 512),
    ) -> None:
        super().__init__()
        if len(layers) != len(widths):
            raise ValueError(f"layers {list(layers)} and widths {list(widths)} must have the same length")
        make_neuron = make_neurons(neuron, VGG11_128_NEURON)
        stages: list[nn.Module] = []
        channels = in_channels
        for i, (n_units, width) in enumerate(zip(layers, widths, strict=True)):
            if i > 0:
                stages.append(MultiStep(nn.AvgPool2d(2)))
            for _ in range(n_units):
                stages.append(ConvUnit(channels, width, make_neuron, norm="bn", bias=True))
                channels = width
        self.features = nn.Sequential(*stages)
        self.neck = MultiStep(OrderedDict(pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(1)))
        self.head = MultiStep(OrderedDict(fc=nn.Linear(channels, num_classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[T, B, C, H, W]``; returns logits ``[T, B, num_classes]``."""
        if x.dim() != 5:
            raise ValueError(f"VGG11 expects input [T, B, C, H, W], got shape {tuple(x.shape)}")
        return self.head(self.neck(self.features(x)))


@register_model(
    "vgg11_48",
    description="TET-style VGG-11 (TEBN, legacy LIF tau 0.25) for 48x48 event frames; Shen et al. CIFAR10-DVS 48",
    input_shape=(2, 48, 48),
    default_neuron=VGG11_48_NEURON,
)
def vgg11_48(
    num_classes: int = 10,
    in_channels: int = 2,
    T: int = 10,
    neuron: Mapping[str, Any] | None = None,
    dropout: float = 0.25,
) -> VGG11R48:
    """See :class:`VGG11R48`."""
    return VGG11R48(num_classes=num_classes, in_channels=in_channels, T=T, neuron=neuron, dropout=dropout)


@register_model(
    "vgg11_128",
    description="VGG-11 [1,1,2,4] with BN, LIF (soft reset, sigmoid), GAP neck; Shen et al. CIFAR10-DVS 128x128",
    input_shape=(2, 128, 128),
    default_neuron=VGG11_128_NEURON,
)
def vgg11_128(
    num_classes: int = 10,
    in_channels: int = 2,
    neuron: Mapping[str, Any] | None = None,
    layers: Sequence[int] = (1, 1, 2, 4),
    widths: Sequence[int] = (64, 128, 256, 512),
) -> VGG11:
    """See :class:`VGG11`."""
    return VGG11(num_classes=num_classes, in_channels=in_channels, neuron=neuron, layers=layers, widths=widths)
