"""Spike-element-wise ResNets (SEW-ResNet, Fang et al. NeurIPS 2021), as used by Shen et al.

A SEW block adds its spiking residual branch ``A`` to the shortcut spikes ``S`` with an
element-wise connect function ``g(A, S)`` instead of adding currents before a neuron:

=========  =================  ===================
``add``    ``A + S``          counts may exceed 1
``and``    ``A * S``          ``A AND S``
``iand``   ``(1 - A) * S``    ``(NOT A) AND S``
=========  =================  ===================

The layout (conv/BN/fc shapes, bias-free convs, downsample = conv1x1 + BN + neuron) is
torchvision's ResNet with a neuron after every BN, so without learnable neuron parameters
SEW-ResNet-18/34/50 have exactly the parameters of ResNet-18/34/50 and ANN checkpoints
load with :func:`load_torchvision_resnet_`.

Input is time-first ``[T, B, C, H, W]``; output logits ``[T, B, num_classes]``. With
``encode_once`` (default) a direct-encoded input (``spikeforge.encoding.direct``, an
expanded view) has its stem conv + BN computed once and repeated T times, as the
official ImageNet code does (see :class:`~spikeforge.models.common.EncodeOnce`).
"""

from __future__ import annotations

import dataclasses
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

from ..layers import MultiStep
from ..neuron.presets import neuron_preset
from .common import EncodeOnce, NeuronMaker, init_conv_kaiming_, make_neurons
from .registry import register_model

__all__ = [
    "CONNECT_FUNCTIONS",
    "SEWBasicBlock",
    "SEWBottleneck",
    "SEWCifarOptions",
    "SEWImageNetOptions",
    "SEWResNet",
    "SEW_CIFAR_NEURON",
    "SEW_IMAGENET_NEURON",
    "load_torchvision_resnet_",
    "sew_and",
    "sew_add",
    "sew_iand",
    "torchvision_resnet_key",
]

# IMP paper, ImageNet (A.1(b,c)): IF, ATan, SpikingJelly defaults (hard reset to 0, reset not detached).
SEW_IMAGENET_NEURON: Mapping[str, Any] = neuron_preset("sew_if_imagenet")
# IMP paper, CIFAR configs: IF with soft reset, ATan.
SEW_CIFAR_NEURON: Mapping[str, Any] = neuron_preset("sew_if_cifar")


