"""Fused multi-step neuron backends, registered with :mod:`spikeforge.neuron.backends`.

* ``"cpu"``: C++/OpenMP kernels compiled with the system C++ compiler at first use and
  cached (:mod:`.cpu_build`); one fused forward and one fused backward over all ``T``.
* ``"triton"``: Triton kernels for CUDA tensors (needs ``pip install triton``).

``backend="auto"`` picks ``"triton"`` for CUDA tensors and ``"cpu"`` for CPU tensors when
the kernel library builds, else the ``"torch"`` reference, silently; a backend named
explicitly raises a ``ValueError`` saying what it needs (and, for ``"cpu"``, why the build
failed). Both reproduce :func:`spikeforge.neuron.reference.multistep` exactly: identical
spikes and states, gradients equal to rounding.
"""

from ..backends import Backend, register_backend
from . import cpu, triton_backend
from .cpu_pool import empty_cache

__all__ = ["cpu", "empty_cache", "triton_backend"]

register_backend(Backend("cpu", cpu.multistep, cpu.supports, cpu.why_not), auto_priority=0)
register_backend(
    Backend("triton", triton_backend.multistep, triton_backend.supports, triton_backend.why_not), auto_priority=0
)
