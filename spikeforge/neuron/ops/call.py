"""What every fused backend does around its op: flatten the call, run it, shape the result.

A backend's forward op (:mod:`.neuron_op`) sees ``x`` as a contiguous ``[T, M]`` tensor
(``M = B * prod(features)``), parameters as ``[mid]`` vectors (:mod:`.params`) and returns
``spikes [T, M], v [M], i [M], v_seq [T, M]`` (``i`` for a kind with a synaptic current, ``v_seq``
with ``record_v``, else empty). The tensors take the kernels' names here (``theta``, ``v0``, ``i0``:
the table in :mod:`.spec`). :func:`fused_multistep` makes a backend's drop-in for
:func:`spikeforge.neuron.reference.multistep` from its forward op.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import torch

from .. import reference
from ..reference import Dynamics, NeuronOutput, state_dtype
from .params import ParamLayout, initial_current, param_layout
from .spec import KernelSpec, kernel_spec

__all__ = ["FlatCall", "flatten_call", "fused_multistep", "unflatten_result"]


@dataclasses.dataclass
class FlatCall:
    """One neuron call in kernel form.

    Attributes:
        x: ``[T, M]`` contiguous input.
        spec: the encoded dynamics.
        theta, v0: thresholds and initial membrane potentials (``values [mid]`` + layout).
        i0: the initial synaptic current ``[M]`` of a kind that has one, or ``None`` (zeros).
        state_dtype: float32 for half/bfloat16 inputs, else the input dtype.
    """

    x: torch.Tensor
    spec: KernelSpec
    theta: ParamLayout
    v0: ParamLayout
    i0: torch.Tensor | None
    state_dtype: torch.dtype

    def op_args(self, record_v: bool) -> tuple:
        """The forward op's arguments (``neuron_op.FORWARD_SCHEMA``), in schema order."""
        s = self.spec
        return (
            self.x,
            self.theta.values,
            self.v0.values,
            self.i0,
            s.kind,
            s.soft,
            s.detach,
            s.surrogate,
            s.consts,
            self.theta.inner,
            self.v0.inner,
            record_v,
        )

    def needs_grad(self) -> bool:
        """Whether autograd will ask this call for a gradient (grad mode on and a tensor that requires one)."""
        tensors = (self.x, self.theta.values, self.v0.values, self.i0)
        return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def flatten_call(
    x: torch.Tensor,
    dyn: Dynamics,
    v_threshold: float | torch.Tensor,
    imp: float | torch.Tensor,
    i_init: float | torch.Tensor | None,
    backend: str | None = None,
) -> FlatCall | None:
    """Kernel form of a :func:`~spikeforge.neuron.reference.multistep` call for ``backend`` (``None``: any fused
    backend the kind opted in to); ``None`` when ``x`` is empty."""
    if x.dim() < 2:
        raise ValueError(f"neuron input must be [T, B, ...], got shape {tuple(x.shape)}")
    spec = kernel_spec(dyn, backend)
    T, step = x.shape[0], x.shape[1:]
    M = math.prod(step)
    if T == 0 or M == 0:
        return None
    sdt = state_dtype(x.dtype)
    return FlatCall(
        x=x.contiguous().view(T, M),
        spec=spec,
        theta=param_layout(v_threshold, step, sdt, x.device),
        v0=param_layout(imp, step, sdt, x.device),
        i0=initial_current(i_init, step, sdt, x.device) if dyn.neuron_kind.has_current else None,
        state_dtype=sdt,
    )


def unflatten_result(outs: Sequence[torch.Tensor], x: torch.Tensor, dyn: Dynamics, record_v: bool) -> NeuronOutput:
    """Reshape a forward op's ``(spikes, v, i, v_seq, ...)`` to the shapes of ``x`` (``None`` for the empty ones)."""
    step = x.shape[1:]
    return NeuronOutput(
        spikes=outs[0].view(x.shape),
        v=outs[1].view(step),
        i=outs[2].view(step) if dyn.neuron_kind.has_current else None,
        v_seq=outs[3].view(x.shape) if record_v else None,
    )


def fused_multistep(
    backend: str,
    forward: Callable[..., Sequence[torch.Tensor]],
    accepts: Callable[[torch.Tensor], bool],
    why_not: Callable[[], str],
    pass_needs_grad: bool = False,
) -> Callable[..., NeuronOutput]:
    """A backend's :func:`~spikeforge.neuron.reference.multistep` (same arguments and result) running ``forward``.

    Args:
        backend: the backend's name, for the error below and the docstring.
        forward: the backend's forward op, called with :meth:`FlatCall.op_args`; returns
            ``(spikes, v, i, v_seq, ...)``.
        accepts: whether the backend runs an input ``x`` (its device and dtype); one it does
            not raises a ``ValueError`` that says what the backend needs (``why_not()``).
        why_not: what the backend needs.
        pass_needs_grad: the forward op takes one more argument, :meth:`FlatCall.needs_grad`
            (the Triton forward saves ``H`` for the backward only then).
    """

    # The signature of reference.multistep, deliberately: every backend is a drop-in for the reference.
    def multistep(
        x: torch.Tensor,
        dyn: Dynamics,
        v_threshold: float | torch.Tensor,
        imp: float | torch.Tensor,
        i_init: float | torch.Tensor | None = None,
        record_v: bool = False,
    ) -> NeuronOutput:
        if not accepts(x):
            raise ValueError(f"the {backend!r} neuron backend {why_not()}; got device={x.device.type}, dtype={x.dtype}")
        call = flatten_call(x, dyn, v_threshold, imp, i_init, backend)
        if call is None:  # nothing to compute; the reference defines the (degenerate) result
            return reference.multistep(x, dyn, v_threshold, imp, i_init, record_v)
        args = call.op_args(record_v)
        if pass_needs_grad:
            args += (call.needs_grad(),)
        return unflatten_result(forward(*args), x, dyn, record_v)

    multistep.__doc__ = (
        f":func:`spikeforge.neuron.reference.multistep` computed by the {backend!r} backend's fused kernels "
        "(same arguments and result)."
    )
    return multistep