def sew_add(a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """ADD: ``g(A, S) = A + S``."""
    return a + s


def sew_and(a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """AND: ``g(A, S) = A AND S = A * S`` for spikes."""
    return a * s


def sew_iand(a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """IAND: ``g(A, S) = (NOT A) AND S = (1 - A) * S`` for spikes."""
    return (1.0 - a) * s


ConnectFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
CONNECT_FUNCTIONS: dict[str, ConnectFn] = {"add": sew_add, "and": sew_and, "iand": sew_iand}


def _connect(name: str) -> ConnectFn:
    key = name.lower()
    if key not in CONNECT_FUNCTIONS:
        raise ValueError(f"SEW connect function must be one of {sorted(CONNECT_FUNCTIONS)}, got {name!r}")
    return CONNECT_FUNCTIONS[key]


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> MultiStep:
    """Bias-free ``conv kxk -> BatchNorm2d`` run on ``[T*B, ...]`` (padding keeps the size at stride 1)."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, bias=False)
    return MultiStep(OrderedDict(conv=conv, bn=nn.BatchNorm2d(out_channels)))


class _SEWBlock(nn.Module):
    """Shared shortcut and connect logic. Subclasses register the residual branch as
    ``convK`` (conv + BN) / ``snK`` (neuron) pairs, torchvision's numbering, and list the
    pairs in :meth:`_branch`."""

    expansion = 1

    def _init_shortcut(self, in_planes: int, planes: int, stride: int, make_neuron: NeuronMaker, connect: str) -> None:
        out_planes = planes * self.expansion
        # SEW: the shortcut is spiking too when it has to change shape (conv1x1 + BN + neuron).
        if stride != 1 or in_planes != out_planes:
            self.downsample: MultiStep | None = _conv_bn(in_planes, out_planes, 1, stride)
            self.downsample_sn: nn.Module | None = make_neuron()
        else:
            self.downsample = self.downsample_sn = None
        self.connect_name = connect.lower()
        self.connect = _connect(connect)

    def _branch(self) -> list[tuple[MultiStep, nn.Module]]:
        raise NotImplementedError

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        """The BN that ends the residual branch (zeroed by ``zero_init_residual``)."""
        return self._branch()[-1][0].bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, C_in, H, W] -> [T, B, planes * expansion, H / stride, W / stride]``."""
        identity = x
        if self.downsample is not None:
            identity = self.downsample_sn(self.downsample(x))
        out = x
        for conv_bn, sn in self._branch():
            out = sn(conv_bn(out))
        return self.connect(out, identity)

    def extra_repr(self) -> str:
        return f"connect={self.connect_name!r}"


class SEWBasicBlock(_SEWBlock):
    """Two ``conv3x3 -> BN -> neuron`` layers; the first has the stride."""

    expansion = 1

    def __init__(
        self, in_planes: int, planes: int, make_neuron: NeuronMaker, stride: int = 1, connect: str = "add"
    ) -> None:
        super().__init__()
        self.conv1 = _conv_bn(in_planes, planes, 3, stride)
        self.sn1 = make_neuron()
        self.conv2 = _conv_bn(planes, planes, 3)
        self.sn2 = make_neuron()
        self._init_shortcut(in_planes, planes, stride, make_neuron, connect)

    def _branch(self) -> list[tuple[MultiStep, nn.Module]]:
        return [(self.conv1, self.sn1), (self.conv2, self.sn2)]


class SEWBottleneck(_SEWBlock):
    """``conv1x1 -> conv3x3 (stride) -> conv1x1 (x4 channels)``, each ``-> BN -> neuron``
    (stride on the 3x3 conv, torchvision's "ResNet v1.5")."""

    expansion = 4

    def __init__(
        self, in_planes: int, planes: int, make_neuron: NeuronMaker, stride: int = 1, connect: str = "add"
    ) -> None:
        super().__init__()
        self.conv1 = _conv_bn(in_planes, planes, 1)
        self.sn1 = make_neuron()
        self.conv2 = _conv_bn(planes, planes, 3, stride)
        self.sn2 = make_neuron()
        self.conv3 = _conv_bn(planes, planes * self.expansion, 1)
        self.sn3 = make_neuron()
        self._init_shortcut(in_planes, planes, stride, make_neuron, connect)

    def _branch(self) -> list[tuple[MultiStep, nn.Module]]:
        return [(self.conv1, self.sn1), (self.conv2, self.sn2), (self.conv3, self.sn3)]


BLOCKS: dict[str, type[_SEWBlock]] = {"basic": SEWBasicBlock, "bottleneck": SEWBottleneck}


class SEWResNet(nn.Module):
    """SEW-ResNet on ``[T, B, C, H, W]`` returning logits ``[T, B, num_classes]``.

    Args:
        block: ``"basic"`` (ResNet-18/34) or ``"bottleneck"`` (ResNet-50 and deeper).
        layers: blocks per stage, e.g. ``(2, 2, 2, 2)``.
        num_classes: classifier outputs.
        in_channels: input channels.
        neuron: neuron mapping for every spiking layer; ``None`` gives
            :data:`SEW_IMAGENET_NEURON` (``stem="imagenet"``) or :data:`SEW_CIFAR_NEURON`.
        connect: SEW connect function, ``"add"``, ``"and"`` or ``"iand"``.
        zero_init_residual: zero the weight of the last BN of every residual branch, so
            that every block starts as (spiking) identity.
        stem: ``"imagenet"``: conv7x7 stride 2 + BN + neuron + pooling;
            ``"cifar"``: conv3x3 stride 1 + BN + neuron, no pooling.
        stem_pool: ImageNet stem pooling, ``"avg"`` (``AvgPool2d(3, 2, 1)``, the IMP code's
            replacement of the max-pool), ``"max"`` (``MaxPool2d(3, 2, 1)``, original
            SEW/torchvision) or ``"none"``. Must be ``"none"`` (or unset) for the CIFAR stem.
        widths: channels of the four stages (before the bottleneck expansion).
        encode_once: compute the stem conv + BN once for direct-encoded input.
    """

    def __init__(
        self,
        block: Literal["basic", "bottleneck"],
        layers: Sequence[int],
        num_classes: int = 1000,
        in_channels: int = 3,
        neuron: Mapping[str, Any] | None = None,
        connect: str = "add",
        zero_init_residual: bool = False,
        stem: Literal["imagenet", "cifar"] = "imagenet",
        stem_pool: Literal["avg", "max", "none"] | None = None,
        widths: Sequence[int] = (64, 128, 256, 512),
        encode_once: bool = True,
    ) -> None:
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"block must be one of {sorted(BLOCKS)}, got {block!r}")
        if len(layers) != len(widths):
            raise ValueError(f"layers {list(layers)} and widths {list(widths)} must have the same length")
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        _connect(connect)  # fail now on a bad name
        block_cls = BLOCKS[block]
        make_neuron = make_neurons(neuron, SEW_CIFAR_NEURON if stem == "cifar" else SEW_IMAGENET_NEURON)

        stem_layers: OrderedDict[str, nn.Module] = OrderedDict()
        if stem == "imagenet":
            stem_layers["conv"] = nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False)
            stem_pool = "avg" if stem_pool is None else stem_pool
        else:
            stem_layers["conv"] = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
            if stem_pool not in (None, "none"):
                raise ValueError(f"the CIFAR stem has no pooling; got stem_pool={stem_pool!r}")
            stem_pool = "none"
        stem_layers["bn"] = nn.BatchNorm2d(widths[0])
        self.stem = (EncodeOnce if encode_once else MultiStep)(stem_layers)
        self.stem_sn = make_neuron()
        self.stem_pool = _stem_pool(stem_pool)

        in_planes = widths[0]
        for i, (n_blocks, planes) in enumerate(zip(layers, widths, strict=True)):
            blocks = []
            for j in range(n_blocks):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block_cls(in_planes, planes, make_neuron, stride=stride, connect=connect))
                in_planes = planes * block_cls.expansion
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.num_stages = len(layers)

        self.head = MultiStep(
            OrderedDict(pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(1), fc=nn.Linear(in_planes, num_classes))
        )

        init_conv_kaiming_(self)
        if zero_init_residual:
            with torch.no_grad():
                for m in self.modules():
                    if isinstance(m, _SEWBlock):
                        m.last_bn.weight.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[T, B, C, H, W]``; returns logits ``[T, B, num_classes]``."""
        if x.dim() != 5:
            raise ValueError(f"SEWResNet expects input [T, B, C, H, W], got shape {tuple(x.shape)}")
        x = self.stem_pool(self.stem_sn(self.stem(x)))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.head(x)


def _stem_pool(kind: str) -> nn.Module:
    if kind == "avg":
        return MultiStep(nn.AvgPool2d(3, 2, 1))
    if kind == "max":
        return MultiStep(nn.MaxPool2d(3, 2, 1))
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"stem_pool must be 'avg', 'max' or 'none', got {kind!r}")


# ----------------------------------------------------------------------------- ANN weights

_TORCHVISION_RULES = [
    (re.compile(r"conv1\.weight"), r"stem.conv.weight"),
    (re.compile(r"bn1\.(\w+)"), r"stem.bn.\1"),
    (re.compile(r"(layer\d+\.\d+)\.conv(\d)\.weight"), r"\1.conv\2.conv.weight"),
    (re.compile(r"(layer\d+\.\d+)\.bn(\d)\.(\w+)"), r"\1.conv\2.bn.\3"),
    (re.compile(r"(layer\d+\.\d+)\.downsample\.0\.weight"), r"\1.downsample.conv.weight"),
    (re.compile(r"(layer\d+\.\d+)\.downsample\.1\.(\w+)"), r"\1.downsample.bn.\2"),
    (re.compile(r"fc\.(weight|bias)"), r"head.fc.\1"),
]


def torchvision_resnet_key(key: str) -> str:
    """The :class:`SEWResNet` state-dict key of a torchvision ResNet key (``layer1.0.bn2.weight ->
    layer1.0.conv2.bn.weight``); raises ``ValueError`` for a key that is not a ResNet key."""
    for pattern, repl in _TORCHVISION_RULES:
        if pattern.fullmatch(key):
            return pattern.sub(repl, key)
    raise ValueError(f"{key!r} is not a torchvision ResNet state-dict key")


def load_torchvision_resnet_(model: SEWResNet, state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Initialise ``model`` from a torchvision ResNet checkpoint (the official ImageNet runs
    start from the ANN weights).

    Entries whose shape differs from the model's (e.g. ``fc`` for another number of classes,
    ``conv1`` for other input channels) are skipped. Returns the model's state-dict keys that
    were not loaded (neuron parameters, skipped entries).
    """
    own = model.state_dict()
    converted = {}
    for key, value in state_dict.items():
        new_key = torchvision_resnet_key(key)
        if new_key not in own:
            raise ValueError(f"checkpoint key {key!r} (-> {new_key!r}) has no place in this SEWResNet")
        if own[new_key].shape == value.shape:
            converted[new_key] = value
    model.load_state_dict(converted, strict=False)
    return sorted(set(own) - set(converted))


