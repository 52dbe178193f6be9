"""Synaptic operations (SOPs), MACs and a theoretical energy estimate per conv/linear layer.

Convention (docs/methods.md A.6: the usual one in the SNN literature, *not* confirmed for
Shen et al.'s Tables 5/6, whose text was not available):

* ``FLOPs(l)``: multiply-accumulates of layer ``l`` for one sample at one time step,
  ``out_elements * fan_in`` (bias additions and batch norm, which folds into the weights,
  are not counted; neither are the neurons' own state updates).
* A layer whose input is spikes (every value in {0, 1}) does accumulates only:
  ``SOPs(l) = r(l) * T * FLOPs(l)``, with ``r`` its input firing rate. A layer whose input is
  non-negative integers (spike *counts*: the output of SEW-ResNet's ADD connection, event
  frames) is counted the same way with ``r`` the mean count: ``k`` spikes at one input
  are ``k`` accumulates.
* Any other input (the analog image entering the first conv, average-pooled spikes, a
  readout after global pooling) is a dense MAC layer: ``MACs(l) = T * FLOPs(l)``.
* ``E = E_MAC * sum MACs + E_AC * sum SOPs`` with ``E_MAC = 4.6 pJ`` and ``E_AC = 0.9 pJ``
  (45 nm CMOS, Horowitz 2014) by default.

The counts come from forward hooks on a real forward pass, so shapes are exact and ``T``
is whatever the layer really computed: a stem wrapped in ``MultiStep`` that sees the
directly-encoded (repeated) image ``T`` times is counted ``T`` times; a stem computed once
on ``[B, ...]`` and then repeated (the ImageNet code of Shen et al.) is counted once. The
number of evaluations per sample is reported as ``steps``. The firing-rate form of SOPs is
exact for linear layers and ignores zero padding at the borders of convolutions.

All numbers in a report are per sample (averaged over the samples seen).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Sequence
from typing import Any, Literal

import torch
from torch import nn

from ..errors import UserError
from .activity import unwrap_model

__all__ = ["E_AC_PJ", "E_MAC_PJ", "EnergyMeter", "energy_report", "format_table", "layer_fan_in"]

E_MAC_PJ = 4.6
E_AC_PJ = 0.9

InputKind = Literal["spike", "count", "analog"]
_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_COUNTED = (nn.Linear, *_CONV)


def layer_fan_in(module: nn.Module) -> int:
    """Multiply-accumulates per output element of a conv or linear layer."""
    if isinstance(module, nn.Linear):
        return module.in_features
    if isinstance(module, _CONV):
        return (module.in_channels // module.groups) * math.prod(module.kernel_size)
    raise TypeError(f"layer_fan_in: unsupported layer type {type(module).__name__}")


def _flops(module: nn.Module, out: torch.Tensor) -> int:
    """MACs for one sample at one step: conv inputs are ``[N, C, ...]``, linear ``[..., F]``."""
    per_output = layer_fan_in(module)
    if isinstance(module, nn.Linear):
        return per_output * module.out_features
    return per_output * math.prod(out.shape[1:])


def _input_flags(x: torch.Tensor) -> torch.Tensor:
    """``[binary, count]`` of ``x`` as a device bool tensor (no host sync): all 0/1; all non-negative integers."""
    x = x.detach()
    binary = ((x == 0) | (x == 1)).all()
    nonneg = x >= 0
    count = (nonneg if not x.is_floating_point() else nonneg & (x == torch.round(x))).all()
    return torch.stack([binary, count])


@dataclasses.dataclass
class _Accum:
    """One layer's totals. The input's sum and kind stay on its device until read: a host sync per
    layer call would stall the GPU at every layer."""

    type: str
    flops: int
    dense_macs: int = 0
    input_numel: int = 0
    _input_sum: torch.Tensor | None = None  # float64 scalar
    _flags: torch.Tensor | None = None  # [binary, count] over all calls (bool)

    def add(self, module: nn.Module, x: torch.Tensor, out: torch.Tensor) -> None:
        self.dense_macs += out.numel() * layer_fan_in(module)
        total = x.detach().double().sum()
        self._input_sum = total if self._input_sum is None else self._input_sum + total
        self.input_numel += x.numel()
        flags = _input_flags(x)
        self._flags = flags if self._flags is None else self._flags & flags

    @property
    def input_sum(self) -> float:
        return 0.0 if self._input_sum is None else float(self._input_sum)

    @property
    def kind(self) -> InputKind:
        """The widest kind seen: ``spike`` if every call's input was 0/1, else ``count`` if all were counts."""
        if self._flags is None:
            return "spike"
        binary, count = self._flags.tolist()
        return "spike" if binary else "count" if count else "analog"


