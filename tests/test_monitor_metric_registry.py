"""Metrics by name: the registry, ``run.metrics`` in a config, the built-in ``step_rate`` metric against a
hand computation, and a metric registered from outside (one class in one module) logged by a training run."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import torch
from torch import nn

from spikeforge import IFNode
from spikeforge import records as R
from spikeforge.distributed import all_reduce_dict
from spikeforge.monitor.metric_step_rate import StepFiringRate
from spikeforge.monitor.metrics import METRICS, LayerMetric, attach, register_metric
from spikeforge.train.config import ConfigError, config_from_dict
from spikeforge.train.engine import train
from spikeforge.train.logger import read_metrics

TINY = {
    "name": "tiny",
    "seed": 0,
    "device": "cpu",
    "T": 2,
    "epochs": 1,
    "model": {"name": "spiking_mlp", "options": {"sizes": [64, 24, 10], "spiking_output": False}},
    "neuron": {"type": "if", "v_reset": None},
    "data": {"name": "digits", "batch_size": 32},
    "loss": {"name": "sdt"},
    "optim": {"name": "adam", "lr": 0.01},
    "schedule": {"name": "constant"},
    "run": {"monitor": True, "progress": False, "max_steps_per_epoch": 2, "plots": False, "threads": 1},
}


def test_step_rate_by_hand():
    node = IFNode(v_reset=None)
    metric = StepFiringRate()
    attach(node, [metric])
    # [T=3, B=2, N=2]: step 0 nobody fires (0.6 < 1), step 1 neurons with 1.2 in total, step 2 again
    x = torch.tensor([[[0.6, 0.1], [0.6, 0.1]]] * 3)
    node(x)
    # v: 0.6, 1.2 -> spike (soft reset 0.2), 0.8: only step 1 fires, 2 spikes of 4 neuron-samples
    assert metric.compute() == {"firing_rate_t0": 0.0, "firing_rate_t1": 0.5, "firing_rate_t2": 0.0}
    before = metric.compute()
    metric.load_state(all_reduce_dict(metric.state()))
    assert metric.compute() == before
    with pytest.raises(ValueError, match="T changed between calls"):
        node(x[:2])


def test_registry_lists_the_built_in_and_refuses_a_taken_name():
    assert "step_rate" in METRICS.names() and METRICS.get("step_rate") is StepFiringRate
    with pytest.raises(ValueError, match="metric 'step_rate' is already registered"):
        register_metric("step_rate")(StepFiringRate)
    with pytest.raises(TypeError, match="must be a LayerMetric subclass"):
        register_metric("not_a_metric")(dict)  # type: ignore[arg-type]


def test_config_checks_metric_names_and_needs_the_monitor():
    cfg = dict(TINY, run={**TINY["run"], "metrics": ["no_such_metric"]})
    with pytest.raises(
        ConfigError, match=r"run.metrics: unknown metric \['no_such_metric'\]; choose from \[.*'step_rate'"
    ):
        config_from_dict(cfg)
    cfg = dict(TINY, run={**TINY["run"], "monitor": False, "metrics": ["step_rate"]})
    with pytest.raises(ConfigError, match=r"run\.metrics needs run\.monitor: true"):
        config_from_dict(cfg)


class MaxMembraneInput(LayerMetric):
    """A metric written outside the library: the largest summed spike count of one sample, merged by max."""

    reductions: Mapping[str, str] = {"best": "max"}  # type: ignore[assignment]

    def reset(self) -> None:
        self.best: torch.Tensor | None = None

    def update(self, module: nn.Module, spikes: torch.Tensor) -> None:
        per_sample = spikes.detach().flatten(2).sum(dim=(0, 2), dtype=torch.float64).max()
        self.best = per_sample if self.best is None else torch.maximum(self.best, per_sample)

    @property
    def recorded(self) -> bool:
        return self.best is not None

    def state(self) -> dict[str, torch.Tensor]:
        return {"best": self.best if self.best is not None else torch.zeros((), dtype=torch.float64)}

    def load_state(self, state: Mapping[str, torch.Tensor]) -> None:
        self.best = state["best"].clone()

    def compute(self) -> dict[str, float]:
        return {} if self.best is None else {"max_sample_spikes": float(self.best)}


def test_run_logs_registered_metrics_by_name(tmp_path):
    register_metric("max_sample_spikes")(MaxMembraneInput)
    try:
        cfg = config_from_dict(dict(TINY, run={**TINY["run"], "metrics": ["step_rate", "max_sample_spikes"]}))
        train(cfg, run_dir=tmp_path / "run", verbose=False)
    finally:
        METRICS.remove("max_sample_spikes")
    last = read_metrics(tmp_path / "run")[-1]
    neuron_layers = {R.parse_monitor_key(k)[0] for k in last if R.parse_monitor_key(k) and k.endswith(R.FIRING_RATE)}
    layer = sorted(neuron_layers - {R.ALL_LAYERS})[0]
    for t in range(cfg.T):
        rate = last[R.monitor_key(layer, R.step_metric(R.FIRING_RATE, t))]
        assert 0.0 <= rate <= 1.0
    # the per-step rates average to the layer's firing rate (T fixed): the same spikes, counted twice
    mean_rate = sum(last[R.monitor_key(layer, R.step_metric(R.FIRING_RATE, t))] for t in range(cfg.T)) / cfg.T
    assert mean_rate == pytest.approx(last[R.monitor_key(layer, R.FIRING_RATE)], rel=1e-12)
    assert last[R.monitor_key(layer, "max_sample_spikes")] >= 0