# ----------------------------------------------------------------------------- registry


@dataclasses.dataclass(frozen=True, kw_only=True)
class SEWCifarOptions:
    """``model.options`` of the CIFAR SEW-ResNets (3x3 stem, no pooling); see :class:`SEWResNet`."""

    num_classes: int = 10
    in_channels: int = 3
    neuron: Mapping[str, Any] | None = None
    connect: str = "add"
    zero_init_residual: bool = True
    encode_once: bool = True


@dataclasses.dataclass(frozen=True, kw_only=True)
class SEWImageNetOptions(SEWCifarOptions):
    """``model.options`` of the ImageNet SEW-ResNets: the CIFAR ones with ImageNet's defaults, and the
    stem's pooling."""

    num_classes: int = 1000
    zero_init_residual: bool = False
    stem_pool: Literal["avg", "max", "none"] = "avg"


def _builder(name: str, block: str, layers: tuple[int, ...], stem: str, size: int) -> Callable[..., SEWResNet]:
    """The registered builder of one SEW-ResNet: its options are :class:`SEWCifarOptions` or
    :class:`SEWImageNetOptions` (the registry checks them first)."""

    def build(**options: Any) -> SEWResNet:
        return SEWResNet(block, layers, stem=stem, **options)  # type: ignore[arg-type]

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (
        f"{name}: SEW-ResNet with layers {list(layers)} and the {stem} stem, input [T, B, 3, {size}, {size}]."
    )
    return build


