"""Measuring what a training step keeps: saved-activation bytes per block, and block and step times.

Bytes are those autograd keeps for the backward, each storage counted once (through
``saved_tensors_hooks``, after any packing of the memory mode on the model); they do not depend on
the device. Measurements leave the model as they found it: weights, batch-norm statistics, neuron
records, gradients and the random number generators are put back.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from ..neuron.nodes import is_neuron
from .modes import blocks, memory_plan
from .spikes import SavedSpikes, SpikeMarks

__all__ = ["SavedBytes", "preserved", "saved_bytes", "time_step"]

OTHER = "<other>"


@dataclass
class SavedBytes:
    """Saved-activation bytes of one forward: ``total`` and per block (``<other>``: outside every block)."""

    total: int = 0
    per_block: dict[str, int] = field(default_factory=dict)


@contextlib.contextmanager
def preserved(model: nn.Module) -> Iterator[None]:
    """Inside, ``model`` may be run and trained; on exit its state, gradients, traces, mode and the RNGs are back."""
    state = copy.deepcopy(model.state_dict())
    grads = {n: (None if p.grad is None else p.grad.clone()) for n, p in model.named_parameters()}
    neurons = [m for m in model.modules() if is_neuron(m)]
    traces = [m.v_seq for m in neurons]
    rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    training = model.training
    try:
        yield
    finally:
        model.load_state_dict(state)
        for n, p in model.named_parameters():
            p.grad = grads[n]
        for m, v_seq in zip(neurons, traces, strict=True):
            m.v_seq = v_seq
        torch.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        model.train(training)


def _block_stack(model: nn.Module) -> tuple[list[str], list]:
    stack: list[str] = []
    handles = []
    for name, m in blocks(model):
        handles.append(m.register_forward_pre_hook(lambda mod, args, n=name: stack.append(n)))
        handles.append(m.register_forward_hook(lambda mod, args, out: stack.pop() and None, always_call=True))
    return stack, handles


def saved_bytes(model: nn.Module, x: torch.Tensor) -> SavedBytes:
    """Bytes one training forward of ``model`` on ``x`` saves for the backward, under the model's memory mode
    (activations only: the model's own parameters and buffers, which layers save too, are not counted)."""
    result = SavedBytes()
    # Parameters and buffers that layers save (a convolution keeps its weight) are the model's, not activations.
    seen: set[int] = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    stack, handles = _block_stack(model)

    def meter(t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        if storage.data_ptr() in seen:
            return
        seen.add(storage.data_ptr())
        where = stack[-1] if stack else OTHER
        result.per_block[where] = result.per_block.get(where, 0) + storage.nbytes()
        result.total += storage.nbytes()

    plan = memory_plan(model)
    keep: list[torch.Tensor] = []  # the saved tensors stay alive until counted (no address reused meanwhile)
    try:
        with preserved(model), torch.enable_grad():
            model.train()
            if plan is not None and plan._session is not None:
                plan._session.meter = meter
                keep.append(model(x))
            else:
                with SavedSpikes(SpikeMarks(), compress=False, meter=meter):
                    keep.append(model(x))
    finally:
        if plan is not None and plan._session is not None:
            plan._session.meter = None
        for h in handles:
            h.remove()
    return result


def _backward(out: torch.Tensor) -> None:
    out.float().mean().backward()


class _BlockTimer:
    """Forward seconds per block while attached (summed over the block's calls)."""

    def __init__(self, model: nn.Module) -> None:
        self.seconds: dict[str, float] = {}
        self._starts: dict[str, float] = {}
        self._handles = []
        for name, m in blocks(model):
            self.seconds[name] = 0.0
            self._handles.append(m.register_forward_pre_hook(self._start(name)))
            self._handles.append(m.register_forward_hook(self._stop(name), always_call=True))

    def _start(self, name: str):
        def hook(module: nn.Module, args: tuple) -> None:
            self._starts[name] = time.perf_counter()

        return hook

    def _stop(self, name: str):
        def hook(module: nn.Module, args: tuple, out: object) -> None:
            self.seconds[name] += time.perf_counter() - self._starts.pop(name)

        return hook

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def time_step(model: nn.Module, x: torch.Tensor, repeats: int = 2) -> tuple[float, dict[str, float]]:
    """Fastest of ``repeats`` training steps (forward + backward) in seconds, and each block's forward time in it."""
    best = float("inf")
    best_blocks: dict[str, float] = {}
    with preserved(model):
        model.train()
        for _ in range(repeats):
            timer = _BlockTimer(model)
            try:
                t0 = time.perf_counter()
                _backward(model(x))
                elapsed = time.perf_counter() - t0
            finally:
                timer.remove()
            model.zero_grad(set_to_none=True)
            if elapsed < best:
                best, best_blocks = elapsed, timer.seconds
    return best, best_blocks