class EnergyMeter:
    """Accumulates MACs / SOPs per conv and linear layer over forward passes (NeuroBench style).

    Args:
        model: the network (DDP / compiled wrappers are looked through for layer names).
        e_mac: energy per multiply-accumulate in pJ.
        e_ac: energy per accumulate in pJ.
        batch_dim: the batch axis of the model's first input (1 for ``[T, B, ...]``).
        mac_layers: layer names always counted as MACs, whatever their input (e.g. to count an
            integer-valued image entering the stem as dense work).
        count_as_ac: count non-binary non-negative integer inputs as accumulates (default);
            ``False`` counts them as MACs.

    Usage: ``meter.update(x)`` runs ``model(x)`` without gradients and accumulates; call it
    on as many batches as wanted (the model's train/eval mode is left as it is), then
    :meth:`compute`.
    """

    def __init__(
        self,
        model: nn.Module,
        e_mac: float = E_MAC_PJ,
        e_ac: float = E_AC_PJ,
        batch_dim: int = 1,
        mac_layers: Collection[str] = (),
        count_as_ac: bool = True,
    ) -> None:
        self.model = model
        self.e_mac = float(e_mac)
        self.e_ac = float(e_ac)
        self.batch_dim = batch_dim
        self.count_as_ac = count_as_ac
        self.layers = {
            (name or "root"): m for name, m in unwrap_model(model).named_modules() if isinstance(m, _COUNTED)
        }
        unknown = sorted(set(mac_layers) - set(self.layers))
        if unknown:
            raise UserError(
                f"mac_layers {unknown} are not conv/linear layers of the model; those are {list(self.layers)}"
            )
        self.mac_layers = set(mac_layers)
        self.reset()

    def reset(self) -> None:
        """Forget all counts."""
        self._acc: dict[str, _Accum] = {}
        self.num_samples = 0

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs: tuple[Any, ...], out: torch.Tensor) -> None:
            x = inputs[0]
            acc = self._acc.get(name)
            if acc is None:
                acc = self._acc[name] = _Accum(type(module).__name__, _flops(module, out))
            acc.add(module, x, out)

        return hook

    @torch.no_grad()
    def update(self, *inputs: Any) -> Any:
        """Run ``model(*inputs)`` with counting hooks; returns the model's output."""
        x = inputs[0]
        if not isinstance(x, torch.Tensor) or x.dim() <= self.batch_dim:
            raise ValueError(f"EnergyMeter: the first input must be a tensor with a batch axis {self.batch_dim}")
        handles = [m.register_forward_hook(self._hook(name)) for name, m in self.layers.items()]
        try:
            out = self.model(*inputs)
        finally:
            for h in handles:
                h.remove()
        self.num_samples += x.shape[self.batch_dim]
        return out

    def compute(self) -> dict[str, Any]:
        """The report: ``{"layers": [...], "totals": {...}, "num_samples", "e_mac_pj", "e_ac_pj", "convention"}``.

        Each layer row (per sample): ``layer``, ``type``, ``input_kind`` (``spike``/``count``/
        ``analog``), ``op`` (``AC``/``MAC``), ``flops`` (one step), ``steps`` (evaluations per
        sample), ``dense_macs`` (``flops * steps``), ``input_rate`` (mean input value: the
        firing rate for spikes), ``macs``, ``sops``, ``energy_pj``. ``totals`` sums ``macs``,
        ``sops``, ``dense_macs``, ``energy_pj`` and adds ``energy_mj`` and ``ann_energy_pj``
        (every dense MAC at ``e_mac``: the same network as an ANN).
        """
        if self.num_samples == 0:
            raise ValueError("EnergyMeter.compute(): no forward pass recorded; call update(x) first")
        rows = []
        for name, acc in self._acc.items():
            dense = acc.dense_macs / self.num_samples
            rate = acc.input_sum / acc.input_numel if acc.input_numel else 0.0
            ac = name not in self.mac_layers and (acc.kind == "spike" or (acc.kind == "count" and self.count_as_ac))
            macs = 0.0 if ac else dense
            sops = rate * dense if ac else 0.0
            rows.append(
                {
                    "layer": name,
                    "type": acc.type,
                    "input_kind": acc.kind,
                    "op": "AC" if ac else "MAC",
                    "flops": acc.flops,
                    "steps": dense / acc.flops if acc.flops else 0.0,
                    "dense_macs": dense,
                    "input_rate": rate,
                    "macs": macs,
                    "sops": sops,
                    "energy_pj": macs * self.e_mac + sops * self.e_ac,
                }
            )
        totals = {key: sum(r[key] for r in rows) for key in ("dense_macs", "macs", "sops", "energy_pj")}
        totals["energy_mj"] = totals["energy_pj"] * 1e-9
        totals["ann_energy_pj"] = totals["dense_macs"] * self.e_mac
        return {
            "layers": rows,
            "totals": totals,
            "num_samples": self.num_samples,
            "e_mac_pj": self.e_mac,
            "e_ac_pj": self.e_ac,
            "convention": (
                "per sample; SOPs = input rate x T x FLOPs for spike/count inputs (AC), MACs = T x FLOPs otherwise; "
                "E = e_mac*MACs + e_ac*SOPs (45 nm defaults, a literature convention, docs/methods.md A.6)"
            ),
        }