# name: (block, layers, stem)
_ARCHS: dict[str, tuple[str, tuple[int, ...], str]] = {
    "sew_resnet18": ("basic", (2, 2, 2, 2), "imagenet"),
    "sew_resnet34": ("basic", (3, 4, 6, 3), "imagenet"),
    "sew_resnet50": ("bottleneck", (3, 4, 6, 3), "imagenet"),
    "sew_resnet18_cifar": ("basic", (2, 2, 2, 2), "cifar"),
    "sew_resnet34_cifar": ("basic", (3, 4, 6, 3), "cifar"),
}
# stem: (options, default neuron, input shape, description after "SEW-ResNet-<depth>")
_STEMS: dict[str, tuple[type, Mapping[str, Any], tuple[int, ...], str]] = {
    "imagenet": (
        SEWImageNetOptions,
        SEW_IMAGENET_NEURON,
        (3, 224, 224),
        " (ImageNet stem, AvgPool2d(3,2,1)); IF/ATan; Shen et al. ImageNet runs",
    ),
    "cifar": (
        SEWCifarOptions,
        SEW_CIFAR_NEURON,
        (3, 32, 32),
        " CIFAR variant (3x3 stem, no pooling); IF soft reset; Shen et al. CIFAR",
    ),
}
for _name, (_block, _layers, _stem) in _ARCHS.items():
    _options, _neuron, _shape, _what = _STEMS[_stem]
    register_model(
        _name,
        description=f"SEW-ResNet-{_name[10:12]}{_what}",
        input_shape=_shape,
        default_neuron=_neuron,
        options=_options,
    )(_builder(_name, _block, _layers, _stem, _shape[-1]))
