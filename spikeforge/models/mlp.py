"""Fully connected SNNs: :class:`SpikingMLP`, the Rouser networks and the MNIST-1D model.

The Rouser networks (Takaghaj & Sampson, docs/methods.md B.4) are SLAYER-style dense CUBA-LIF
nets whose output layer spikes too (the loss is an MSE on output spike rates,
``spikeforge.losses.SpikeRateLoss``): NMNIST ``34x34x2-500-500-10``, DVS128 Gesture
``128x128x2-64-11`` and SHD ``700-200-200-20``. Their default neuron is the ``rouser_cuba``
preset (:mod:`spikeforge.neuron.presets`): CUBA LIF with retained fractions 0.75 / 0.97, hard
reset to 0 (detached, as in SLAYER), a learnable per-neuron threshold initialised at 1.25 and
the exponential surrogate (scale 1.5, tau 3.75).

Dense layers have no bias, like SLAYER's dense synapse, and Kaiming-normal weights
(fan_in, ReLU gain), the paper's "Kaiming weight init"; ``init="torch"`` keeps PyTorch's own
``nn.Linear`` init instead (U(-1/sqrt(fan_in), 1/sqrt(fan_in)), a sixth of Kaiming-normal's
variance), as the IMP paper's official convergence script does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..layers import MultiStep
from ..neuron.presets import neuron_preset
from .common import SumPool2d, TimeWindow, make_neurons
from .registry import register_model

__all__ = [
    "MNIST1D_NEURON",
    "ROUSER_NEURON",
    "SpikingMLP",
    "mnist1d_snn",
    "rouser_dvs128",
    "rouser_nmnist",
    "rouser_shd",
]

#: weight inits of :class:`SpikingMLP`: Kaiming-normal (the Rouser paper) or nn.Linear's own
LINEAR_INITS = ("kaiming", "torch")

# Rouser Table II: CUBA, Th_init 1.25 (learned per neuron), reset detached (SLAYER), exponential surrogate.
ROUSER_NEURON: Mapping[str, Any] = neuron_preset("rouser_cuba")


class SpikingMLP(nn.Module):
    """Dense SNN ``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` on time-first input.

    Input ``[T, B, *features]`` (flattened per step to ``prod(features)``), e.g. event
    frames ``[T, B, 2, 34, 34]`` or binned spikes ``[T, B, 700]``; output ``[T, B, sizes[-1]]``:
    output spikes (``spiking_output=True``) or per-step logits of a non-spiking linear readout.

    Args:
        sizes: layer widths including the input (after pooling/windowing) and the output.
        neuron: neuron mapping for every spiking layer, ``None`` for :data:`ROUSER_NEURON`.
        spiking_output: whether the last layer is spiking (Rouser) or a linear readout.
        input_pool: sum-pool ``[.., C, H, W]`` frames by this factor first (1 = off), see
            :class:`~spikeforge.models.common.SumPool2d`.
        window: feed each step the last ``window`` input steps (1 = off), see
            :class:`~spikeforge.models.common.TimeWindow`.
        bias: whether the dense layers have a bias (SLAYER: no).
        weight_scale: multiplies the initialised weights (SLAYER's ``weight_scale``).
        init: ``"kaiming"`` (Kaiming-normal, fan_in, ReLU gain; biases zero) or ``"torch"``
            (``nn.Linear``'s default, weights and biases U(+-1/sqrt(fan_in))).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        neuron: Mapping[str, Any] | None = None,
        spiking_output: bool = True,
        input_pool: int = 1,
        window: int = 1,
        bias: bool = False,
        weight_scale: float = 1.0,
        init: str = "kaiming",
    ) -> None:
        super().__init__()
        if init not in LINEAR_INITS:
            raise ValueError(f"init must be one of {list(LINEAR_INITS)}, got {init!r}")
        if len(sizes) < 2:
            raise ValueError(f"SpikingMLP needs at least input and output sizes, got {list(sizes)}")
        if input_pool < 1:
            raise ValueError(f"input_pool must be >= 1, got {input_pool}")
        make_neuron = make_neurons(neuron, ROUSER_NEURON)
        self.sizes = [int(s) for s in sizes]
        self.spiking_output = spiking_output
        self.pool = MultiStep(SumPool2d(input_pool)) if input_pool > 1 else None
        self.window = TimeWindow(window) if window > 1 else None
        layers: list[nn.Module] = []
        n_layers = len(self.sizes) - 1
        for i, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True)):
            linear = nn.Linear(n_in, n_out, bias=bias)
            with torch.no_grad():
                if init == "kaiming":
                    nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
                    if linear.bias is not None:
                        linear.bias.zero_()
                linear.weight.mul_(weight_scale)
            layers.append(MultiStep(linear))
            if i < n_layers - 1 or spiking_output:
                # The layer width is known here, so per-neuron parameters exist before any forward.
                layers.append(make_neuron(feature_shape=(n_out,)))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[T, B, *features]``; returns ``[T, B, sizes[-1]]`` spikes or logits."""
        if x.dim() < 3:
            raise ValueError(f"SpikingMLP expects input [T, B, features...], got shape {tuple(x.shape)}")
        if self.pool is not None:
            x = self.pool(x)
        x = x.flatten(2)
        if self.window is not None:
            x = self.window(x)
        if x.shape[-1] != self.sizes[0]:
            raise ValueError(
                f"SpikingMLP input has {x.shape[-1]} features per step (after pooling/windowing, input shape "
                f"{tuple(x.shape)}) but the first layer expects sizes[0]={self.sizes[0]}"
            )
        return self.layers(x)


@register_model(
    "spiking_mlp",
    description="generic dense SNN (sizes=[in, hidden..., out]); CUBA + learnable threshold by default",
    input_shape=(784,),
    default_neuron=ROUSER_NEURON,
)
def spiking_mlp(
    sizes: Sequence[int] = (784, 256, 10),
    neuron: Mapping[str, Any] | None = None,
    spiking_output: bool = True,
    input_pool: int = 1,
    window: int = 1,
    bias: bool = False,
    weight_scale: float = 1.0,
    init: str = "kaiming",
) -> SpikingMLP:
    """See :class:`SpikingMLP`."""
    return SpikingMLP(sizes, neuron, spiking_output, input_pool, window, bias, weight_scale, init)


@register_model(
    "rouser_nmnist",
    description="Rouser NMNIST net 34x34x2-500-500-10, CUBA LIF, learned per-neuron thresholds, spiking output",
    input_shape=(2, 34, 34),
    default_neuron=ROUSER_NEURON,
)
def rouser_nmnist(
    num_classes: int = 10,
    in_channels: int = 2,
    input_size: int = 34,
    hidden: Sequence[int] = (500, 500),
    neuron: Mapping[str, Any] | None = None,
    weight_scale: float = 1.0,
) -> SpikingMLP:
    """``[T, B, 2, 34, 34] -> [T, B, 10]`` output spikes."""
    sizes = [in_channels * input_size * input_size, *hidden, num_classes]
    return SpikingMLP(sizes, neuron, spiking_output=True, weight_scale=weight_scale)


@register_model(
    "rouser_dvs128",
    description="Rouser DVS128 Gesture net 128x128x2-64-11 (optional input sum-pooling), CUBA, learned thresholds",
    input_shape=(2, 128, 128),
    default_neuron=ROUSER_NEURON,
)
def rouser_dvs128(
    num_classes: int = 11,
    in_channels: int = 2,
    input_size: int = 128,
    input_pool: int = 1,
    hidden: Sequence[int] = (64,),
    neuron: Mapping[str, Any] | None = None,
    weight_scale: float = 1.0,
) -> SpikingMLP:
    """``[T, B, 2, input_size, input_size] -> [T, B, 11]`` output spikes.

    The paper writes ``128x128x2-64-11`` but does not state the resolution it fed; SLAYER's
    Gesture examples pool first. ``input_pool=4`` sum-pools 128x128 frames to 32x32.
    """
    if input_size % input_pool:
        raise ValueError(f"input_size {input_size} is not divisible by input_pool {input_pool}")
    side = input_size // input_pool
    sizes = [in_channels * side * side, *hidden, num_classes]
    return SpikingMLP(sizes, neuron, spiking_output=True, input_pool=input_pool, weight_scale=weight_scale)


@register_model(
    "rouser_shd",
    description="Rouser SHD net 700-200-200-20, CUBA LIF, learned per-neuron thresholds, spiking output",
    input_shape=(700,),
    default_neuron=ROUSER_NEURON,
)
def rouser_shd(
    num_classes: int = 20,
    in_features: int = 700,
    hidden: Sequence[int] = (200, 200),
    neuron: Mapping[str, Any] | None = None,
    weight_scale: float = 1.0,
) -> SpikingMLP:
    """``[T, B, 700] -> [T, B, 20]`` output spikes."""
    return SpikingMLP([in_features, *hidden, num_classes], neuron, spiking_output=True, weight_scale=weight_scale)


# MNIST-1D as a sequence: LIF hidden layers (soft reset, ATan) and a linear readout per step.
MNIST1D_NEURON: Mapping[str, Any] = neuron_preset("embedded_lif")


@register_model(
    "mnist1d_snn",
    description="MNIST-1D as a 40-step sequence of scalars: dense LIF over a causal window of 10 values, readout",
    input_shape=(1,),
    default_neuron=MNIST1D_NEURON,
)
def mnist1d_snn(
    num_classes: int = 10,
    in_features: int = 1,
    hidden: Sequence[int] = (128, 128),
    window: int = 10,
    neuron: Mapping[str, Any] | None = None,
    bias: bool = True,
) -> SpikingMLP:
    """``[T=40, B, 1] -> [T, B, 10]`` logits.

    The input is one signal value per step; the first layer sees the last ``window`` values
    (a causal delay line, zeros before the start). A feedforward LIF net with ``tau = 2``
    forgets within a few steps, so with ``window=1`` it reaches only ~50% test accuracy on
    MNIST-1D, with ``window=10`` ~87% (TET loss, learnable IMP and thresholds, 40 epochs).
    """
    sizes = [in_features * window, *hidden, num_classes]
    return SpikingMLP(
        sizes, neuron if neuron is not None else MNIST1D_NEURON, spiking_output=False, window=window, bias=bias
    )
