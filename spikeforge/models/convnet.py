"""Small convolutional SNNs for the embedded datasets (fast on a CPU).

* ``digits_convnet``: scikit-learn's 8x8 handwritten digits, direct-encoded
  ``[T, B, 1, 8, 8]``: conv3x3(1->32) + BN + neuron, conv3x3(32->64) + BN + neuron,
  AvgPool2d(2), flatten ``64*4*4``, linear -> per-step logits. The first conv + BN runs
  once for direct-encoded input (:class:`~spikeforge.models.common.EncodeOnce`).
* ``event_convnet``: simulated event digits / NMNIST-like frames ``[T, B, 2, 34, 34]``:
  conv3x3(2->32) + BN + neuron, AvgPool2d(2), conv3x3(32->64) + BN + neuron, AvgPool2d(2),
  adaptive average pooling to 4x4, flatten, linear -> per-step logits.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..layers import MultiStep
from ..neuron.presets import neuron_preset
from .common import ConvUnit, init_conv_kaiming_, make_neurons
from .registry import register_model

__all__ = ["SMALL_CONV_NEURON", "ConvSNN", "digits_convnet", "event_convnet"]

# LIF with soft reset and ATan: trains quickly at T = 4 with or without a learnable IMP.
SMALL_CONV_NEURON: Mapping[str, Any] = neuron_preset("embedded_lif")


class ConvSNN(nn.Module):
    """A small VGG-style SNN: ``[T, B, C, H, W] -> [T, B, num_classes]`` logits.

    Each entry of ``widths`` is a ``conv3x3 -> BN -> neuron`` unit, followed by
    ``AvgPool2d(2)`` where ``pool_after`` is true; then ``AdaptiveAvgPool2d(out_size)``,
    flatten and a linear classifier applied at every step.

    Args:
        in_channels: input channels.
        num_classes: classifier outputs.
        widths: channels of the conv units.
        pool_after: one flag per unit.
        out_size: side of the feature map fed to the classifier.
        neuron: neuron mapping, ``None`` for :data:`SMALL_CONV_NEURON`.
        encode_once: compute the first conv + BN once for direct-encoded input.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        widths: Sequence[int] = (32, 64),
        pool_after: Sequence[bool] = (False, True),
        out_size: int = 4,
        neuron: Mapping[str, Any] | None = None,
        encode_once: bool = True,
    ) -> None:
        super().__init__()
        if len(widths) != len(pool_after):
            raise ValueError(f"widths {list(widths)} and pool_after {list(pool_after)} must have the same length")
        make_neuron = make_neurons(neuron, SMALL_CONV_NEURON)
        units: list[nn.Module] = []
        channels = in_channels
        for i, (width, pool) in enumerate(zip(widths, pool_after, strict=True)):
            units.append(ConvUnit(channels, width, make_neuron, norm="bn", encode_once=encode_once and i == 0))
            if pool:
                units.append(MultiStep(nn.AvgPool2d(2)))
            channels = width
        self.features = nn.Sequential(*units)
        self.head = MultiStep(
            OrderedDict(
                pool=nn.AdaptiveAvgPool2d(out_size),
                flatten=nn.Flatten(1),
                fc=nn.Linear(channels * out_size * out_size, num_classes),
            )
        )
        init_conv_kaiming_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[T, B, C, H, W]``; returns logits ``[T, B, num_classes]``."""
        if x.dim() != 5:
            raise ValueError(f"ConvSNN expects input [T, B, C, H, W], got shape {tuple(x.shape)}")
        return self.head(self.features(x))


@register_model(
    "digits_convnet",
    description="small conv SNN for sklearn 8x8 digits (1->32->64, avgpool, linear); the default model",
    input_shape=(1, 8, 8),
    default_neuron=SMALL_CONV_NEURON,
)
def digits_convnet(
    num_classes: int = 10,
    in_channels: int = 1,
    widths: Sequence[int] = (32, 64),
    neuron: Mapping[str, Any] | None = None,
    encode_once: bool = True,
) -> ConvSNN:
    """``[T, B, 1, 8, 8] -> [T, B, 10]`` logits."""
    return ConvSNN(
        in_channels,
        num_classes,
        widths=widths,
        pool_after=(False,) * (len(widths) - 1) + (True,),
        out_size=4,
        neuron=neuron,
        encode_once=encode_once,
    )


@register_model(
    "event_convnet",
    description="small conv SNN for 34x34x2 event frames (2->32->64 with pooling, linear)",
    input_shape=(2, 34, 34),
    default_neuron=SMALL_CONV_NEURON,
)
def event_convnet(
    num_classes: int = 10,
    in_channels: int = 2,
    widths: Sequence[int] = (32, 64),
    neuron: Mapping[str, Any] | None = None,
) -> ConvSNN:
    """``[T, B, 2, 34, 34] -> [T, B, 10]`` logits (any size >= 16 works: the head pools to 4x4)."""
    return ConvSNN(
        in_channels,
        num_classes,
        widths=widths,
        pool_after=(True,) * len(widths),
        out_size=4,
        neuron=neuron,
        encode_once=True,  # a no-op for event frames; saves work if static images are fed
    )
