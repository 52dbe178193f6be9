"""Events -> frames: integrate an event stream into ``T`` two-channel count images.

Segments follow SpikingJelly's ``integrate_events_by_fixed_frames_number`` semantics, so
frames built here match frames its users already know:

* ``split_by="number"``: with ``N`` events, frame ``j`` holds events ``[j*(N//T), (j+1)*(N//T))``
  and the last frame also takes the remainder, up to ``N``.
* ``split_by="time"``: with ``dt = (t[N-1] - t[0]) // T`` (integer microseconds), frame ``j``
  holds events with ``t[0] + j*dt <= t < t[0] + (j+1)*dt``; the last frame takes everything
  from ``t[0] + (T-1)*dt`` on. (SpikingJelly fails on an empty segment; here it is a zero frame.)

Choose ``"number"`` when event rate varies a lot between samples (every frame then carries the
same amount of evidence; the standard for CIFAR10-DVS / N-Caltech101), ``"time"`` when timing
itself is informative (gestures, speech) or a frame should mean a fixed duration.

A frame pixel ``[j, p, y, x]`` counts the events of polarity ``p`` (0 = OFF, 1 = ON) at that
pixel in segment ``j``. Everything is vectorised: one ``np.bincount`` per sample.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from .stream import Events

__all__ = [
    "RESIZE_MODES",
    "SPLIT_BY",
    "bin_spike_times",
    "events_to_frames",
    "resize_frames",
    "segment_bounds",
    "spikingjelly_shd_segments",
]

SPLIT_BY = ("number", "time")
RESIZE_MODES = ("area", "bilinear", "nearest")
SplitBy = Literal["number", "time"]


def segment_bounds(t: np.ndarray, T: int, split_by: SplitBy) -> np.ndarray:
    """Event-index boundaries ``b`` (``int64 [T+1]``): segment ``j`` is ``[b[j], b[j+1])``.

    Args:
        t: ``[N]`` non-decreasing timestamps (any integer unit; only ``"time"`` reads them).
        T: number of segments, ``>= 1``.
        split_by: ``"number"`` or ``"time"`` (see the module docstring).
    """
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    n = int(t.shape[0])
    if split_by == "number":
        bounds = np.arange(T + 1, dtype=np.int64) * (n // T)
    elif split_by == "time":
        if n == 0:
            return np.zeros(T + 1, dtype=np.int64)
        t = np.asarray(t, dtype=np.int64)
        dt = (int(t[-1]) - int(t[0])) // T
        bounds = np.empty(T + 1, dtype=np.int64)
        bounds[:T] = np.searchsorted(t, t[0] + dt * np.arange(T, dtype=np.int64), side="left")
    else:
        raise ValueError(f"split_by must be one of {SPLIT_BY}, got {split_by!r}")
    bounds[T] = n
    return bounds


def events_to_frames(events: Events, T: int, split_by: SplitBy, height: int, width: int) -> np.ndarray:
    """Integrate ``events`` into ``float32 [T, 2, height, width]`` counts.

    ``events`` must be inside the frame and time-sorted, which every reader guarantees.
    """
    bounds = segment_bounds(events.t, T, split_by)
    frame = np.repeat(np.arange(T, dtype=np.int64), np.diff(bounds))
    index = ((frame * 2 + events.p) * height + events.y) * width + events.x
    counts = np.bincount(index, minlength=T * 2 * height * width)
    return counts.astype(np.float32).reshape(T, 2, height, width)


def spikingjelly_shd_segments(times: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    """``(start, end)`` event indices (``int64 [T]`` each) of SpikingJelly's SHD ``"time"`` split.

    SpikingJelly's SHD class (``spikingjelly.datasets.shd``, ``_cal_fixed_frames_number_segment_index``)
    does not use the integer-microsecond split of its vision datasets: with the spike times
    ``t`` in seconds, in the float type the file stores them in (float32 for SHD), and NumPy 2
    arithmetic in that type, ``dt = (t[-1] - t[0]) / T`` and bin ``j`` holds the spikes with
    ``t0 + j*dt <= t < t0 + j*dt + dt``, except that the last bin runs to the last spike. The bins
    are computed independently, so float rounding can make neighbours overlap or leave a gap
    by one spike; this reproduces that too. (Where SpikingJelly fails with ``IndexError`` on an
    empty bin, this returns an empty segment.)

    Args:
        times: ``[S]`` sorted spike times in seconds, in the stored float type.
        T: number of bins.
    """
    n = int(times.shape[0])
    if n == 0:
        return np.zeros(T, np.int64), np.zeros(T, np.int64)
    t0 = times[0]
    dt = (times[-1] - t0) / T  # numpy scalars: the arithmetic stays in the stored float type
    t_left = dt * np.arange(T, dtype=times.dtype) + t0
    t_right = t_left + dt
    start = np.searchsorted(times, t_left, side="left").astype(np.int64)
    end = np.maximum(np.searchsorted(times, t_right, side="left"), start).astype(np.int64)
    end[-1] = n
    return start, end


def bin_spike_times(
    times: np.ndarray,
    units: np.ndarray,
    T: int,
    n_units: int,
    split_by: SplitBy = "time",
    duration: float | None = 1.4,
) -> np.ndarray:
    """Bin one sample of spikes (e.g. SHD) into ``float32 [T, n_units]`` counts.

    Args:
        times: ``[S]`` spike times in seconds, sorted (with ``duration=None``, in the float type
            the file stores them in, see :func:`spikingjelly_shd_segments`).
        units: ``[S]`` channel of each spike.
        T: number of bins.
        n_units: number of channels (700 for SHD).
        split_by: ``"time"``: with ``duration`` set, ``T`` equal bins over ``[0, duration)`` s
            (spikes at or after ``duration`` are dropped), so a bin means the same time span in every
            sample (the usual SHD setting: 1.4 s covers all but a few recordings); with
            ``duration=None``, SpikingJelly's SHD split of each sample's own spike span
            (:func:`spikingjelly_shd_segments`, float bin width). ``"number"``: SpikingJelly's
            equal-count split (the last bin takes the remainder).
        duration: see ``split_by``; ignored for ``"number"``.
    """
    if split_by == "time" and duration is not None:
        if duration <= 0:
            raise ValueError(f"duration must be > 0 seconds, got {duration}")
        keep = times < duration
        frame = np.floor(times[keep] * (T / duration)).astype(np.int64).clip(0, T - 1)
        units = units[keep]
    elif split_by == "time":
        start, end = spikingjelly_shd_segments(times, T)
        frame = np.concatenate([np.full(e - s, j, dtype=np.int64) for j, (s, e) in enumerate(zip(start, end))])
        units = np.concatenate([units[s:e] for s, e in zip(start, end)])
    else:
        frame = np.repeat(np.arange(T, dtype=np.int64), np.diff(segment_bounds(times, T, split_by)))
    counts = np.bincount(frame * n_units + units, minlength=T * n_units)
    return counts.astype(np.float32).reshape(T, n_units)


def resize_frames(frames: torch.Tensor, size: int | tuple[int, int], mode: str = "area") -> torch.Tensor:
    """Resize ``[T, C, H, W]`` frames to ``size`` (``int`` = square), same op on every frame.

    ``mode="area"`` averages the counts each output pixel covers (no events are skipped when
    shrinking 128 -> 48); ``"bilinear"`` matches ``torchvision.transforms.Resize`` without
    antialiasing, as in the TET/IMP code's 48x48 pipeline; ``"nearest"`` keeps integer counts.
    """
    out = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(frames.shape[-2:]) == out:
        return frames
    if mode == "bilinear":
        return F.interpolate(frames, size=out, mode="bilinear", align_corners=False, antialias=False)
    if mode in ("area", "nearest"):
        return F.interpolate(frames, size=out, mode=mode)
    raise ValueError(f"resize mode must be 'area', 'bilinear' or 'nearest', got {mode!r}")
