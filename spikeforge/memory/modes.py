"""The memory modes and how they are put on a model.

=============  ==========================================================================
``none``       autograd keeps what each layer saves (float32 spike inputs included)
``compress``   spike inputs saved as bits (0/1) or bytes (SEW ``add`` counts), :mod:`.spikes`
``checkpoint`` ``compress`` + every block recomputed in the backward, :mod:`.recompute`
``auto``       ``compress`` + the blocks :func:`spikeforge.memory.optimize` picks recomputed
=============  ==========================================================================

Every mode gives the gradients, batch-norm statistics and random stream of ``none``, bit for bit
on the CPU. A *block* is a unit whose input is one tensor and that contains the neurons it
feeds: a SEW-ResNet block, a ``conv -> norm -> neuron`` unit (:class:`~spikeforge.models.common.ConvUnit`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from ..errors import UserError
from ..models.common import ConvUnit
from ..models.sew_resnet import _SEWBlock
from ..neuron.nodes import is_neuron
from .recompute import disable_recompute, enable_recompute
from .spikes import SavedSpikes, SpikeMarks

__all__ = ["MODES", "MemoryPlan", "Mode", "apply_plan", "blocks", "memory_plan", "remove_plan"]

Mode = Literal["none", "compress", "checkpoint", "auto"]
MODES: tuple[str, ...] = ("none", "compress", "checkpoint", "auto")

#: module types that are blocks (one tensor in, their neurons inside); a model's own block type can be added
BLOCK_TYPES: list[type[nn.Module]] = [_SEWBlock, ConvUnit]

_ATTR = "_spikeforge_memory"


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise UserError(f"memory mode must be one of {list(MODES)}, got {mode!r}")
    return mode


def blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of the blocks of ``model`` in forward order (outermost only, no stateful neurons)."""
    found: list[tuple[str, nn.Module]] = []
    inside: list[str] = []
    for name, m in model.named_modules():
        if any(name.startswith(p + ".") for p in inside):
            continue
        if not any(isinstance(m, t) for t in BLOCK_TYPES):
            continue
        if not any(is_neuron(n) and n.stateful for n in m.modules()):
            found.append((name, m))
            inside.append(name)
    return found


@dataclass
class MemoryPlan:
    """What is put on a model: its mode, the recomputed blocks, and the hooks to take off again."""

    mode: str
    recomputed: list[str] = field(default_factory=list)
    marks: SpikeMarks = field(default_factory=SpikeMarks)
    details: dict[str, Any] = field(default_factory=dict)
    _handles: list[Any] = field(default_factory=list, repr=False)
    _session: SavedSpikes | None = field(default=None, repr=False)

    def describe(self) -> str:
        extra = f", {len(self.recomputed)} block(s) recomputed" if self.mode in ("checkpoint", "auto") else ""
        return f"memory {self.mode}{extra}"


def _mark_neuron(marks: SpikeMarks):
    def hook(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        marks.mark(out, 1)

    return hook


def _mark_sew(marks: SpikeMarks):
    """A SEW block's output: ``add`` of the branch spikes and the shortcut (counts add), ``and``/``iand`` of them
    (bounded by the shortcut)."""

    def hook(block: nn.Module, args: tuple, out: torch.Tensor) -> None:
        shortcut = 1 if getattr(block, "downsample", None) is not None else marks.bound(args[0])
        if shortcut is None:
            return
        marks.mark(out, shortcut + 1 if block.connect_name == "add" else shortcut)  # type: ignore[operator]

    return hook


def apply_plan(model: nn.Module, mode: str, recompute: Iterable[str] = ()) -> MemoryPlan:
    """Put ``mode`` on ``model`` with the blocks named in ``recompute`` recomputed (``checkpoint``: all blocks).

    Replaces the plan already on ``model``. ``auto`` is resolved by :func:`spikeforge.memory.optimize`, which
    calls this with the blocks it picked.
    """
    check_mode(mode)
    remove_plan(model)
    plan = MemoryPlan(mode)
    if mode == "none":
        return plan
    all_blocks = dict(blocks(model))
    chosen = list(all_blocks) if mode == "checkpoint" else list(recompute)
    unknown = [n for n in chosen if n not in all_blocks]
    if unknown:
        raise UserError(f"not blocks of this model: {unknown}; blocks: {list(all_blocks)}")
    for m in model.modules():
        if is_neuron(m):
            plan._handles.append(m.register_forward_hook(_mark_neuron(plan.marks)))
        elif isinstance(m, _SEWBlock):
            plan._handles.append(m.register_forward_hook(_mark_sew(plan.marks)))
    session = SavedSpikes(plan.marks)
    plan._session = session

    def enter(module: nn.Module, args: tuple) -> None:
        session.__enter__()

    def leave(module: nn.Module, args: tuple, out: Any) -> None:
        session.__exit__()

    plan._handles.append(model.register_forward_pre_hook(enter))
    plan._handles.append(model.register_forward_hook(leave, always_call=True))
    for name in chosen:
        enable_recompute(all_blocks[name])
    plan.recomputed = chosen
    setattr(model, _ATTR, plan)
    return plan


def memory_plan(model: nn.Module) -> MemoryPlan | None:
    """The plan on ``model`` (``None``: mode ``none``)."""
    return getattr(model, _ATTR, None)


def remove_plan(model: nn.Module) -> None:
    """Take the memory plan off ``model`` (back to mode ``none``)."""
    plan = memory_plan(model)
    if plan is None:
        return
    for h in plan._handles:
        h.remove()
    for _, m in blocks(model):
        disable_recompute(m)
    delattr(model, _ATTR)
