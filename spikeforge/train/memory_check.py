"""The planner's configs: a config's model and a sample input to plan with, and the measured side of the
planner, the peak resident memory of one CPU training step.

It lives with the trainer, not in :mod:`spikeforge.memory`, because it reads configs: the memory modes
below know modules and tensors only.

Run as ``python -m spikeforge.train.memory_check CONFIG BATCH MODE`` (a fresh process, so that nothing
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

from ..memory.modes import apply_plan
from ..memory.planner import estimate
from ..neuron import materialize

__all__ = ["build_for_planning", "step_peak"]


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


def build_for_planning(config: str, batch: int, overrides: list[str] | None = None) -> tuple[Any, Any, Any, Any]:
    """The config, its model (CPU, materialised), a random model input ``[T, batch, ...]`` of the dataset's
    shape, and its loss."""
    import torch

    from ..data.registry import dataset_info
    from ..models.registry import model_info
    from ..train.builders import build_loss_from_config, build_model_from_config, encode_batch, encoder_name
    from ..train.config import load_config

    cfg = load_config(config, overrides or [])
    info = dataset_info(cfg.data.name)
    model = build_model_from_config(cfg, info.num_classes)
    shape = list(model_info(cfg.model.name).input_shape)
    if "in_channels" in cfg.model.options:
        shape[0] = int(cfg.model.options["in_channels"])
    torch.manual_seed(0)
    encoder = encoder_name(cfg, info)
    if encoder == "sequence":
        sample = (torch.rand(cfg.T, batch, *shape) > 0.8).float()  # event frames
    else:
        sample = encode_batch(torch.rand(batch, *shape), encoder, cfg.T)
    materialize(model, sample[:, :1])  # lazily shaped neuron parameters exist before any measurement
    return cfg, model, sample, build_loss_from_config(cfg)


if __name__ == "__main__":
    print(json.dumps(step_peak(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:])))
