"""NIR export and import: :func:`export_nir` and :func:`import_nir`.

`NIR <https://neuroir.org>`_ (the Neuromorphic Intermediate Representation) describes a
network as a graph of continuous-time nodes; snnTorch, Norse, SpikingJelly, Sinabs, Spyx,
Lava and several chips read and write it. SpikeForge maps its multi-step modules as follows
(``dt`` is the simulation step the graph is meant for; SpikeForge exports with ``dt = 1``,
its own step):

============================  =============================================================
SpikeForge                    NIR
============================  =============================================================
``nn.Linear``                 ``Affine`` (``Linear`` without bias)
``nn.Conv2d`` (+ batch norm)  ``Conv2d``; a following ``BatchNorm2d`` is folded into it
``nn.AvgPool2d``              ``AvgPool2d`` (``AdaptiveAvgPool2d`` when it is a plain pooling)
``SumPool2d``                 ``SumPool2d``
``nn.Flatten``                ``Flatten`` (dims counted without the batch axis)
``IFNode``                    ``IF``: ``r = 1/dt``
``LIFNode``                   ``LIF``: ``tau = tau_sf * dt``, ``v_leak = V_r``, ``r = 1``
                              (``decay_input``) or ``r = tau_sf``
``CUBALIFNode``               ``CubaLIF``: ``tau_syn = dt / (1 - alpha_i)``,
                              ``tau_mem = dt / (1 - alpha_v)``, ``w_in = tau_syn / dt``,
                              ``r = tau_mem / dt``
============================  =============================================================

With forward Euler at step ``dt`` these NIR equations give SpikeForge's update exactly:
``v += dt/tau * (v_leak - v + r * I)``. For ``CubaLIF`` the current of the *same* step drives
the voltage (``I[t] = alpha_i I[t-1] + x[t]``, then ``v``), as in snnTorch's ``Synaptic``.

Per-neuron values (learned thresholds, the learned initial membrane potential) are written
as arrays of the layer's full shape. NIR has no field for a neuron's initial state nor for a
subtractive reset, so these travel in each neuron node's ``metadata``:

* ``v_init``: the initial membrane potential ``V[-1]`` (the learned IMP), full shape;
* ``spikeforge``: a JSON string with the node's exact SpikeForge settings (kind, ``tau`` or
  ``alpha_i``/``alpha_v``, reset mode, ``detach_reset``, surrogate, spike condition, sharing and
  initialisation of the learnable parameters, ``threshold_min``, the module's name);
* ``v_threshold_param``: the unclamped learnable threshold, when ``threshold_min`` clamps it;
* ``reset``: ``"subtract"`` (soft reset, ``V -= theta`` on a spike; ``v_reset`` then reads 0)
  or ``"to_v_reset"``.

Stateless nodes carry ``spikeforge_module``, the name of the layer they came from.

A reader that ignores the metadata simulates the network from ``V = v_reset`` with a hard
reset; :func:`export_nir` says so in one :class:`NIRExportWarning` line per neuron and item
(IMP, soft reset, per-neuron thresholds, which snnTorch's reader refuses), or refuses with
``strict=True``. SpikeForge reading its own graph restores the module names (the original
``state_dict`` loads; batch norm was folded), the sharing of learnable ``imp`` /
``v_threshold`` and the neuron settings, so the round trip gives equal spikes and the same
training step.

Spike condition: NIR, snnTorch and Norse fire when ``v > v_threshold``, SpikeForge's neurons by
default at ``v >= v_threshold``. With spike inputs, quantised weights or pooling, potentials
land exactly on the threshold often enough to matter (percents of the spikes), so
:func:`import_nir` gives neurons of other libraries' graphs ``fire_at_threshold=False`` (the
strict condition, exact for every input) and SpikeForge's own graphs the condition they were
trained with; ``import_nir(..., fire_at_threshold=...)`` overrides both. For a graph that other
libraries run exactly as SpikeForge does, export neurons built with ``fire_at_threshold=False``.

Graphs written by other libraries import when they are a chain of the nodes above: the
neuron parameters are converted with the ``dt`` the writer used (pass ``dt=``: ``1e-4`` for
snnTorch's exporter; for Norse build the cells with ``dt=1`` and export with
``to_nir(..., dt=1)``, then import with ``dt=1``: Norse 1.1 writes ``tau = dt / tau_mem_inv``
and ``r = 1``, which is NIR's equation only at ``dt = 1``). Files are read without NIR's strict
type check, which rejects every file Norse writes. Unsupported layers or nodes fail with one
line naming them; the known mistakes of the peers' exporters get a line saying how to export
correctly. docs/api/nir.md tabulates what crosses over to and from snnTorch and Norse.
"""

from __future__ import annotations

import itertools
import json
import math
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from ..extras import require
from ..layers import MultiStep, batch_to_seq, seq_to_batch
from ..neuron import CUBALIFNode, IFNode, LIFNode
from ..neuron.nodes import BaseNode, is_neuron
from ..neuron.surrogate import get_surrogate

