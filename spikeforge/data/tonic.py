"""Bridge to Tonic: SpikeForge events as Tonic's structured event arrays, and back.

Tonic (``tonic.transforms``, ``tonic.datasets``) passes a sample's events as one NumPy
structured array with named fields:

* camera events: fields ``x, y, t, p`` (Tonic's N-MNIST order and dtypes: ``int64`` each),
  ``t`` in microseconds, ``p`` 0 = OFF / 1 = ON, with ``sensor_size = (width, height, 2)``;
* audio spikes (SHD): fields ``t, x, p``, ``t`` in microseconds, ``x`` the channel, ``p`` always
  0, with ``sensor_size = (700, 1, 1)``.

:func:`to_tonic` / :func:`from_tonic` convert :class:`~spikeforge.data.events.Events` to and
from the first form, :func:`spikes_to_tonic` / :func:`spikes_from_tonic` the SHD form. Nothing
here imports Tonic: the arrays are plain NumPy, so a Tonic transform (``tonic.transforms.Denoise``,
``ToFrame``, ``Compose`` of them) can be applied to them, and a Tonic dataset's samples can be
read into SpikeForge. ``from_tonic`` validates like every SpikeForge reader (coordinates inside the
sensor, polarity 0/1, non-negative integral times; sorted by time), so nothing downstream has to.

The event datasets serve such arrays directly with the option ``events=True``, and pass them
through a Tonic transform with ``transform=...`` (see ``docs/datasets.md``, "Tonic")::

    import tonic.transforms as T
    from spikeforge.data import build_dataset
    from spikeforge.data.tonic import sensor_size

    to_frames = T.Compose([T.Denoise(filter_time=10_000), T.ToFrame(sensor_size("nmnist"), n_time_bins=10)])
    ds = build_dataset("nmnist", "train", root="/data/NMNIST", transform=to_frames)
    x, y = ds[0]   # x: float32 [10, 2, 34, 34] as ToFrame made it
"""

from __future__ import annotations

import os

import numpy as np

from .errors import DataFormatError
from .events.stream import Events

__all__ = [
    "AUDIO_DTYPE",
    "EVENT_DTYPE",
    "SENSOR_SIZES",
    "from_tonic",
    "sensor_size",
    "spikes_from_tonic",
    "spikes_to_tonic",
    "to_tonic",
]

# Tonic's own dtypes for these datasets (tonic.datasets.NMNIST.dtype, tonic.datasets.SHD.dtype).
EVENT_DTYPE = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])
AUDIO_DTYPE = np.dtype([("t", np.int64), ("x", np.int64), ("p", np.int64)])

# Tonic's sensor_size convention: (width, height, polarities); SHD: (channels, 1, 1).
SENSOR_SIZES: dict[str, tuple[int, int, int]] = {
    "nmnist": (34, 34, 2),
    "sim_event_digits": (34, 34, 2),
    "ncaltech101": (240, 180, 2),
    "dvs128_gesture": (128, 128, 2),
    "cifar10_dvs": (128, 128, 2),
    "shd": (700, 1, 1),
}


def sensor_size(dataset: str) -> tuple[int, int, int]:
    """Tonic's ``sensor_size`` ``(width, height, polarities)`` of a registered event dataset."""
    try:
        return SENSOR_SIZES[dataset]
    except KeyError:
        raise ValueError(f"no event sensor for dataset {dataset!r}; event datasets: {sorted(SENSOR_SIZES)}") from None


def to_tonic(events: Events, dtype: np.dtype = EVENT_DTYPE) -> np.ndarray:
    """``[N]`` structured array with fields ``x, y, t, p`` (``t`` in us), in time order.

    Args:
        events: SpikeForge events.
        dtype: the structured dtype to fill (any with fields ``x, y, t, p``; default Tonic's
            N-MNIST dtype, ``int64`` fields in the order ``x, y, t, p``).
    """
    out = np.empty(len(events), dtype=dtype)
    out["x"], out["y"], out["t"], out["p"] = events.x, events.y, events.t, events.p
    return out


def _field(array: np.ndarray, name: str, source: str | os.PathLike[str]) -> np.ndarray:
    values = np.asarray(array[name])
    if values.dtype.kind == "b":
        return values.astype(np.int64)
    if values.dtype.kind == "f":
        if not np.isfinite(values).all() or not np.array_equal(values, np.rint(values)):
            raise DataFormatError(source, f"field {name!r} holds non-integer values")
        return values.astype(np.int64)
    if values.dtype.kind not in "iu":
        raise DataFormatError(source, f"field {name!r} has dtype {values.dtype}, expected integers")
    return values


def _fields(array: np.ndarray, names: tuple[str, ...], source: str | os.PathLike[str]) -> list[np.ndarray]:
    if not isinstance(array, np.ndarray) or array.dtype.names is None or array.ndim != 1:
        raise DataFormatError(
            source,
            f"expected a 1-d structured array with fields {names}, got {type(array).__name__}",
        )
    missing = [n for n in names if n not in array.dtype.names]
    if missing:
        raise DataFormatError(source, f"structured array lacks fields {missing} (has {array.dtype.names})")
    return [_field(array, n, source) for n in names]


def from_tonic(
    array: np.ndarray, sensor_size: tuple[int, int, int], *, source: str | os.PathLike[str] = "<tonic events>"
) -> Events:
    """Validated :class:`Events` from a Tonic structured array with fields ``x, y, t, p``.

    Args:
        array: ``[N]`` structured array (``t`` in us; integer, or float holding integers).
        sensor_size: Tonic's ``(width, height, polarities)``; events outside it raise.
        source: what to name in errors (e.g. the file Tonic read).

    Raises:
        DataFormatError: missing fields, non-integral values, events outside the sensor,
            polarity outside {0, 1}, negative times.
    """
    x, y, t, p = _fields(array, ("x", "y", "t", "p"), source)
    width, height = int(sensor_size[0]), int(sensor_size[1])
    return Events.checked(source, t, x, y, p, width=width, height=height, ordered=False)


def spikes_to_tonic(times: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Tonic's SHD form of one sample: ``[S]`` structured ``t, x, p`` with ``t`` in us, ``p = 1``.

    Args:
        times: ``[S]`` spike times in seconds (as stored in SHD files).
        units: ``[S]`` channel of each spike.

    Times are rounded to the nearest microsecond (Tonic truncates ``times * 1e6`` when it casts
    to ``int``; rounding keeps a spike stored as e.g. ``0.3`` s at 300000 us). The polarity is 1,
    the constant that Tonic 1.7's ``SHD`` reader gives every spike.
    """
    out = np.zeros(len(times), dtype=AUDIO_DTYPE)
    out["t"] = np.rint(np.asarray(times, dtype=np.float64) * 1e6)
    out["x"] = units
    out["p"] = 1
    return out


def spikes_from_tonic(
    array: np.ndarray, n_units: int = 700, *, source: str | os.PathLike[str] = "<tonic events>"
) -> tuple[np.ndarray, np.ndarray]:
    """``(times float64 [S] in s, units int32 [S])`` sorted by time, from a Tonic ``t, x, p`` array.

    Raises:
        DataFormatError: missing fields, channels outside ``[0, n_units)``, negative times.
    """
    t, x = _fields(array, ("t", "x"), source)
    if x.size and (x.min() < 0 or x.max() >= n_units):
        raise DataFormatError(source, f"channel outside [0, {n_units})")
    if t.size and t.min() < 0:
        raise DataFormatError(source, f"negative spike time {t.min()} us")
    order = np.argsort(t, kind="stable")
    return t[order].astype(np.float64) / 1e6, x[order].astype(np.int32)
