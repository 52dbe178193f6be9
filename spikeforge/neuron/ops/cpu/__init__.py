"""The fused CPU backend: custom ops (:mod:`.op`), the kernel build (:mod:`.build`), the output pool (:mod:`.pool`)."""