if TYPE_CHECKING:  # nir is an optional dependency: `pip install spikeforge[nir]`
    import nir

__all__ = ["Gain", "NIRConversionError", "NIRExportWarning", "NIRNetwork", "export_nir", "import_nir"]

_RTOL = 1e-6


class NIRConversionError(UserError):
    """A layer or NIR node that cannot be converted (the message names it)."""


class Gain(nn.Module):
    """Multiply the input by a fixed factor (NIR's ``Scale``): ``[N, *shape] -> [N, *shape]``."""

    def __init__(self, scale: torch.Tensor | float) -> None:
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class NIRNetwork(nn.Module):
    """A chain of modules imported from NIR: time-first ``[T, B, *input] -> [T, B, *output]``.

    Neurons are SpikeForge's own, so the network trains, exports and monitors like any other.
    A graph that SpikeForge wrote gets its layers back at their original module names (so the
    original model's ``state_dict`` loads, batch norm aside: it was folded into the conv);
    other graphs get one child per node, named after it, stateless layers wrapped in
    :class:`~spikeforge.layers.MultiStep`. ``net[i]`` is the ``i``-th child.

    Args:
        layers: ``(dotted module path, module, stateless)`` in the order they run; a stateless
            module runs once on ``[T*B, ...]``, a neuron on ``[T, B, ...]``.
    """

    def __init__(self, layers: list[tuple[str, nn.Module, bool]]) -> None:
        super().__init__()
        self._order = [(path, stateless) for path, _, stateless in layers]
        for path, module, _ in layers:
            parent: nn.Module = self
            *above, leaf = path.split(".")
            for part in above:
                if part not in parent._modules:
                    parent.add_module(part, nn.Module())  # a name-only container, as the original had
                parent = cast(nn.Module, parent._modules[part])
            parent.add_module(leaf, module)

    def paths(self) -> list[str]:
        """The dotted names of the layers, in the order they run."""
        return [path for path, _ in self._order]

    def __getitem__(self, index: int) -> nn.Module:
        return list(self.children())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for path, stateless in self._order:
            module = self.get_submodule(path)
            x = _stateless(module, x, x.shape[0]) if stateless else module(x)
        return x


def _nir():
    return require("nir", "NIR support")


# ----------------------------------------------------------------------------- export
def _layers(module: nn.Module, prefix: str) -> Iterator[tuple[str, nn.Module]]:
    """The model as a chain of ``(qualified name, leaf layer)``, or :class:`NIRConversionError`."""
    from ..models.common import ConvUnit, SumPool2d
    from ..models.convnet import ConvSNN
    from ..models.mlp import SpikingMLP
    from ..models.vgg import VGG11, VGG11R48

    join = (lambda n: f"{prefix}.{n}") if prefix else (lambda n: n)
    if is_neuron(module) or isinstance(module, (*_LEAVES, SumPool2d, Gain)):
        yield prefix or type(module).__name__, module
    elif isinstance(module, ConvSNN | VGG11):
        for part in ("features", "neck", "head"):
            if hasattr(module, part):
                yield from _layers(getattr(module, part), join(part))
    elif isinstance(module, VGG11R48):
        yield from _layers(module.features, join("features"))
        yield join("flatten"), nn.Flatten(1)  # VGG11R48 flattens every step's features
        yield from _layers(module.classifier, join("classifier"))
    # One branch per container the exporter knows (each model class names its parts differently).
    elif isinstance(module, SpikingMLP):
        if module.window is not None:
            raise NIRConversionError(
                f"export_nir: unsupported layer {join('window')}: TimeWindow (a delay line over time steps)"
            )
        if module.pool is not None:
            yield from _layers(module.pool, join("pool"))
        yield join("flatten"), nn.Flatten(1)  # SpikingMLP flattens every step's features
        yield from _layers(module.layers, join("layers"))
    elif isinstance(module, ConvUnit):
        if module.tebn is not None:
            raise NIRConversionError(
                f"export_nir: unsupported layer {join('tebn')}: TEBN scales each time step differently, "
                "which a NIR graph (the same at every step) cannot express"
            )
        yield from _layers(module.synapse, join("synapse"))
        yield from _layers(module.sn, join("sn"))
    elif isinstance(module, NIRNetwork):  # in the order it runs (its children may be name-only containers)
        for path in module.paths():
            yield from _layers(module.get_submodule(path), join(path))
    elif type(module) in (nn.Sequential, MultiStep) or _is_encode_once(module):
        for name, child in module.named_children():
            yield from _layers(child, join(name))
    else:
        raise NIRConversionError(
            f"export_nir: unsupported layer {prefix or '<root>'}: {type(module).__name__} (NIR export takes chains "
            "of Linear, Conv2d, BatchNorm2d, pooling, Flatten and IF/LIF/CUBA neurons)"
        )


_LEAVES = (
    nn.Linear,
    nn.Conv2d,
    nn.BatchNorm2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.Flatten,
    nn.Identity,
    nn.Dropout,
)


