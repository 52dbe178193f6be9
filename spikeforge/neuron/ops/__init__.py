"""Fused multi-step neuron backends, registered with :mod:`spikeforge.neuron.backends`.

* ``"cpu"`` (:mod:`.cpu`): C++/OpenMP kernels (``cpu/csrc``) compiled with the system C++
  compiler once per machine and cached (:mod:`.cpu.build`); one fused forward and one
  fused backward over all ``T``.
* ``"triton"`` (:mod:`.triton`): Triton kernels for CUDA tensors (needs ``pip install triton``).

Both are ``torch.library`` custom ops (``spikeforge::cpu_neuron_forward`` ...) with fake
implementations and registered autograd, so ``torch.compile`` sees one op per neuron layer
and ``torch.export`` records it. ``backend="auto"`` (every node's default) picks
``"triton"`` for CUDA tensors and ``"cpu"`` for CPU tensors when the kernel library
builds, else the ``"torch"`` reference; a backend named explicitly raises a ``ValueError``
saying what it needs (and, for ``"cpu"``, why the build failed). Both reproduce
:func:`spikeforge.neuron.reference.multistep` exactly: identical spikes and states,
gradients equal to rounding.
"""

from ..backends import Backend, register_backend
from .cpu import op as _cpu_op
from .cpu.pool import empty_cache
from .triton import op as _triton_op

__all__ = ["empty_cache"]

register_backend(Backend("cpu", _cpu_op.multistep, _cpu_op.supports, _cpu_op.why_not), auto_priority=0)
register_backend(Backend("triton", _triton_op.multistep, _triton_op.supports, _triton_op.why_not), auto_priority=0)