def energy_report(
    model: nn.Module,
    sample_input: torch.Tensor | Sequence[Any],
    e_mac: float = E_MAC_PJ,
    e_ac: float = E_AC_PJ,
    *,
    batch_dim: int = 1,
    mac_layers: Collection[str] = (),
    count_as_ac: bool = True,
) -> dict[str, Any]:
    """Per-layer MACs / SOPs / energy of ``model`` on one batch, in eval mode (see :meth:`EnergyMeter.compute`).

    Args:
        model: the network; its train/eval mode is restored afterwards.
        sample_input: what the model takes (``[T, B, ...]`` for spikeforge models), or a
            tuple/list of positional inputs whose first element has the batch axis.
        e_mac, e_ac: pJ per MAC and per accumulate.
    For a dataset-wide estimate, feed many batches to an :class:`EnergyMeter` instead.
    """
    inputs = tuple(sample_input) if isinstance(sample_input, list | tuple) else (sample_input,)
    meter = EnergyMeter(model, e_mac, e_ac, batch_dim=batch_dim, mac_layers=mac_layers, count_as_ac=count_as_ac)
    was_training = model.training
    model.eval()
    try:
        meter.update(*inputs)
    finally:
        model.train(was_training)
    return meter.compute()


def _si(v: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{unit}"
    return f"{v:.3g}"


def format_table(report: dict[str, Any]) -> str:
    """The report as an aligned text table for the terminal (one row per layer, then totals)."""
    header = ("layer", "type", "input", "op", "steps", "FLOPs/step", "rate", "MACs", "SOPs", "energy (pJ)")
    lines = [header]
    for r in report["layers"]:
        lines.append(
            (
                r["layer"],
                r["type"],
                r["input_kind"],
                r["op"],
                f"{r['steps']:.3g}",
                _si(r["flops"]),
                f"{r['input_rate']:.4f}",
                _si(r["macs"]),
                _si(r["sops"]),
                _si(r["energy_pj"]),
            )
        )
    t = report["totals"]
    lines.append(("total", "", "", "", "", "", "", _si(t["macs"]), _si(t["sops"]), _si(t["energy_pj"])))
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    rule = "  ".join("-" * w for w in widths)
    text = [
        "  ".join(cell.ljust(w) if i < 4 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        for row in lines
    ]
    text.insert(1, rule)
    text.insert(len(text) - 1, rule)
    text.append(
        f"per sample over {report['num_samples']} samples; "
        f"E_MAC = {report['e_mac_pj']} pJ, E_AC = {report['e_ac_pj']} pJ; "
        f"energy {t['energy_mj']:.4g} mJ (as an ANN: {t['ann_energy_pj'] * 1e-9:.4g} mJ)"
    )
    return "\n".join(text)
