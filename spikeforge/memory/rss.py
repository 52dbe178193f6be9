"""The measured side of the planner: peak resident memory of one CPU training step.

Run as ``python -m spikeforge.memory.rss CONFIG BATCH MODE`` (a fresh process, so that nothing
before the step sets the peak). It builds the config's model, runs one warm-up step (the
optimiser's state, the kernels' buffer pools), returns freed memory to the system, resets the
kernel's peak counter (``/proc/self/clear_refs``), runs a second step and prints, as JSON, the
step's peak above the memory held before it and the planner's estimate of the same quantity
(saved activations + transient of the batch, and the gradients).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import sys
from pathlib import Path
from typing import Any

import torch

from .modes import apply_plan

__all__ = ["step_peak"]


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _trim() -> None:
    # not glibc: freed memory may stay resident, and the measurement is then an upper bound
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def step_peak(config: str, batch: int, mode: str, overrides: list[str] | None = None) -> dict[str, Any]:
    """Peak bytes of one training step of ``config`` at ``batch`` under memory ``mode``, and the estimate."""
    from .planner import build_for_planning, estimate

    cfg, model, sample, loss_fn = build_for_planning(config, batch, overrides)
    modes = ("none",) if mode == "none" else ("none", mode)
    est = estimate(model, sample, optimizer=cfg.optim.name, momentum=cfg.optim.momentum, modes=modes)
    apply_plan(model, mode, est.auto_recomputed)  # auto: the blocks the estimate measured
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    target = torch.zeros(batch, dtype=torch.long)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(sample), target).backward()
        optimizer.step()

    model.train()
    step()
    optimizer.zero_grad(set_to_none=True)
    _trim()
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from the current RSS
    before = _status("VmRSS")
    step()
    peak = _status("VmHWM") - before
    estimated = est.per_step[mode] + batch * est.peak_per_sample(mode) + est.grad_bytes
    return {"batch": batch, "mode": mode, "measured": peak, "estimated": estimated}


if __name__ == "__main__":
    print(json.dumps(step_peak(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:])))
