"""Defining SpikeForge's custom ops (``torch.ops.spikeforge.*``) with ``torch.library``.

Each fused kernel pass is one op with a schema, a device implementation, a fake
(shape-only) implementation for ``torch.compile`` / ``torch.export``, and, for forward
passes, a registered autograd formula. The ops are defined with ``torch.library.Library``
rather than the ``torch.library.custom_op`` decorator because the decorator wraps every
implementation in a dynamo guard whose first call imports ``torch._dynamo`` (2-3 s at a
training run's first step, for nothing when nothing is compiled).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["define"]

# kept alive for the whole process: it owns the definitions
_LIB = torch.library.Library("spikeforge", "FRAGMENT")


def define(
    name: str,
    schema: str,
    impl: Callable,
    fake: Callable,
    dispatch_key: str = "CompositeExplicitAutograd",
    backward: Callable | None = None,
    setup_context: Callable | None = None,
) -> torch._ops.OpOverload:
    """Define ``spikeforge::name(schema)`` and return its default overload.

    ``impl`` runs for real tensors under ``dispatch_key`` (``"CPU"``, or
    ``"CompositeExplicitAutograd"`` for any device), ``fake`` for meta/fake tensors;
    ``backward`` / ``setup_context`` follow ``torch.library.register_autograd``.
    """
    _LIB.define(f"{name}{schema}")
    _LIB.impl(name, impl, dispatch_key)
    qualname = f"spikeforge::{name}"
    torch.library.register_fake(qualname, fake, lib=_LIB)
    if backward is not None:
        torch.library.register_autograd(qualname, backward, setup_context=setup_context, lib=_LIB)
    return getattr(torch.ops.spikeforge, name).default
