"""Every key a run's records use, named once: what the engine and the monitors write, what readers read.

A record is one epoch's line of ``metrics.jsonl`` (:mod:`spikeforge.train.runfolder` writes and
reads it). Its keys: ``epoch``, ``lr``, ``time_s``, ``train/loss``, ``train/acc``,
``train/samples_per_s``, ``test/loss``, ``test/acc``, ``test/acc_step`` (list over time steps),
``test/acc_cum`` and the monitor's ``monitor/<layer>/<metric>`` (:func:`monitor_key`,
:func:`parse_monitor_key`; a layer name may contain dots, never the metric). The layer ``all``
holds the network's totals; the first record also holds ``init_<metric>``, the untrained
model's values (:func:`initial_metric`).

This module sits below both the engine (``spikeforge.train``) and the monitors
(``spikeforge.monitor``) and imports nothing from either: each imports the names from here.
"""

from __future__ import annotations

__all__ = [
    "ALL_LAYERS",
    "DEAD_FRACTION",
    "DEAD_FRACTION_BATCH",
    "DEAD_FRACTION_SAMPLE",
    "EPOCH",
    "FIRING_RATE",
    "IMP_PREFIX",
    "INIT_PREFIX",
    "LR",
    "MONITOR_PREFIX",
    "NUM_DEAD",
    "NUM_NEURONS",
    "RESULT_ACC_CUMULATIVE",
    "RESULT_ACC_PER_STEP",
    "RESULT_BEST_ACC",
    "RESULT_DIVERGED",
    "RESULT_SECONDS",
    "RESULT_TEST_ACC",
    "SATURATED_FRACTION_SAMPLE",
    "STAT_FIELDS",
    "TEST_ACC",
    "TEST_ACC_CUM",
    "TEST_ACC_STEP",
    "TEST_LOSS",
    "THRESHOLD_MEAN",
    "THRESHOLD_PREFIX",
    "TIME_S",
    "TRAIN_ACC",
    "TRAIN_DEAD_FRACTION",
    "TRAIN_DEAD_FRACTION_SAMPLE",
    "TRAIN_FIRING_RATE",
    "TRAIN_LOSS",
    "TRAIN_SAMPLES_PER_S",
    "V_PREFIX",
    "WEIGHT_CHANGE",
    "WEIGHT_DELTA_NORM",
    "initial_metric",
    "is_monitor_key",
    "monitor_key",
    "parse_monitor_key",
    "stat_metric",
    "step_metric",
]

# ----------------------------------------------------------------------------- an epoch's record
EPOCH = "epoch"  # 1-based in records (checkpoints store the 0-based epoch they finished)
LR = "lr"
TIME_S = "time_s"
TRAIN_LOSS = "train/loss"
TRAIN_ACC = "train/acc"
TRAIN_SAMPLES_PER_S = "train/samples_per_s"
TEST_LOSS = "test/loss"
TEST_ACC = "test/acc"
TEST_ACC_STEP = "test/acc_step"
TEST_ACC_CUM = "test/acc_cum"
MONITOR_PREFIX = "monitor/"

# ----------------------------------------------------------------------------- result.json keys
# The fields of ``train.engine.RunResult`` (less ``history``; tests/test_train_runfolder.py pins the match),
# plus what a sweep writes for a run that diverged.
RESULT_TEST_ACC = "test_acc"  # accuracy of the last evaluated epoch
RESULT_BEST_ACC = "best_acc"  # best accuracy of any evaluated epoch
RESULT_ACC_PER_STEP = "acc_per_step"  # last evaluation, read out at each time step alone
RESULT_ACC_CUMULATIVE = "acc_cumulative"  # last evaluation, mean output of steps 1..t
RESULT_SECONDS = "seconds"  # wall time of the run
RESULT_DIVERGED = "diverged"  # true when training stopped on a non-finite loss (sweeps only)

# ----------------------------------------------------------------------------- the monitor's <layer>/<metric>
ALL_LAYERS = "all"  # the layer name of the monitor's network-wide totals
INIT_PREFIX = "init_"  # first record only: the untrained model's value, ``monitor/<layer>/init_<metric>``
# evaluation pass (spikeforge.monitor.activity)
FIRING_RATE = "firing_rate"  # spikes / (neurons * T * samples), test set
DEAD_FRACTION = "dead_fraction"  # neurons silent for every test sample
DEAD_FRACTION_SAMPLE = "dead_fraction_sample"  # mean over test samples of the silent fraction (Rouser)
DEAD_FRACTION_BATCH = "dead_fraction_batch"  # mean over test batches of the fraction silent for the batch
SATURATED_FRACTION_SAMPLE = "saturated_fraction_sample"  # mean over test samples of the fraction firing every step
NUM_DEAD = "num_dead"  # neurons silent for every test sample (a count)
NUM_NEURONS = "num_neurons"  # neurons of one sample's feature map
# ``<prefix>_<field>``: statistics of the membrane potential, the learned IMP and the learned threshold
V_PREFIX = "v"
IMP_PREFIX = "imp"
THRESHOLD_PREFIX = "threshold"
STAT_FIELDS = ("mean", "std", "min", "max")
# training batches (spikeforge.monitor.training)
TRAIN_DEAD_FRACTION = "train_dead_fraction"  # mean over training batches of the silent fraction
TRAIN_DEAD_FRACTION_SAMPLE = "train_dead_fraction_sample"  # mean over training samples of the silent fraction
TRAIN_FIRING_RATE = "train_firing_rate"  # spikes / spike slots of the training batches
# weight layers (spikeforge.monitor.activity.WeightChangeTracker)
WEIGHT_CHANGE = "weight_change"  # ||W - W0|| / ||W0|| of a weight layer
WEIGHT_DELTA_NORM = "weight_delta_norm"  # ||W - W0||


def stat_metric(prefix: str, field: str) -> str:
    """``<prefix>_<field>``, e.g. ``v_mean``, ``imp_std``, ``threshold_max`` (``field`` from :data:`STAT_FIELDS`)."""
    return f"{prefix}_{field}"


def step_metric(metric: str, t: int) -> str:
    """``<metric>_t<t>``: a metric at time step ``t`` (0-based), e.g. ``firing_rate_t0``."""
    return f"{metric}_t{t}"


THRESHOLD_MEAN = stat_metric(THRESHOLD_PREFIX, "mean")  # mean (learned) threshold of a layer


def monitor_key(layer: str, metric: str) -> str:
    """The record key of a monitored ``metric`` of ``layer``: ``monitor/<layer>/<metric>``."""
    if "/" in metric:
        raise ValueError(f"a monitor metric name cannot contain '/': {metric!r}")
    return f"{MONITOR_PREFIX}{layer}/{metric}"


def initial_metric(metric: str) -> str:
    """The name under which the untrained model's value of ``metric`` is logged: ``init_<metric>``."""
    return INIT_PREFIX + metric


def is_monitor_key(key: str) -> bool:
    return key.startswith(MONITOR_PREFIX)


def parse_monitor_key(key: str) -> tuple[str, str] | None:
    """``(layer, metric)`` of a ``monitor/<layer>/<metric>`` key, else ``None``."""
    if not is_monitor_key(key):
        return None
    layer, sep, metric = key[len(MONITOR_PREFIX) :].rpartition("/")
    return (layer, metric) if sep and layer and metric else None
