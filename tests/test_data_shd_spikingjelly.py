"""SHD ``split_by="time"``, ``duration=None`` against a hand computation and against SpikingJelly's own SHD code.

SpikingJelly's ``spikingjelly.datasets.shd`` imports torchvision at the top, which the test
environment does not install; the three integration functions are pure NumPy, so their source
is taken from the installed module with ``ast`` and run as they are.
"""

from __future__ import annotations

import ast
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from spikeforge.data import build_dataset
from spikeforge.data.events.frames import bin_spike_times, spikingjelly_shd_segments
from tests.test_data_writers import shd_h5

_SJ_FUNCTIONS = (
    "_cal_fixed_frames_number_segment_index",
    "_integrate_events_segment_to_frame",
    "_integrate_events_by_fixed_frames_number",
)


def _spikingjelly_shd():
    """SpikingJelly's SHD frame functions, executed from the installed source (skip when absent)."""
    spec = importlib.util.find_spec("spikingjelly")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("spikingjelly is not installed")
    path = f"{next(iter(spec.submodule_search_locations))}/datasets/shd.py"
    tree = ast.parse(Path(path).read_text())
    wanted = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in _SJ_FUNCTIONS]
    assert len(wanted) == len(_SJ_FUNCTIONS), f"{path} no longer defines {_SJ_FUNCTIONS}"
    namespace = {"np": np, "math": math}
    exec(compile(ast.Module(body=wanted, type_ignores=[]), path, "exec"), namespace)
    return namespace["_integrate_events_by_fixed_frames_number"]


def test_hand_computed_float_width_bins():
    # dt = 1.0 / 3 in float32 = 0.33333334; bin 2 starts at 0.6666667 > 0.666666, so the spike at
    # 0.666666 s is in bin 1 (an integer-microsecond split, dt = 333333 us, would put it in bin 2).
    times = np.array([0.0, 0.666666, 1.0], dtype=np.float32)
    units = np.array([5, 6, 7], dtype=np.int32)
    start, end = spikingjelly_shd_segments(times, 3)
    assert start.tolist() == [0, 1, 2] and end.tolist() == [1, 2, 3]
    frames = bin_spike_times(times, units, 3, 700, "time", None)
    expected = np.zeros((3, 700), np.float32)
    expected[0, 5] = expected[1, 6] = expected[2, 7] = 1
    np.testing.assert_array_equal(frames, expected)


def test_matches_spikingjelly_shd_on_60_samples(tmp_path):
    sj_integrate = _spikingjelly_shd()
    rng = np.random.default_rng(10)
    times, units = [], []
    for _ in range(60):
        n = int(rng.integers(3000, 6000))  # dense enough that SpikingJelly sees no empty bin at T=100
        start = rng.uniform(0.0, 0.1)
        times.append(np.sort(rng.uniform(start, start + rng.uniform(0.5, 1.4), n)).astype(np.float32))
        units.append(rng.integers(0, 700, n))
    shd_h5(tmp_path / "shd_train.h5", times, units, [i % 20 for i in range(60)])  # float32 times, as SHD stores
    for T in (20, 100):
        ds = build_dataset("shd", "train", root=str(tmp_path), T=T, duration=None)
        differs_from_integer_us = 0
        for i in range(60):
            reference = sj_integrate({"t": times[i], "x": units[i].astype(np.uint16)}, "time", T, 700)
            np.testing.assert_array_equal(ds[i][0].numpy(), reference.astype(np.float32), err_msg=f"T={T} sample {i}")
            t_us = np.round(times[i].astype(np.float64) * 1e6).astype(np.int64)
            dt = (int(t_us[-1]) - int(t_us[0])) // T
            bins = np.minimum((t_us - t_us[0]) // max(dt, 1), T - 1)
            integer_split = np.zeros((T, 700), np.float32)
            np.add.at(integer_split, (bins, units[i]), 1)
            differs_from_integer_us += not np.array_equal(integer_split, reference)
        assert differs_from_integer_us > 0  # the two semantics do differ on this data: the test can fail


def test_number_split_matches_spikingjelly_shd(tmp_path):
    sj_integrate = _spikingjelly_shd()
    rng = np.random.default_rng(11)
    times = [np.sort(rng.uniform(0, 1, n)).astype(np.float32) for n in (97, 250, 1001)]
    units = [rng.integers(0, 700, t.size) for t in times]
    shd_h5(tmp_path / "shd_train.h5", times, units, [0, 1, 2])
    ds = build_dataset("shd", "train", root=str(tmp_path), T=8, split_by="number")
    for i in range(3):
        reference = sj_integrate({"t": times[i], "x": units[i].astype(np.uint16)}, "number", 8, 700)
        np.testing.assert_array_equal(ds[i][0].numpy(), reference.astype(np.float32))
