"""What the training engine calls on its way through a run, and the run's context those calls see.

The engine (:mod:`.engine`) owns the loop; everything that only watches it (the monitors, a
user's per-epoch function) is a :class:`Callback`. The engine calls, in this order:

==============================  ==================================================================
``on_train_start(ctx)``         once, before the first epoch of this session (``ctx.start_epoch``
                                tells a fresh run from a resumed one)
``training_epoch(epoch)``       a context around each training epoch
``evaluation()``                a context around each evaluation pass
``on_epoch_end(epoch, record)`` every rank, before the record is logged: add entries (a collective
                                is allowed: every rank calls it)
``on_log(epoch, logger)``       the main rank, after the record is logged (e.g. TensorBoard)
``on_epoch_done(epoch, record)`` after the checkpoint is written and the epoch printed
==============================  ==================================================================

A callback with state to survive a resume names its checkpoint entry in ``checkpoint_key`` and
gives :meth:`Callback.state_dict` / :meth:`Callback.load_state_dict`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .. import distributed as D
from .. import records as R
from .builders import encode_batch
from .checkpoint import get_rng_state, set_rng_state
from .config import Config
from .evaluate import evaluate
from .logger import MetricsLogger
from .running_stats import calibrated

if TYPE_CHECKING:
    from ..data.registry import DatasetInfo
    from ..monitor.metrics import LayerMetric

__all__ = [
    "CALIBRATION_BATCHES",
    "Callback",
    "CallbackList",
    "EpochFunction",
    "MonitorCallback",
    "TrainContext",
    "build_callbacks",
]


@dataclasses.dataclass
class TrainContext:
    """Everything the epochs of one run use, built once by the engine.

    ``model`` is the user's model, ``net`` what trains (``model`` or its DDP wrapper).
    Inputs reach the model as ``encode_batch(x, encoder, cfg.T)``: ``[T, B, ...]``.
    """

    cfg: Config
    env: D.DistEnv
    device: torch.device
    info: DatasetInfo
    train_loader: Any
    test_loader: Any
    encoder: str
    model: nn.Module
    loss_fn: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    autocast: AbstractContextManager[Any]
    verbose: bool
    net: nn.Module = dataclasses.field(init=False)
    start_epoch: int = 0

    def __post_init__(self) -> None:
        self.net = self.model

    def evaluate(self, model: nn.Module | None = None) -> dict[str, Any]:
        """:func:`.evaluate.evaluate` of ``model`` (default the run's model) on the test set."""
        return evaluate(
            self.model if model is None else model,
            self.test_loader,
            self.loss_fn,
            self.encoder,
            self.cfg.T,
            self.device,
            self.autocast,
        )


class Callback:
    """A watcher of the training loop; every hook does nothing unless a subclass says otherwise."""

    #: the checkpoint entry holding :meth:`state_dict` (``None``: nothing to keep across a resume)
    checkpoint_key: str | None = None

    def on_train_start(self, ctx: TrainContext) -> None:
        """Before the first epoch of this session."""

    def training_epoch(self, epoch: int) -> AbstractContextManager[Any]:
        """A context around training epoch ``epoch`` (0-based)."""
        return contextlib.nullcontext()

    def evaluation(self) -> AbstractContextManager[Any]:
        """A context around an evaluation pass."""
        return contextlib.nullcontext()

    def on_epoch_end(self, epoch: int, record: dict[str, Any]) -> None:
        """Every rank, before ``record`` is logged: add entries to it."""

    def on_log(self, epoch: int, logger: MetricsLogger) -> None:
        """The main rank, after ``record`` is logged."""

    def on_epoch_done(self, epoch: int, record: dict[str, Any]) -> None:
        """After the epoch's checkpoint is written and its summary printed."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class CallbackList(Callback):
    """Many callbacks called as one, in order (contexts nested in order)."""

    def __init__(self, callbacks: Sequence[Callback] = ()) -> None:
        self.callbacks = list(callbacks)

    def on_train_start(self, ctx: TrainContext) -> None:
        for cb in self.callbacks:
            cb.on_train_start(ctx)

    @contextlib.contextmanager
    def _all(self, contexts: Callable[[Callback], AbstractContextManager[Any]]) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for cb in self.callbacks:
                stack.enter_context(contexts(cb))
            yield

    def training_epoch(self, epoch: int) -> AbstractContextManager[Any]:
        return self._all(lambda cb: cb.training_epoch(epoch))

    def evaluation(self) -> AbstractContextManager[Any]:
        return self._all(lambda cb: cb.evaluation())

    def on_epoch_end(self, epoch: int, record: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, record)

    def on_log(self, epoch: int, logger: MetricsLogger) -> None:
        for cb in self.callbacks:
            cb.on_log(epoch, logger)

    def on_epoch_done(self, epoch: int, record: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_epoch_done(epoch, record)

    def state_dict(self) -> dict[str, Any]:
        """``{checkpoint_key: state}`` of every callback that keeps state (entries of the checkpoint)."""
        return {cb.checkpoint_key: cb.state_dict() for cb in self.callbacks if cb.checkpoint_key is not None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore each callback from its entry of ``state`` (a checkpoint); an absent entry is skipped."""
        for cb in self.callbacks:
            if cb.checkpoint_key is not None and cb.checkpoint_key in state:
                cb.load_state_dict(state[cb.checkpoint_key])


class EpochFunction(Callback):
    """A function ``f(epoch, record)`` called after every epoch (epoch 0-based), as ``train(callbacks=...)`` takes."""

    def __init__(self, fn: Callable[[int, dict[str, Any]], None]) -> None:
        self.fn = fn

    def on_epoch_done(self, epoch: int, record: dict[str, Any]) -> None:
        self.fn(epoch, record)


#: test batches whose statistics the fresh batch norms get for the monitor's epoch-0 measurement
CALIBRATION_BATCHES = 20


def _model_inputs(ctx: TrainContext, limit: int) -> Iterator[torch.Tensor]:
    """The model inputs ``[T, B, ...]`` of the first ``limit`` test batches, one at a time."""
    for i, (x, _) in enumerate(ctx.test_loader):
        if i >= limit:
            return
        yield encode_batch(x.to(ctx.device, non_blocking=True), ctx.encoder, ctx.cfg.T)


class MonitorCallback(Callback):
    """``run.monitor: true``: a :class:`~spikeforge.monitor.training.TrainingMonitor` driven by the engine.

    Logs ``monitor/<layer>/<metric>`` every epoch and, in a fresh run, the untrained model's
    test-set activity as ``init_<metric>`` in the first record (Rouser's Fig 4 starts there).
    Its weight tracker's ``W_0`` travels in the checkpoint entry ``monitor``.
    """

    checkpoint_key = "monitor"

    def __init__(
        self, model: nn.Module, record_v: bool = False, metrics: Sequence[Callable[[], LayerMetric]] = ()
    ) -> None:
        from ..monitor.training import TrainingMonitor

        # built before a resume loads the weights: the weight tracker's W_0 is the initialisation
        self.monitor = TrainingMonitor(model, record_v=record_v, metrics=metrics)
        self._initial: dict[str, Any] = {}

    def on_train_start(self, ctx: TrainContext) -> None:
        if ctx.start_epoch != 0:
            return
        # epoch 0: the untrained model's activity (dead neurons before training, Rouser Fig 4); the
        # RNG is restored so that a monitored run trains exactly as an unmonitored one
        rng = get_rng_state()
        # batch norms with statistics of the data, not their initial (0, 1) (train/running_stats.py)
        # (in full precision: statistics only)
        with calibrated(ctx.model, _model_inputs(ctx, CALIBRATION_BATCHES)):
            measured = self.monitor.initial(ctx.evaluate)
        self._initial = {R.MONITOR_PREFIX + k: v for k, v in measured.items()}
        set_rng_state(rng)

    def training_epoch(self, epoch: int) -> AbstractContextManager[Any]:
        return self.monitor.train_epoch()

    def evaluation(self) -> AbstractContextManager[Any]:
        return self.monitor.evaluation()

    def on_epoch_end(self, epoch: int, record: dict[str, Any]) -> None:
        record.update({R.MONITOR_PREFIX + k: v for k, v in self.monitor.compute().items()})  # a collective
        record.update(self._initial)  # the first record only
        self._initial = {}

    def on_log(self, epoch: int, logger: MetricsLogger) -> None:
        logger.add_histograms(self._write_histograms, epoch + 1)

    def _write_histograms(self, writer: Any, step: int) -> None:
        self.monitor.write_histograms(writer, step)

    def state_dict(self) -> dict[str, Any]:
        return self.monitor.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.monitor.load_state_dict(state)


def build_callbacks(
    cfg: Config, model: nn.Module, functions: Sequence[Callable[[int, dict[str, Any]], None]] = ()
) -> CallbackList:
    """The run's callbacks: the monitor when ``run.monitor`` is on, then the user's per-epoch functions."""
    callbacks: list[Callback] = []
    if cfg.run.monitor:
        from ..monitor.metrics import METRICS

        metrics = [METRICS.get(name) for name in cfg.run.metrics]
        callbacks.append(MonitorCallback(model, record_v=cfg.run.monitor_membrane, metrics=metrics))
    callbacks += [EpochFunction(fn) for fn in functions]
    return CallbackList(callbacks)
