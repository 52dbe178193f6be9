"""The study's tasks (base configs) and budgets (how long each task trains, how many seeds).

A *task* is a base config (the mapping a YAML file would hold) for one dataset and network.
A *budget* says, per task, how many evaluation "epochs" a run has and how many optimiser
steps each of them holds (``run.max_steps_per_epoch``; ``None`` is a full pass over the
training set), plus optional overrides of the task's options. Every arm of a comparison
uses the same budget, so arms differ only in the factor under test.

Short "epochs" (a few steps each, the train set reshuffled every epoch) are used on purpose
in the quick budget: the test accuracy is then sampled often enough to measure convergence
speed on tasks that a small network learns within two real epochs.

Tasks:

* ``digits``: scikit-learn's 8x8 digits, ``digits_convnet`` (conv-BN-IF x2, avg-pool,
  linear), IF neurons with soft reset and ATan (the embedded default job's neuron).
* ``mnist1d``: MNIST-1D as a static 40-vector (:mod:`spikeforge.reproduce.data`), a dense
  IF SNN ``40-256-256-10`` with a linear readout. Harder than digits: a dense ANN reaches only
  about 60-70% on MNIST-1D, so this network is far from saturation on a CPU budget.
* ``event``: ``sim_event_digits`` frames (simulated event camera, ``split_by`` number),
  ``event_convnet`` (VGG-style conv-BN-LIF x2 with pooling), LIF tau 2 with soft reset.
* ``rouser_event``: a Rouser-style dense CUBA net (``spiking_mlp``, spiking output, spike-rate
  MSE loss, Adam) on binary ``sim_event_digits`` frames sum-pooled 2x2 (``578-128-128-10``).
* ``rouser_mnist1d``: the same CUBA neuron in a dense ``40-128-128-10`` net on static MNIST-1D,
  with a linear readout and the SDT loss: the spike-rate loss does not learn MNIST-1D within a
  CPU budget (about 13% after 120 steps when tried), so the readout is the one change made.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

from ..errors import UserError
from ..neuron.presets import neuron_preset
from .data import MNIST1D_STATIC

__all__ = ["BUDGETS", "TASKS", "Budget", "TaskBudget", "task_config"]

# IF with soft reset and ATan(alpha=2): the neuron of the embedded default job and of Shen et
# al.'s SEW-ResNet CIFAR configs (docs/methods.md A.1b). imp is set per arm.
IF_NEURON: dict[str, Any] = {"type": "if", "v_reset": None, "surrogate": {"name": "atan", "alpha": 2.0}}
# LIF tau 2, soft reset, ATan: the small conv nets' default (spikeforge.models.convnet).
LIF_NEURON: dict[str, Any] = {"type": "lif", "tau": 2.0, "v_reset": None, "surrogate": "atan"}
# Rouser Table II: the SLAYER CUBA neuron (spikeforge.neuron.presets, reset detached). The
# threshold is set per arm (fixed or learned).
CUBA_NEURON: dict[str, Any] = neuron_preset("slayer_cuba")

TASKS: dict[str, dict[str, Any]] = {
    "digits": {
        "T": 4,
        "model": {"name": "digits_convnet"},
        "neuron": IF_NEURON,
        "data": {"name": "digits", "batch_size": 64},
        "loss": {"name": "sdt"},
        "optim": {"name": "adamw", "lr": 0.005, "weight_decay": 0.01},
        "schedule": {"name": "cosine"},
    },
    "mnist1d": {
        "T": 4,
        "model": {
            "name": "spiking_mlp",
            "options": {"sizes": [40, 256, 256, 10], "spiking_output": False, "bias": True},
        },
        "neuron": IF_NEURON,
        "data": {"name": MNIST1D_STATIC, "batch_size": 64},
        "loss": {"name": "sdt"},
        "optim": {"name": "adamw", "lr": 0.002, "weight_decay": 0.01},
        "schedule": {"name": "cosine"},
    },
    "event": {
        "T": 8,
        "model": {"name": "event_convnet", "options": {"widths": [32, 64]}},
        "neuron": LIF_NEURON,
        "data": {"name": "sim_event_digits", "batch_size": 32, "options": {}},
        "loss": {"name": "tet"},
        "optim": {"name": "adamw", "lr": 0.005, "weight_decay": 0.01},
        "schedule": {"name": "cosine"},
    },
    "rouser_event": {
        "T": 16,
        "model": {"name": "spiking_mlp", "options": {"sizes": [578, 128, 128, 10], "input_pool": 2}},
        "neuron": CUBA_NEURON,
        "data": {"name": "sim_event_digits", "batch_size": 32, "options": {"binary": True}},
        "loss": {"name": "spike_rate"},
        # Rouser: Adam, lr_W 0.001; lr_Th 0.01 as in its Fig 6b ablation (Table II's 0.001 barely
        # moves a threshold within a CPU budget of a few hundred steps).
        "optim": {"name": "adam", "lr": 0.001, "weight_decay": 0.0, "neuron_lr": 0.01},
        "schedule": {"name": "constant"},
    },
    "rouser_mnist1d": {
        "T": 8,
        "model": {
            "name": "spiking_mlp",
            "options": {"sizes": [40, 128, 128, 10], "spiking_output": False, "bias": True},
        },
        "neuron": CUBA_NEURON,
        "data": {"name": MNIST1D_STATIC, "batch_size": 32},
        "loss": {"name": "sdt"},
        "optim": {"name": "adam", "lr": 0.002, "weight_decay": 0.0, "neuron_lr": 0.01},
        "schedule": {"name": "constant"},
    },
}


@dataclasses.dataclass(frozen=True)
class TaskBudget:
    """Training length of one task: ``epochs`` evaluations, ``steps`` optimiser steps per epoch
    (``None`` = a full pass), and ``overrides``: dotted config keys set on top of the task."""

    epochs: int
    steps: int | None = None
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Budget:
    """A study budget: seeds, per-task training length and the threshold-init grid of claim 5."""

    name: str
    seeds: tuple[int, ...]
    tasks: Mapping[str, TaskBudget]
    threshold_inits: tuple[float, ...]

    def with_seeds(self, n: int) -> Budget:
        """The same budget with seeds ``0..n-1``."""
        if n < 1:
            raise UserError(f"--seeds must be >= 1, got {n}")
        return dataclasses.replace(self, seeds=tuple(range(n)))


# 16x16 frames (area resize) and a narrower net (widths 16, 32): a quarter of the conv cost of the
# 34x34 frames, which a CPU study cannot afford for 20+ runs.
EVENT_SMALL: dict[str, Any] = {"data.options.size": 16, "model.options.widths": [16, 32]}

BUDGETS: dict[str, Budget] = {
    # Sized for < 15 minutes on an idle 2-core CPU (measured wall times are in docs/results.md).
    "quick": Budget(
        name="quick",
        seeds=(0, 1, 2),
        tasks={
            "digits": TaskBudget(epochs=8, steps=8),
            "mnist1d": TaskBudget(epochs=10, steps=25),
            "event": TaskBudget(epochs=6, steps=10, overrides=EVENT_SMALL),
            "rouser_event": TaskBudget(epochs=6, steps=15),
            "rouser_mnist1d": TaskBudget(epochs=6, steps=20),
        },
        threshold_inits=(0.25, 1.25, 4.0),
    ),
    # Full passes over the training sets and 5 seeds: about 1.5 h with --jobs 2 on a busy 2-core CPU.
    "full": Budget(
        name="full",
        seeds=(0, 1, 2, 3, 4),
        tasks={
            "digits": TaskBudget(epochs=12, steps=None),
            "mnist1d": TaskBudget(epochs=20, steps=None),
            "event": TaskBudget(epochs=8, steps=None, overrides=EVENT_SMALL),
            "rouser_event": TaskBudget(epochs=10, steps=None),
            "rouser_mnist1d": TaskBudget(epochs=12, steps=None),
        },
        threshold_inits=(0.25, 1.0, 1.25, 2.0, 4.0),
    ),
}


def _set(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = copy.deepcopy(value)


def task_config(task: str, budget: Budget, **changes: Any) -> dict[str, Any]:
    """The raw config of ``task`` under ``budget``, with ``changes`` (dotted keys) applied last.

    Example: ``task_config("digits", BUDGETS["quick"], T=2, seed=1, **{"neuron.imp": "learn"})``.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASKS)}")
    tb = budget.tasks[task]
    raw = copy.deepcopy(TASKS[task])
    raw["epochs"] = tb.epochs
    raw["device"] = "cpu"  # the study is sized and timed for a CPU; tiny nets gain nothing on a GPU
    raw["run"] = {
        "max_steps_per_epoch": tb.steps,
        "progress": False,
        "checkpoint": False,
        "monitor": False,
    }
    for key, value in tb.overrides.items():
        _set(raw, key, value)
    for key, value in changes.items():
        _set(raw, key, value)
    return raw
