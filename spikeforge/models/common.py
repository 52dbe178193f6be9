"""Building blocks shared by the models: neuron config resolution, the encode-once stage,
conv units, pooling and input transforms. All work on time-first tensors ``[T, B, ...]``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import TEBN, MultiStep
from ..neuron.factory import neuron_maker
from ..neuron.nodes import BaseNode

__all__ = [
    "ConvUnit",
    "EncodeOnce",
    "SumPool2d",
    "TimeWindow",
    "init_conv_kaiming_",
    "make_neurons",
]

NeuronMaker = Callable[..., BaseNode]


def make_neurons(neuron: Mapping[str, Any] | None, default: Mapping[str, Any]) -> NeuronMaker:
    """A validated neuron factory from the model's ``neuron`` option.

    ``neuron=None`` gives ``default`` (the model's paper setting); a mapping replaces the
    default entirely, so that a config's ``neuron:`` section is the whole truth.
    """
    return neuron_maker(dict(default if neuron is None else neuron))


class EncodeOnce(MultiStep):
    """:class:`~spikeforge.layers.MultiStep` for the first, encoding stage of a static-image model.

    With direct encoding (``spikeforge.encoding.direct``) the input ``[T, B, ...]`` is one
    sample batch repeated T times as an expanded view (stride 0 on the time axis). The
    stateless layers then give the same result at every step, so they run once on
    ``x[0]`` (``[B, ...]``) and the result is expanded back to ``[T, B, ...]``: T times less
    compute and memory, as in the official ImageNet code. Any other input (event frames,
    a materialised ``repeat``) runs on all ``T*B`` samples like ``MultiStep``; the values
    are the same either way.

    Batch norm in training mode sees ``B`` instead of ``T*B`` identical samples: the batch
    mean and (biased) variance, hence the output, are identical; only the unbiased variance
    that feeds ``running_var`` is corrected with ``n = B*H*W`` instead of ``T*B*H*W``
    samples, a negligible difference for real batch sizes.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        T = x.shape[0]
        if T > 1 and x.stride(0) == 0:
            y = nn.Sequential.forward(self, x[0])
            return y.unsqueeze(0).expand(T, *y.shape)
        return super().forward(x)


class ConvUnit(nn.Module):
    """``conv3x3 -> norm -> spiking neuron`` on ``[T, B, C_in, H, W] -> [T, B, C_out, H, W]``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        make_neuron: neuron factory (from :func:`make_neurons`).
        norm: ``"bn"`` (BatchNorm2d over ``T*B``), ``"tebn"`` (:class:`~spikeforge.layers.TEBN`,
            needs ``T``) or ``"none"``.
        T: number of time steps, for ``norm="tebn"``.
        bias: whether the convolution has a bias.
        encode_once: run the stateless part with :class:`EncodeOnce` (first layer of a
            direct-encoded model).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        make_neuron: NeuronMaker,
        *,
        norm: Literal["bn", "tebn", "none"] = "bn",
        T: int | None = None,
        bias: bool = False,
        encode_once: bool = False,
    ) -> None:
        super().__init__()
        if norm not in ("bn", "tebn", "none"):
            raise ValueError(f"norm must be 'bn', 'tebn' or 'none', got {norm!r}")
        if norm == "tebn" and T is None:
            raise ValueError("norm='tebn' learns one scale per time step and needs T")
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            conv=nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias)
        )
        if norm == "bn":
            layers["bn"] = nn.BatchNorm2d(out_channels)
        self.synapse = (EncodeOnce if encode_once else MultiStep)(layers)
        self.tebn = TEBN(out_channels, T) if norm == "tebn" else None
        self.sn = make_neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.synapse(x)
        if self.tebn is not None:
            y = self.tebn(y)
        return self.sn(y)


class SumPool2d(nn.Module):
    """Sum pooling over non-overlapping ``k x k`` windows on ``[N, C, H, W]``.

    On event frames this equals binning the events at a ``k`` times lower resolution (the
    counts are kept, unlike average pooling), as SLAYER's DVS Gesture networks do.
    """

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = int(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        return F.avg_pool2d(x, k) * (k * k)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"


class TimeWindow(nn.Module):
    """``[T, B, F] -> [T, B, F*k]``: step ``t`` sees the inputs ``x[t-k+1], ..., x[t]``.

    Steps before the start are zeros, so the output at ``t`` depends on no future input.
    Features are ordered ``(feature, lag)`` with the current step last.
    """

    def __init__(self, k: int) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"time window must be >= 1, got {k}")
        self.k = int(k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.k == 1:
            return x
        padded = torch.cat([x.new_zeros(self.k - 1, *x.shape[1:]), x], dim=0)  # [T+k-1, B, F]
        return padded.unfold(0, self.k, 1).flatten(2)  # unfold: [T, B, F, k]

    def extra_repr(self) -> str:
        return f"k={self.k}"


@torch.no_grad()
def init_conv_kaiming_(module: nn.Module) -> None:
    """Kaiming-normal (``fan_out``, ReLU gain) init of every ``Conv2d`` weight in ``module``; the
    torchvision/SpikingJelly ResNet and TET VGG convention."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
