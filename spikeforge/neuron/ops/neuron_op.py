"""What every fused backend's neuron ops share: arguments, output shapes, autograd glue.

Each backend defines a forward and a backward ``torch.library`` custom op
(``spikeforge::<backend>_neuron_forward`` / ``_backward``, :func:`.library.define`), so that
``torch.compile`` and ``torch.export`` see one opaque op per neuron layer (with a fake
implementation for shapes) instead of a kernel call they cannot trace. The tensors the
backward takes differ (the CPU backend recomputes ``H`` from ``x``, the Triton one reads a
saved ``H``); the rest is the same and lives here:

* the forward's arguments (:data:`FORWARD_SCHEMA`): the flattened tensors (:mod:`.call`),
  then the :class:`~.spec.KernelSpec` as ints and floats (``consts``: ``spec.KERNEL_CONSTANTS``,
  the one place they are named and built) and the parameter layouts (:mod:`.params`);
* the forward's first four outputs ``spikes [T, M], v [M], i [M], v_seq [T, M]``, where an
  output the layer does not have (CUBA's ``i``, the ``v_seq`` trace) is an empty ``[0]``
  tensor, so every op has a fixed output arity (:func:`forward_fake`);
* the backward's outputs, the gradients of the forward's four tensors (:func:`grads_fake`);
* the autograd formula's bookkeeping (:func:`keep_config`, :func:`grad_outputs`,
  :func:`grad_inputs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..reference import state_dtype
from .spec import CUBA

__all__ = [
    "CONFIG_ARGS",
    "CONFIG_SCHEMA",
    "FORWARD_OUTPUTS",
    "FORWARD_SCHEMA",
    "GRADS_OUTPUTS",
    "forward_fake",
    "grad_inputs",
    "grad_outputs",
    "grads_fake",
    "keep_config",
]

# The configuration every op of a layer takes after its tensors (the backward repeats it: ops share no context).
CONFIG_SCHEMA = "int kind, bool soft, bool detach, int surrogate, float[] consts, int th_inner, int v0_inner"
CONFIG_ARGS = tuple(arg.split()[-1] for arg in CONFIG_SCHEMA.split(", "))
FORWARD_SCHEMA = f"Tensor x, Tensor theta, Tensor v0, Tensor? i0, {CONFIG_SCHEMA}, bool record_v"
FORWARD_OUTPUTS = "Tensor, Tensor, Tensor, Tensor"  # spikes, v, i, v_seq
GRADS_OUTPUTS = "(Tensor, Tensor, Tensor, Tensor)"  # of x, theta, v0, i0


def forward_fake(x, theta, v0, i0, kind, soft, detach, surrogate, consts, th_inner, v0_inner, record_v):
    """Shapes of a forward's ``(spikes [T, M], v [M], i [M] | [0], v_seq [T, M] | [0])`` (:data:`FORWARD_SCHEMA`)."""
    T, M = x.shape
    sdt = state_dtype(x.dtype)
    return (
        x.new_empty((T, M)),
        x.new_empty((M,), dtype=sdt),
        x.new_empty((M if kind == CUBA else 0,), dtype=sdt),
        x.new_empty((T, M) if record_v else (0,), dtype=sdt),
    )


def grads_fake(
    like: torch.Tensor, x_dtype: torch.dtype, T: int, M: int, th_mid: int, v0_mid: int, kind: int, needs: list[bool]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shapes of a backward's gradients ``(x [T, M], theta [th_mid], v0 [v0_mid], i0 [M])``, ``[0]`` where not needed.

    ``like``: a (fake) tensor on the op's device.
    """
    sdt = state_dtype(x_dtype)
    need_x, need_th, need_v0, need_i0 = needs
    return (
        like.new_empty((T, M) if need_x else (0,), dtype=x_dtype),
        like.new_empty((th_mid if need_th else 0,), dtype=sdt),
        like.new_empty((v0_mid if need_v0 else 0,), dtype=sdt),
        like.new_empty((M if need_i0 and kind == CUBA else 0,), dtype=sdt),
    )


def keep_config(ctx: Any, inputs: Sequence[Any]) -> None:
    """``setup_context``'s shared part: keep the forward's configuration and ``record_v`` on ``ctx``.

    ``ctx.config`` holds the configuration as keyword arguments for the backward op.
    """
    ctx.config = dict(zip(CONFIG_ARGS, inputs[4 : 4 + len(CONFIG_ARGS)], strict=True))
    ctx.record_v = inputs[4 + len(CONFIG_ARGS)]


def grad_outputs(
    ctx: Any, g_i: torch.Tensor | None, g_vseq: torch.Tensor | None
) -> tuple[torch.Tensor | None, torch.Tensor | None, list[bool]]:
    """The output gradients a backward op takes: ``g_i`` and ``g_vseq`` as ``None`` for the ``[0]`` placeholders,
    and which of ``x, theta, v0, i0`` need a gradient."""
    return (
        g_i if ctx.config["kind"] == CUBA else None,
        g_vseq if ctx.record_v else None,
        list(ctx.needs_input_grad[:4]),
    )


def grad_inputs(ctx: Any, grads: Sequence[torch.Tensor]) -> tuple[torch.Tensor | None, ...]:
    """The autograd formula's result from a backward op's four gradients: ``None`` for an input without one."""
    out = [g if need else None for g, need in zip(grads, ctx.needs_input_grad[:4], strict=True)]
    if ctx.config["kind"] != CUBA:
        out[3] = None
    return (*out, *([None] * (len(ctx.needs_input_grad) - 4)))
