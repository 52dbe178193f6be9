"""``path -> Events`` for each event dataset: the format reader plus the dataset's conventions.

All functions here are module-level (or ``functools.partial`` of them) so worker processes
can receive them.
"""

from __future__ import annotations

import os
from functools import partial

import numpy as np

from .errors import DataFormatError
from .eventdata import Events
from .formats.aedat import dvs128_address, read_aedat_file
from .formats.atis_bin import read_atis_bin

__all__ = [
    "NCALTECH101_SENSOR",
    "NMNIST_SENSOR",
    "read_cifar10_dvs",
    "read_dvs_gesture_aedat",
    "read_dvs_gesture_npy",
    "read_ncaltech101",
    "read_nmnist",
]

NMNIST_SENSOR = (34, 34)  # (height, width)
# N-Caltech101 recordings vary in size; they fit 240 wide x 180 high (SpikingJelly's frame size).
NCALTECH101_SENSOR = (180, 240)
DVS128_SENSOR = (128, 128)

read_nmnist = partial(read_atis_bin, width=NMNIST_SENSOR[1], height=NMNIST_SENSOR[0])
read_ncaltech101 = partial(read_atis_bin, width=NCALTECH101_SENSOR[1], height=NCALTECH101_SENSOR[0])


def read_cifar10_dvs(path: str | os.PathLike[str]) -> Events:
    """A CIFAR10-DVS recording: original AEDAT 2.0 or the AEDAT 4.0 conversion (by its header).

    AEDAT 2.0 holds DVS128 addresses; as in SpikingJelly (which matches the dataset authors'
    MATLAB reader), the image is ``x = 127 - y_addr``, ``y = 127 - x_addr`` and polarity is
    ``1 - p_addr``. External (non-pixel) events are dropped. AEDAT 4.0 events are used as stored.
    """
    rec = read_aedat_file(path, width=DVS128_SENSOR[1], height=DVS128_SENSOR[0])
    if rec.events is not None:
        return rec.events
    assert rec.address is not None and rec.timestamp is not None
    x_addr, y_addr, p_addr, is_pixel = dvs128_address(rec.address)
    return Events.checked(
        path,
        rec.timestamp[is_pixel],
        127 - y_addr[is_pixel],
        127 - x_addr[is_pixel],
        1 - p_addr[is_pixel],
        width=128,
        height=128,
        ordered=False,
    )


def read_dvs_gesture_aedat(path: str | os.PathLike[str]) -> Events:
    """A DVS128 Gesture recording (AEDAT 3.1 ``userXX_<lighting>.aedat``), polarity events as stored."""
    rec = read_aedat_file(path, width=DVS128_SENSOR[1], height=DVS128_SENSOR[0])
    if rec.events is None:
        raise DataFormatError(path, f"DVS128 Gesture recordings are AEDAT 3.1, this file is AEDAT {rec.version}")
    return rec.events


def read_dvs_gesture_npy(path: str | os.PathLike[str]) -> Events:
    """A sample of Tonic's preprocessed DVS128 Gesture: ``.npy`` ``[N, 4]`` columns ``x, y, p, t`` with ``t`` in ms."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataFormatError(path, f"not a readable .npy array ({exc})") from None
    if arr.ndim != 2 or arr.shape[1] != 4 or arr.dtype.kind not in "iuf":
        raise DataFormatError(
            path, f"expected a numeric [N, 4] array (x, y, p, t), found {arr.dtype} {list(arr.shape)}"
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise DataFormatError(path, "non-finite values")
    xyp = arr[:, :3]
    if arr.dtype.kind == "f" and not np.array_equal(xyp, np.rint(xyp)):
        raise DataFormatError(path, "x, y or p are not integers")
    t_us = np.rint(arr[:, 3].astype(np.float64) * 1000.0)
    return Events.checked(
        path, t_us.astype(np.int64), xyp[:, 0], xyp[:, 1], xyp[:, 2], width=128, height=128, ordered=False
    )