def _is_encode_once(module: nn.Module) -> bool:
    from ..models.common import EncodeOnce

    return type(module) is EncodeOnce


def _np(t: torch.Tensor | float, shape: tuple[int, ...] | None = None) -> np.ndarray:
    if not isinstance(t, torch.Tensor):
        t = torch.tensor(float(t))
    t = t.detach().to("cpu", torch.float32)
    if shape is not None:
        t = torch.broadcast_to(t, shape)
    return t.numpy().copy()


def _full(value: float, shape: tuple[int, ...]) -> np.ndarray:
    return np.full(shape, value, dtype=np.float32)


def _fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``bn(conv(x))`` with ``bn`` in eval mode, computed in float64."""
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    mean, var = bn.running_mean.double(), bn.running_var.double()
    gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(mean)
    beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(mean)
    s = gamma / torch.sqrt(var + bn.eps)
    return (w * s.view(-1, 1, 1, 1)).float(), ((b - mean) * s + beta).float()


def _losses(name: str, node: BaseNode, theta: np.ndarray) -> list[str]:
    """What other NIR readers lose of neuron ``name``: one line each (SpikeForge's reader keeps all)."""
    dyn = node.dynamics()
    lost = []
    if node.learn_imp or (node.imp_value is not None and node.imp_value != dyn.v_rest):
        lost.append(
            f"export_nir: neuron {name}: its initial membrane potential (IMP) travels only in SpikeForge's "
            "metadata; other NIR readers (snnTorch, Norse) start from v_reset, as NIR has no initial state"
        )
    if dyn.soft_reset:
        lost.append(
            f"export_nir: neuron {name}: its soft reset (V -= threshold) travels only in SpikeForge's metadata; "
            "other NIR readers (snnTorch, Norse) reset to v_reset = 0, as NIR has no subtractive reset"
        )
    if theta.size and not np.all(theta == theta.flat[0]):
        lost.append(
            f"export_nir: neuron {name}: per-neuron thresholds; snnTorch's import_from_nir refuses them "
            "(one threshold per layer)"
        )
    return lost


def _neuron_node(name: str, node: BaseNode, features: tuple[int, ...], dt: float):
    nir = _nir()
    dyn = node.dynamics()
    if node.stateful:
        raise NIRConversionError(f"export_nir: neuron {name} is stateful=True; export a stateless copy")
    theta = _np(node.effective_threshold(), features)
    v_rest = dyn.v_rest
    v_init = node._initial_v(torch.Size(features))
    reset = "subtract" if dyn.soft_reset else "to_v_reset"
    v_reset = _full(0.0 if dyn.soft_reset else dyn.v_reset, features)
    info: dict[str, Any] = {
        "kind": dyn.kind,
        "reset": reset,
        "detach_reset": dyn.detach_reset,
        "surrogate": dyn.surrogate.to_config(),
        "learn_threshold": node.learn_threshold,
        "threshold_sharing": node.threshold_sharing,
        "learn_imp": node.learn_imp,
        "imp_sharing": node.imp_sharing,
        "imp_init": node.imp_init,
        "v_threshold_init": node.v_threshold_init,
        "threshold_min": node.threshold_min,
        "fire_at_threshold": node.fire_at_threshold,
        "module": name,
    }
    p = dyn.params  # the kind's named parameters
    if dyn.kind == "if":
        out = nir.IF(r=_full(1.0 / dt, features), v_threshold=theta, v_reset=v_reset)
    elif dyn.kind == "lif":
        info.update(tau=p.tau, decay_input=p.decay_input)
        r = 1.0 if p.decay_input else p.tau
        out = nir.LIF(
            tau=_full(p.tau * dt, features),
            r=_full(r, features),
            v_leak=_full(v_rest, features),
            v_threshold=theta,
            v_reset=v_reset,
        )
    elif dyn.kind == "cuba":
        if p.alpha_i >= 1.0 or p.alpha_v >= 1.0:
            raise NIRConversionError(
                f"export_nir: neuron {name}: CUBALIFNode with alpha_i or alpha_v = 1 (no decay) has no finite "
                "NIR time constant"
            )
        info.update(alpha_i=p.alpha_i, alpha_v=p.alpha_v)
        tau_syn, tau_mem = dt / (1.0 - p.alpha_i), dt / (1.0 - p.alpha_v)
        out = nir.CubaLIF(
            tau_syn=_full(tau_syn, features),
            tau_mem=_full(tau_mem, features),
            r=_full(tau_mem / dt, features),
            v_leak=_full(v_rest, features),
            v_threshold=theta,
            v_reset=v_reset,
            w_in=_full(tau_syn / dt, features),
        )
    else:
        raise NIRConversionError(
            f"export_nir: neuron {name}: neuron kind {dyn.kind!r} has no NIR form (NIR export takes IF, LIF and "
            "CUBA neurons)"
        )
    out.metadata = {"v_init": _np(v_init, features), "reset": reset, "spikeforge": json.dumps(info), "dt": dt}
    if node.learn_threshold and node.threshold_min is not None:
        out.metadata["v_threshold_param"] = _np(node.v_threshold)  # unclamped (v_threshold is the clamped one)
    return out


def _node_name(qualified: str) -> str:
    return qualified.replace(".", "_")


class NIRExportWarning(UserWarning):
    """Something of the model that only SpikeForge's reader gets back (the message names it)."""


@torch.no_grad()
def export_nir(model: nn.Module, sample_input: torch.Tensor, *, dt: float = 1.0, strict: bool = False) -> nir.NIRGraph:
    """Convert ``model`` to a ``nir.NIRGraph`` (see the module docstring for the mapping).

    Args:
        model: a SpikeForge network (a model from ``spikeforge.models`` or any chain of
            ``nn.Sequential`` / ``MultiStep`` of the supported layers and neurons).
        sample_input: a time-first input ``[T, B, *input_shape]`` (one sample is enough); it
            fixes the shapes of the per-neuron parameters and of the graph's input.
        dt: the time step the graph's time constants refer to (SpikeForge's own step is 1).
        strict: refuse (:class:`NIRConversionError`) what other NIR readers would lose, instead
            of a :class:`NIRExportWarning` per item: a learned or non-resting IMP, a soft reset,
            per-neuron thresholds (snnTorch's reader refuses them).

    Returns:
        A sequential NIR graph ``input -> ... -> output`` whose node names are the model's
        module names (dots as underscores). Write it with ``nir.write(path, graph)``.

    Raises:
        NIRConversionError: naming the first layer NIR cannot express (a residual block,
            TEBN, a time window, a recurrent or stateful module, ...), or with ``strict`` the
            first lossy item.
    """
    nir = _nir()
    if sample_input.dim() < 3:
        raise ValueError(
            f"export_nir: sample_input must be time-first [T, B, ...], got shape {tuple(sample_input.shape)}"
        )
    was_training = model.training
    model.eval()
    try:
        layers = list(_layers(model, ""))
        x = sample_input[:, :1].float()
        T = x.shape[0]
        nodes: OrderedDict[str, Any] = OrderedDict()
        nodes["input"] = nir.Input(input_type={"input": np.array(x.shape[2:])})
        i = 0
        while i < len(layers):
            name, layer = layers[i]
            key = _node_name(name)
            features = tuple(x.shape[2:])
            if is_neuron(layer):
                nodes[key] = _neuron_node(name, layer, features, dt)
                for line in _losses(name, layer, nodes[key].v_threshold):
                    if strict:
                        raise NIRConversionError(f"{line} (strict=True refuses it)")
                    warnings.warn(line, NIRExportWarning, stacklevel=3)
                saved_T, layer.T = layer.T, None
                try:
                    x = layer(x)
                finally:
                    layer.T = saved_T
                i += 1
                continue
            if isinstance(layer, nn.Conv2d):
                if layer.padding_mode != "zeros":
                    raise NIRConversionError(
                        f"export_nir: unsupported layer {name}: Conv2d padding_mode={layer.padding_mode!r}"
                    )
                weight, bias = layer.weight.detach().float(), layer.bias
                bias = bias.detach().float() if bias is not None else torch.zeros(weight.shape[0])
                folded = layer
                if i + 1 < len(layers) and isinstance(layers[i + 1][1], nn.BatchNorm2d):
                    bn = layers[i + 1][1]
                    weight, bias = _fold_bn(layer, bn)
                    folded = nn.Sequential(layer, bn)
                    i += 1
                padding = layer.padding if isinstance(layer.padding, str) else tuple(layer.padding)
                nodes[key] = nir.Conv2d(
                    input_shape=tuple(features[1:]),
                    weight=_np(weight),
                    stride=tuple(layer.stride),
                    padding=padding,
                    dilation=tuple(layer.dilation),
                    groups=layer.groups,
                    bias=_np(bias),
                )
                x = _stateless(folded, x, T)
            elif isinstance(layer, nn.BatchNorm2d):
                raise NIRConversionError(
                    f"export_nir: unsupported layer {name}: BatchNorm2d that does not follow a Conv2d (NIR has no "
                    "batch norm; only conv + BN pairs are folded)"
                )
            elif isinstance(layer, nn.Linear):
                w = _np(layer.weight)
                nodes[key] = (
                    nir.Affine(weight=w, bias=_np(layer.bias)) if layer.bias is not None else nir.Linear(weight=w)
                )
                x = _stateless(layer, x, T)
            elif isinstance(layer, nn.AvgPool2d | nn.AdaptiveAvgPool2d):
                kernel, stride, padding = _pool_geometry(name, layer, features)
                if kernel != (1, 1) or stride != (1, 1):
                    nodes[key] = nir.AvgPool2d(
                        kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array(padding)
                    )
                x = _stateless(layer, x, T)
            elif type(layer).__name__ == "SumPool2d":
                k = layer.kernel_size
                nodes[key] = nir.SumPool2d(
                    kernel_size=np.array((k, k)), stride=np.array((k, k)), padding=np.array((0, 0))
                )
                x = _stateless(layer, x, T)
            elif isinstance(layer, nn.Flatten):
                if layer.start_dim < 1 or 0 <= layer.end_dim < layer.start_dim:
                    raise NIRConversionError(
                        f"export_nir: unsupported layer {name}: Flatten(start_dim={layer.start_dim}, "
                        f"end_dim={layer.end_dim}) touches the batch axis"
                    )
                start, end = layer.start_dim - 1, layer.end_dim - 1 if layer.end_dim > 0 else layer.end_dim
                nodes[key] = nir.Flatten(input_type={"input": np.array(features)}, start_dim=start, end_dim=end)
                x = _stateless(layer, x, T)
            elif isinstance(layer, Gain):
                nodes[key] = nir.Scale(scale=_np(layer.scale, features))
                x = _stateless(layer, x, T)
            # nn.Identity and nn.Dropout (eval mode) are the identity: no node
            if key in nodes:  # where SpikeForge's reader puts the layer back (the original state_dict loads)
                nodes[key].metadata = {**(nodes[key].metadata or {}), "spikeforge_module": name}
            i += 1
        nodes["output"] = nir.Output(output_type={"output": np.array(x.shape[2:])})
        names = list(nodes)
        edges = list(itertools.pairwise(names))
        from .. import __version__

        metadata = {"dt": dt, "source": f"spikeforge {__version__}", "time_steps": T}
        return nir.NIRGraph(nodes=dict(nodes), edges=edges, metadata=metadata, type_check=False)
    finally:
        model.train(was_training)


def _stateless(layer: nn.Module, x: torch.Tensor, T: int) -> torch.Tensor:
    return batch_to_seq(layer(seq_to_batch(x)), T)


def _pair(v: Any) -> tuple[int, int]:
    """``(h, w)`` from an int, a pair, or a NIR array of either (snnTorch writes scalar pooling sizes)."""
    a = np.asarray(v).reshape(-1)
    if a.size == 1:
        return (int(a[0]), int(a[0]))
    return (int(a[0]), int(a[1]))


def _pool_geometry(name: str, layer: nn.Module, features: tuple[int, ...]):
    if isinstance(layer, nn.AdaptiveAvgPool2d):
        out = layer.output_size
        out = _pair(out) if not isinstance(out, tuple) or None not in out else None
        hw = features[-2:]
        if out is None or hw[0] % out[0] or hw[1] % out[1]:
            raise NIRConversionError(
                f"export_nir: unsupported layer {name}: AdaptiveAvgPool2d({layer.output_size}) on {hw} is not a "
                "plain average pooling"
            )
        k = (hw[0] // out[0], hw[1] // out[1])
        return k, k, (0, 0)
    if layer.ceil_mode or (not layer.count_include_pad and _pair(layer.padding) != (0, 0)):
        raise NIRConversionError(f"export_nir: unsupported layer {name}: AvgPool2d with ceil_mode/count_include_pad")
    kernel = _pair(layer.kernel_size)
    stride = _pair(layer.stride if layer.stride is not None else layer.kernel_size)
    return kernel, stride, _pair(layer.padding)


# ----------------------------------------------------------------------------- import
def _f32(values: Any) -> np.ndarray:
    """A float32 NumPy copy of a node's field (NumPy, h5py, or torch tensors as snnTorch's writer leaves them)."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.array(values, dtype=np.float32)


def _uniform(name: str, what: str, a: np.ndarray) -> float:
    a = _f32(a).astype(np.float64)
    if a.size == 0:
        raise NIRConversionError(f"import_nir: node {name}: empty {what}")
    v = float(a.flat[0])
    if not np.allclose(a, v, rtol=_RTOL, atol=0.0):
        raise NIRConversionError(
            f"import_nir: node {name}: {what} differs between neurons; SpikeForge neurons have one {what} per layer"
        )
    return v


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=_RTOL, abs_tol=1e-12)


def _meta(node: Any) -> dict[str, Any]:
    meta = dict(getattr(node, "metadata", None) or {})
    for k, v in list(meta.items()):
        if isinstance(v, bytes):
            meta[k] = v.decode("utf8")
        elif isinstance(v, np.ndarray) and v.dtype.kind in "SO" and v.size == 1:
            item = v.item()
            meta[k] = item.decode("utf8") if isinstance(item, bytes) else item
    return meta


def _set_param(neuron: BaseNode, attr: str, values: np.ndarray) -> None:
    param = getattr(neuron, attr)
    t = torch.from_numpy(_f32(values))  # a copy: h5py arrays are read-only
    if isinstance(param, nn.UninitializedParameter):
        param.materialize(t.shape)
    with torch.no_grad():
        param.copy_(t.reshape(param.shape))


def _shared(values: np.ndarray, sharing: str) -> np.ndarray | None:
    """``values`` (full shape) reduced to the shape ``sharing`` gives a learnable parameter, or
    ``None`` when they are not shared that way (then they stay per neuron)."""
    if sharing == "layer":
        reduced = values.reshape(-1)[:1].reshape(())
    elif sharing == "channel" and values.ndim > 0:
        reduced = values[(slice(None),) + (0,) * (values.ndim - 1)].reshape((-1,) + (1,) * (values.ndim - 1))
    else:
        return None
    return reduced if np.array_equal(np.broadcast_to(reduced, values.shape), values) else None


def _neuron_from_node(
    name: str, node: Any, dt: float, backend: str, fire_at_threshold: bool | None
) -> tuple[list[tuple[str, nn.Module]], BaseNode]:
    """``(modules before the neuron, neuron)``; a gain module precedes it when the input is scaled."""
    nir = _nir()
    meta = _meta(node)
    info = json.loads(meta["spikeforge"]) if "spikeforge" in meta else {}
    reset = meta.get("reset", info.get("reset", "to_v_reset"))
    # NIR (and snnTorch, Norse) fire when v > v_threshold; SpikeForge's own graphs say which they used.
    fires_at_threshold = info.get("fire_at_threshold", bool(info)) if fire_at_threshold is None else fire_at_threshold
    theta = _f32(node.v_threshold)
    shape = tuple(theta.shape)
    v_reset: float | None = None if reset == "subtract" else _uniform(name, "v_reset", node.v_reset)
    v_rest = 0.0 if v_reset is None else v_reset
    gain = 1.0
    if not fires_at_threshold and v_reset is None:
        raise NIRConversionError(
            f"import_nir: node {name}: fire_at_threshold=False (spike only above the threshold) needs a hard reset, "
            "but this neuron resets by subtraction"
        )
    kwargs: dict[str, Any] = {"v_reset": v_reset, "backend": backend, "fire_at_threshold": bool(fires_at_threshold)}
    for key in ("imp_init", "threshold_min"):
        if info.get(key) is not None:
            kwargs[key] = info[key]
    if info.get("surrogate"):
        kwargs["surrogate"] = get_surrogate(info["surrogate"])
    if "detach_reset" in info:
        kwargs["detach_reset"] = bool(info["detach_reset"])

    if isinstance(node, nir.IF):
        cls: type[BaseNode] = IFNode
        gain = _uniform(name, "r", node.r) * dt
    elif isinstance(node, nir.LIF):
        cls = LIFNode
        tau = _uniform(name, "tau", node.tau) / dt
        r = _uniform(name, "r", node.r)
        _check_leak(name, node.v_leak, v_rest, reset)
        if "tau" in info and _close(info["tau"], tau):
            tau = float(info["tau"])  # the exact value SpikeForge exported
        if not tau > 1.0:
            raise NIRConversionError(
                f"import_nir: node {name}: LIF tau/dt = {tau:g} <= 1; is dt right (import_nir(graph, dt=...))? "
                "Norse 1.1's to_nir writes tau = dt * tau_mem (dt/tau_mem_inv): export from Norse with dt=1 "
                "(cells and to_nir) and import with dt=1"
            )
        if _close(r, 1.0):
            decay_input = True
        else:
            decay_input, gain = False, r / tau  # H = V - (V - V_r)/tau + (r/tau) X
        kwargs.update(tau=tau, decay_input=decay_input)
    elif isinstance(node, nir.CubaLIF):
        cls = CUBALIFNode
        tau_syn, tau_mem = _uniform(name, "tau_syn", node.tau_syn), _uniform(name, "tau_mem", node.tau_mem)
        alpha_i, alpha_v = 1.0 - dt / tau_syn, 1.0 - dt / tau_mem
        for what, a in (("alpha_i", alpha_i), ("alpha_v", alpha_v)):
            if what in info and _close(info[what], a):
                kwargs[what] = float(info[what])
            elif not 0.0 <= a <= 1.0:
                raise NIRConversionError(
                    f"import_nir: node {name}: {what} = 1 - dt/tau = {a:g} is outside [0, 1]; "
                    "is dt right (import_nir(graph, dt=...))? Norse 1.1's to_nir writes tau = dt * tau "
                    "(dt/tau_inv): export from Norse with dt=1 (cells and to_nir) and import with dt=1"
                )
            else:
                kwargs[what] = a
        _check_leak(name, node.v_leak, v_rest, reset)
        w_in = _uniform(name, "w_in", node.w_in)
        gain = (dt / tau_syn * w_in) * (dt / tau_mem * _uniform(name, "r", node.r))
    else:  # pragma: no cover - callers dispatch on the type
        raise NIRConversionError(f"import_nir: unsupported node {name}: {type(node).__name__}")

    if "v_threshold_param" in meta:  # the unclamped learnable threshold (with threshold_min)
        theta = np.asarray(meta["v_threshold_param"], dtype=np.float32)
    theta_uniform = bool(np.all(theta == theta.flat[0]))
    learn_theta = bool(info.get("learn_threshold", False)) or not theta_uniform
    kwargs["v_threshold"] = "learn" if learn_theta else float(theta.flat[0])
    if learn_theta:
        init = info.get("v_threshold_init")
        kwargs["v_threshold_init"] = float(theta.flat[0]) if init is None else float(init)
        theta_shared = _shared(theta, info.get("threshold_sharing", "neuron"))
        if theta_shared is not None:
            kwargs["threshold_sharing"], theta = info["threshold_sharing"], theta_shared
    v_init = meta.get("v_init")
    if v_init is not None:
        v_init = np.broadcast_to(np.asarray(v_init, dtype=np.float32), shape)
        if info.get("learn_imp") or not np.all(v_init == v_init.flat[0]):
            kwargs["imp"] = "learn"
            imp_shared = _shared(v_init, info.get("imp_sharing", "neuron"))
            if imp_shared is not None:
                kwargs["imp_sharing"], v_init = info["imp_sharing"], imp_shared
        elif float(v_init.flat[0]) != v_rest:
            kwargs["imp"] = float(v_init.flat[0])
    try:
        neuron = cls(**kwargs, feature_shape=shape)
    except ValueError as e:
        raise NIRConversionError(f"import_nir: node {name}: {e}") from None
    if learn_theta:
        _set_param(neuron, "v_threshold", theta)
    if kwargs.get("imp") == "learn":
        _set_param(neuron, "imp", v_init)
    before: list[tuple[str, nn.Module]] = []
    if not _close(gain, 1.0):
        before.append(("input_gain", Gain(gain)))
    return before, neuron


def _check_leak(name: str, v_leak: np.ndarray, v_rest: float, reset: str) -> None:
    leak = _uniform(name, "v_leak", v_leak)
    if not _close(leak, v_rest):
        where = "0 (soft reset)" if reset == "subtract" else f"v_reset = {v_rest:g}"
        raise NIRConversionError(
            f"import_nir: node {name}: v_leak = {leak:g} but SpikeForge's leak pulls towards {where}"
        )


def _chain(graph: Any) -> list[str]:
    """Node names from the input to the output; fails unless the graph is one chain."""
    nir = _nir()
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
    inputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise NIRConversionError(f"import_nir: the graph has {len(inputs)} input nodes; only one is supported")
    order, seen, cur = [], set(), inputs[0]
    while True:
        order.append(cur)
        seen.add(cur)
        nxt = succ.get(cur, [])
        if not nxt:
            break
        if len(nxt) > 1:
            raise NIRConversionError(
                f"import_nir: the graph branches at node {cur} (to {sorted(nxt)}); only chains are supported"
            )
        cur = nxt[0]
        if cur in seen:
            raise NIRConversionError(
                f"import_nir: the graph has a cycle through node {cur} (recurrence is not supported)"
            )
    if not isinstance(graph.nodes[order[-1]], nir.Output):
        raise NIRConversionError(f"import_nir: the chain from the input ends at {order[-1]}, not at an output node")
    left = set(graph.nodes) - seen
    if left:
        raise NIRConversionError(f"import_nir: nodes {sorted(left)} are not on the input-to-output chain")
    return order


def import_nir(
    graph: nir.NIRGraph | str | Path,
    *,
    dt: float | None = None,
    backend: str = "torch",
    fire_at_threshold: bool | None = None,
) -> NIRNetwork:
    """Build a SpikeForge network from a NIR graph (or a file written by ``nir.write``).

    Args:
        graph: a ``nir.NIRGraph``, or the path of a NIR HDF5 file (read without NIR's strict
            type check, which rejects e.g. every file Norse writes; the chain is checked here).
        dt: the time step the graph's time constants refer to; default the graph's
            ``metadata["dt"]`` (written by :func:`export_nir`), required otherwise.
        backend: the neurons' backend (``"torch"`` reference, ``"auto"``, ...).
        fire_at_threshold: the spike condition of the neurons: ``None`` (default) follows the
            graph's source, ``v >= v_threshold`` for SpikeForge's own graphs (as they were
            trained) and NIR's ``v > v_threshold`` for all others (snnTorch, Norse); ``True`` /
            ``False`` force ``>=`` / ``>``.

    Returns:
        A :class:`NIRNetwork` taking time-first ``[T, B, *input_shape]``. Per-neuron thresholds
        and initial potentials become learnable parameters (``v_threshold``, ``imp``) so the
        network can be fine-tuned; uniform ones become fixed values unless the graph came
        from SpikeForge with learnable ones. A graph SpikeForge wrote comes back with its
        module names, parameter sharing and neuron settings, so the original ``state_dict``
        loads into it (batch norm aside, which export folds into the conv).

    Raises:
        NIRConversionError: one line naming the first node SpikeForge cannot express.
    """
    nir = _nir()
    if isinstance(graph, str | Path):
        graph = nir.read(str(graph), type_check=False)
    meta = _meta(graph)
    if dt is None:
        dt = meta.get("dt")
        if dt is None:
            raise NIRConversionError(
                "import_nir: the graph does not say which time step its time constants assume; pass "
                "import_nir(graph, dt=...) (for snnTorch graphs 1e-4; for Norse graphs the dt given to to_nir, "
                "which must be 1)"
            )
    # (NIR node name, SpikeForge module path or None, module, stateless)
    layers: list[tuple[str, str | None, nn.Module, bool]] = []
    for name in _chain(graph)[1:-1]:
        node = graph.nodes[name]
        node_meta = _meta(node) if node is not None else {}
        path = node_meta.get("spikeforge_module")
        if node is None:
            raise NIRConversionError(
                f"import_nir: node {name} is empty (None): its writer could not convert that module. Norse 1.1's "
                "to_nir converts only *Cell neurons, nn.Linear and nn.Conv2d (sequence modules such as "
                "norse.torch.LIF and nn.Flatten become None): export a model built of those, step by step"
            )
        if isinstance(node, nir.IF | nir.LIF | nir.CubaLIF):
            before, neuron = _neuron_from_node(name, node, dt, backend, fire_at_threshold)
            path = json.loads(node_meta["spikeforge"]).get("module") if "spikeforge" in node_meta else None
            layers += [(f"{name}_{part}", f"{path}_{part}" if path else None, g, True) for part, g in before]
            layers.append((name, path, neuron, False))
        elif isinstance(node, nir.Affine | nir.Linear):
            w = torch.from_numpy(_f32(node.weight))
            if w.dim() != 2:
                raise NIRConversionError(
                    f"import_nir: node {name}: {type(node).__name__} weight of shape {tuple(w.shape)}"
                )
            bias = isinstance(node, nir.Affine)
            lin = nn.Linear(w.shape[1], w.shape[0], bias=bias)
            with torch.no_grad():
                lin.weight.copy_(w)
                if bias:
                    lin.bias.copy_(torch.from_numpy(_f32(node.bias)))
            layers.append((name, path, lin, True))
        elif isinstance(node, nir.Conv2d):
            w = torch.from_numpy(_f32(node.weight))
            padding = node.padding if isinstance(node.padding, str) else _pair(node.padding)
            conv = nn.Conv2d(
                w.shape[1] * int(node.groups),
                w.shape[0],
                tuple(w.shape[2:]),
                stride=_pair(node.stride),
                padding=padding,
                dilation=_pair(node.dilation),
                groups=int(node.groups),
                bias=True,
            )
            with torch.no_grad():
                conv.weight.copy_(w)
                b = _f32(node.bias)
                conv.bias.copy_(torch.as_tensor(np.broadcast_to(b, (w.shape[0],)).copy()))
            layers.append((name, path, conv, True))
        elif isinstance(node, nir.AvgPool2d):
            pool = nn.AvgPool2d(
                _pair(node.kernel_size),
                _pair(node.stride),
                _pair(node.padding),
            )
            layers.append((name, path, pool, True))
        elif isinstance(node, nir.SumPool2d):
            from ..models.common import SumPool2d

            k, s, p = (_pair(v) for v in (node.kernel_size, node.stride, node.padding))
            if k[0] != k[1] or k != s or p != (0, 0):
                raise NIRConversionError(
                    f"import_nir: unsupported node {name}: SumPool2d(kernel={k}, stride={s}, padding={p}); "
                    "only square kernels with stride = kernel and no padding"
                )
            layers.append((name, path, SumPool2d(k[0]), True))
        elif isinstance(node, nir.Flatten):
            start, end = int(node.start_dim), int(node.end_dim)
            flat = nn.Flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end)
            layers.append((name, path, flat, True))
        elif isinstance(node, nir.Scale):
            layers.append((name, path, Gain(torch.from_numpy(_f32(node.scale))), True))
        elif type(node).__name__ == "Identity":
            continue
        else:
            raise NIRConversionError(f"import_nir: unsupported node {name}: {type(node).__name__}")
    return NIRNetwork(_placed(layers))


def _placed(layers: list[tuple[str, str | None, nn.Module, bool]]) -> list[tuple[str, nn.Module, bool]]:
    """Where each imported module goes: its original path when SpikeForge wrote every one and
    they fit in one tree; otherwise one child per node (dots as underscores), stateless layers in
    :class:`MultiStep` (a neuron runs on ``[T, B, ...]`` itself)."""
    paths = [path for _, path, _, _ in layers]
    if layers and all(paths) and _is_tree(cast(list[str], paths)):
        return [(cast(str, path), module, stateless) for _, path, module, stateless in layers]
    return [
        (_node_name(name), MultiStep(module) if stateless else module, False) for name, _, module, stateless in layers
    ]


def _is_tree(paths: list[str]) -> bool:
    """No path repeats and none is a parent of another (a leaf cannot hold children)."""
    seen = set(paths)
    return len(seen) == len(paths) and not any(
        ".".join(p.split(".")[:k]) in seen for p in paths for k in range(1, p.count(".") + 1)
    )
