"""Events -> frames against hand computations (SpikingJelly's split_by semantics), SHD binning, resizing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeforge.data.events import Events
from spikeforge.data.events.frames import bin_spike_times, events_to_frames, resize_frames, segment_bounds


def ev(t, x, y, p):
    return Events(np.array(t, np.int64), np.array(x, np.int32), np.array(y, np.int32), np.array(p, np.uint8))


# 7 events on a 2x3 sensor (H=2, W=3)
E = ev(t=[0, 10, 20, 35, 50, 60, 90], x=[0, 2, 0, 1, 1, 2, 2], y=[0, 1, 0, 0, 1, 1, 1], p=[1, 0, 1, 0, 1, 1, 0])


def frame(entries):
    """A [2, 2, 3] frame from {(p, y, x): count}."""
    f = np.zeros((2, 2, 3), np.float32)
    for (p, y, x), c in entries.items():
        f[p, y, x] = c
    return f


def test_split_by_number_hand_computed():
    # N = 7, T = 3: N // T = 2 -> events [0, 2), [2, 4), [4, 7)
    got = events_to_frames(E, 3, "number", 2, 3)
    expected = np.stack(
        [
            frame({(1, 0, 0): 1, (0, 1, 2): 1}),
            frame({(1, 0, 0): 1, (0, 0, 1): 1}),
            frame({(1, 1, 1): 1, (1, 1, 2): 1, (0, 1, 2): 1}),
        ]
    )
    assert got.shape == (3, 2, 2, 3) and got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


def test_split_by_time_hand_computed():
    # dt = (90 - 0) // 3 = 30: [0, 30) -> t 0, 10, 20; [30, 60) -> 35, 50; [60, end] -> 60, 90
    got = events_to_frames(E, 3, "time", 2, 3)
    expected = np.stack(
        [
            frame({(1, 0, 0): 2, (0, 1, 2): 1}),
            frame({(0, 0, 1): 1, (1, 1, 1): 1}),
            frame({(1, 1, 2): 1, (0, 1, 2): 1}),
        ]
    )
    np.testing.assert_array_equal(got, expected)


def test_time_split_floors_dt_and_gives_the_remainder_to_the_last_frame():
    # t span 10, T = 4 -> dt = 2: starts at 0, 2, 4, 6; the last frame takes t >= 6 (6..10)
    t = np.array([0, 1, 2, 3, 5, 6, 7, 9, 10])
    assert segment_bounds(t, 4, "time").tolist() == [0, 2, 4, 5, 9]
    # count split: 9 // 4 = 2 per frame, remainder 1 goes to the last
    assert segment_bounds(t, 4, "number").tolist() == [0, 2, 4, 6, 9]


def test_empty_segments_are_zero_frames():
    e = ev(t=[0, 0, 0, 100], x=[0, 0, 0, 1], y=[0, 0, 0, 0], p=[1, 1, 1, 0])
    f = events_to_frames(e, 4, "time", 1, 2)  # dt = 25: [0, 25) has 3, then two empty, then 1
    assert f.sum(axis=(1, 2, 3)).tolist() == [3, 0, 0, 1]
    g = events_to_frames(ev([5, 6], [0, 1], [0, 0], [0, 1]), 3, "number", 1, 2)  # N < T: N // T = 0
    assert g.sum(axis=(1, 2, 3)).tolist() == [0, 0, 2]
    assert events_to_frames(Events.empty(), 2, "time", 1, 2).sum() == 0


def test_every_event_is_counted_once():
    rng = np.random.default_rng(0)
    n = 5000
    e = ev(np.sort(rng.integers(0, 10**6, n)), rng.integers(0, 34, n), rng.integers(0, 34, n), rng.integers(0, 2, n))
    for split_by in ("number", "time"):
        f = events_to_frames(e, 7, split_by, 34, 34)
        assert f.sum() == n
        np.testing.assert_array_equal(
            f.sum(axis=0)[1], np.bincount(e.y[e.p == 1] * 34 + e.x[e.p == 1], minlength=34 * 34).reshape(34, 34)
        )


def test_bad_split_arguments():
    with pytest.raises(ValueError, match="split_by"):
        segment_bounds(np.arange(3), 2, "count")
    with pytest.raises(ValueError, match="T must be"):
        segment_bounds(np.arange(3), 0, "time")


def test_shd_binning_fixed_window_hand_computed():
    times = np.array([0.0, 0.1, 0.34, 0.35, 1.39, 1.4, 2.0])
    units = np.array([0, 1, 1, 699, 5, 5, 5])
    # duration 1.4 s, T = 4 -> bins of 0.35 s; t >= 1.4 dropped
    got = bin_spike_times(times, units, 4, 700, "time", 1.4)
    expected = np.zeros((4, 700), np.float32)
    expected[0, 0] = 1
    expected[0, 1] = 2
    expected[1, 699] = 1
    expected[3, 5] = 1
    np.testing.assert_array_equal(got, expected)


def test_shd_binning_per_sample_span_and_by_count():
    times = np.array([0.2, 0.3, 0.5, 0.6])  # span 0.4 s = 400000 us, T = 2 -> dt = 200000 us
    units = np.array([3, 4, 5, 6])
    by_time = bin_spike_times(times, units, 2, 10, "time", None)
    assert np.flatnonzero(by_time[0]).tolist() == [3, 4] and np.flatnonzero(by_time[1]).tolist() == [5, 6]
    by_count = bin_spike_times(times, units, 3, 10, "number")  # 4 // 3 = 1 per bin, last takes 2
    assert by_count.sum(axis=1).tolist() == [1, 1, 2]


def test_resize_area_averages_and_keeps_shape_order():
    frames = torch.zeros(3, 2, 4, 4)
    frames[1, 0, :2, :2] = 4.0
    small = resize_frames(frames, 2, "area")
    assert small.shape == (3, 2, 2, 2)
    assert small[1, 0].tolist() == [[4.0, 0.0], [0.0, 0.0]] and small[0].abs().sum() == 0
    assert resize_frames(frames, (4, 4)) is frames
    assert resize_frames(torch.ones(1, 2, 128, 128), 48, "bilinear").shape == (1, 2, 48, 48)
    with pytest.raises(ValueError, match="resize mode"):
        resize_frames(frames, 2, "lanczos")
