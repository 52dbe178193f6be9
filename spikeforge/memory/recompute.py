"""Exact recomputation of a block in the backward (activation checkpointing).

:func:`enable_recompute` makes a module keep only its input for the backward (packed as bits or
bytes when it is a spike tensor, :mod:`.spikes`) and run its forward again when the gradient
reaches it. SpikeForge's neurons start every call from their initial membrane potential (they
are stateless per call), so the second forward sees exactly the inputs of the first and the
gradients are the ones of a run without recomputation, bit for bit on the CPU:

* the random number generators (dropout) are put back to where they were before the first forward;
* batch norms in training mode do not update their running statistics a second time (they use the
  batch statistics either way, which are recomputed from the same values);
* forward hooks that record activity (:mod:`spikeforge.monitor.metrics`) skip the second call,
  told by :func:`recomputing`;
* the weight, IMP and threshold gradients are returned through the autograd function itself (the
  parameters are its inputs), so the optimiser, gradient clipping and DDP see ordinary gradients.

A block holding a neuron with ``stateful=True`` cannot be recomputed (its state moved on) and is
refused. The module's ``state_dict`` is unchanged (only the instance's ``forward`` is replaced).
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..errors import UserError
from ..neuron.nodes import is_neuron

__all__ = ["disable_recompute", "enable_recompute", "is_recomputed", "recomputing"]

_RECOMPUTING = [0]


def recomputing() -> bool:
    """Whether a block's forward is running again for the backward (a hook can skip its work then)."""
    return _RECOMPUTING[0] > 0


@contextlib.contextmanager
def _second_pass(module: nn.Module) -> Iterator[None]:
    """Batch norms keep their running statistics while ``module`` reruns; :func:`recomputing` is true meanwhile."""
    norms = [m for m in module.modules() if isinstance(m, _BatchNorm) and m.training and m.track_running_stats]
    for m in norms:
        m.track_running_stats = False  # training mode: batch statistics, no running update, no counter
    _RECOMPUTING[0] += 1
    try:
        yield
    finally:
        _RECOMPUTING[0] -= 1
        for m in norms:
            m.track_running_stats = True


def _rng_state(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    cuda = torch.cuda.get_rng_state(x.device) if x.is_cuda else None
    return torch.get_rng_state(), cuda


def _autocast_state(device_type: str) -> tuple[bool, torch.dtype]:
    return torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type)


class _Recompute(torch.autograd.Function):
    """``forward(ctx, run, module, x, *params)``: ``run(x)`` without a graph; the backward reruns it."""

    @staticmethod
    def forward(ctx: Any, run: Callable[[torch.Tensor], torch.Tensor], module: nn.Module, x, *params):  # type: ignore[override]
        ctx.run, ctx.module, ctx.saved_params = run, module, params  # parameters need no packing
        ctx.rng = _rng_state(x)
        ctx.autocast = _autocast_state(x.device.type)
        ctx.save_for_backward(x)  # packed by the saved-spikes session when x is a spike tensor
        return run(x)

    @staticmethod
    def backward(ctx: Any, *grad_out: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        params = ctx.saved_params
        x = x.detach().requires_grad_(ctx.needs_input_grad[2])
        cpu_rng, cuda_rng = ctx.rng
        devices = [x.device] if cuda_rng is not None else []
        enabled, dtype = ctx.autocast
        with torch.random.fork_rng(devices=devices), _second_pass(ctx.module):
            torch.set_rng_state(cpu_rng)
            if cuda_rng is not None:
                torch.cuda.set_rng_state(cuda_rng, x.device)
            with torch.enable_grad(), torch.autocast(x.device.type, dtype=dtype, enabled=enabled):
                y = ctx.run(x)
        wanted = [i for i, need in enumerate(ctx.needs_input_grad[3:]) if need]
        inputs = ([x] if x.requires_grad else []) + [params[i] for i in wanted]
        grads = list(torch.autograd.grad(y, inputs, grad_out, allow_unused=True)) if inputs else []
        grad_x = grads.pop(0) if x.requires_grad else None
        grad_params: list[torch.Tensor | None] = [None] * len(params)
        for i, g in zip(wanted, grads, strict=True):
            grad_params[i] = g
        return (None, None, grad_x, *grad_params)


def _recomputed_forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    run = types.MethodType(type(self).forward, self)
    if not torch.is_grad_enabled() or not isinstance(x, torch.Tensor):
        return run(x)
    params = tuple(p for p in self.parameters() if p.requires_grad)
    if not x.requires_grad and not params:
        return run(x)
    return _Recompute.apply(run, self, x, *params)


def enable_recompute(module: nn.Module) -> None:
    """Make ``module`` (a block taking one tensor) recompute its forward in the backward (see the module docstring)."""
    stateful = [name or "<block>" for name, m in module.named_modules() if is_neuron(m) and m.stateful]
    if stateful:
        raise UserError(
            f"{type(module).__name__}: cannot recompute a block with stateful neurons ({stateful}): their state "
            "moved on after the first forward"
        )
    if is_recomputed(module):
        return
    module.forward = types.MethodType(_recomputed_forward, module)  # type: ignore[method-assign]


def disable_recompute(module: nn.Module) -> None:
    """Undo :func:`enable_recompute`."""
    if is_recomputed(module):
        del module.forward


def is_recomputed(module: nn.Module) -> bool:
    forward = module.__dict__.get("forward")
    return isinstance(forward, types.MethodType) and forward.__func__ is _recomputed_forward
