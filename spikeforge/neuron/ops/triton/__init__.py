"""The fused Triton (CUDA) backend: custom ops (:mod:`.op`) over the kernels of :mod:`.kernels`."""
