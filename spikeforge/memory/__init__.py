"""Training memory: spike-compressed saved activations and exact recomputation (see docs/memory.md)."""

from .modes import MODES, MemoryPlan, apply_plan, blocks, memory_plan, remove_plan

__all__ = ["MODES", "MemoryPlan", "apply_plan", "blocks", "memory_plan", "remove_plan"]
