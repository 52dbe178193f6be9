"""Simulated event-camera recordings of scikit-learn's bundled digits, in N-MNIST's own format.

N-MNIST was recorded by an ATIS sensor looking at MNIST digits on a screen while the sensor
made three saccades (a triangle: about (+3.5, +7), (+3.5, -7), (-7, 0) pixels, ~105 ms each)
(Orchard et al. 2015). This module does the same to the 8x8 digits of
``sklearn.datasets.load_digits`` (1797 images, no download):

1. upsample each digit to 28x28 (bilinear) and show it, white on a dark screen, in a 34x34
   sensor; move it along the triangle (0,0) -> (3,6) -> (6,0) -> (0,0) px (N-MNIST's shape,
   scaled to keep the digit inside 34 px), 100 ms per saccade, 300 ms in total;
2. render the moving image every ``step_us`` (bilinear sub-pixel shift) and follow an ideal
   DVS pixel: each pixel keeps a reference log intensity; whenever the log intensity has moved
   by ``k`` contrast thresholds from it, the pixel emits ``k`` events of that polarity
   (ON = brighter), each stamped at the moment its threshold level was crossed (linear
   interpolation within the sub-step), and the reference moves by ``k`` thresholds;
3. optional realism: per-pixel threshold mismatch and Poisson background-activity noise;
4. write every recording as an N-MNIST ``.bin`` file in N-MNIST's folder layout
   (``Train/<digit>/<id>.bin``, ``Test/<digit>/<id>.bin``; ``id`` = the sklearn index), split
   1437/360 stratified with a fixed seed, so :func:`~spikeforge.data.formats.atis_bin.read_atis_bin`
   (the real N-MNIST reader) loads it.

Everything is vectorised over digits and pixels (one loop over the 150 sub-steps per batch); the
whole set takes a few seconds and is generated once per root (a marker file records the
parameters). Same parameters, same bytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..extras import require
from .cache import publish
from .events.stream import Events
from .formats.atis_bin import encode_atis_bin

_log = logging.getLogger(__name__)

__all__ = ["SimConfig", "default_root", "ensure_event_digits", "simulate_digit_events", "write_event_digits"]

SENSOR = 34
DIGIT = 28
SACCADE_US = 100_000
# Offsets (x, y) in pixels of the digit's top-left corner at the saccade boundaries.
PATH = np.array([(0.0, 0.0), (3.0, 6.0), (6.0, 0.0), (0.0, 0.0)])
MARKER = "sim_event_digits.json"
# Bump when the simulation changes, so that old recordings are regenerated.
SIM_VERSION = 1


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """Parameters of the simulated sensor.

    Attributes:
        threshold: contrast threshold ``C`` in log intensity (DVS pixels: 0.1-0.5).
        threshold_mismatch: relative std of ``C`` across pixels (fixed per pixel and recording).
        black_level: screen intensity of black, relative to white (keeps ``log`` finite).
        step_us: rendering sub-step in microseconds.
        noise_rate_hz: background-activity events per pixel per second (random pixel, time, polarity).
        seed: seed of the mismatch, the noise and the train/test split.
        test_size: samples in the test split (stratified by digit).
    """

    threshold: float = 0.35
    threshold_mismatch: float = 0.05
    black_level: float = 0.2
    step_us: int = 2000
    noise_rate_hz: float = 0.2
    seed: int = 0
    test_size: int = 360


def default_root() -> Path:
    """``$SPIKEFORGE_CACHE_DIR/sim_event_digits``, else ``$XDG_CACHE_HOME/spikeforge/sim_event_digits``,
    else ``~/.cache/spikeforge/sim_event_digits``."""
    base = os.environ.get("SPIKEFORGE_CACHE_DIR")
    if not base:
        base = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "spikeforge")
    return Path(base) / "sim_event_digits"


def _upsample(images: np.ndarray) -> torch.Tensor:
    """``[N, 8, 8]`` in [0, 16] -> ``[N, 28, 28]`` in [0, 1]."""
    x = torch.as_tensor(images, dtype=torch.float32)[:, None] / 16.0
    return F.interpolate(x, size=(DIGIT, DIGIT), mode="bilinear", align_corners=False)[:, 0].clamp_(0, 1)


def _offsets(t_us: np.ndarray) -> np.ndarray:
    """``[S, 2]`` (x, y) offset of the digit at times ``t_us`` (piecewise linear along :data:`PATH`)."""
    seg = np.minimum(t_us // SACCADE_US, len(PATH) - 2).astype(np.int64)
    frac = (t_us - seg * SACCADE_US) / SACCADE_US
    return PATH[seg] + (PATH[seg + 1] - PATH[seg]) * frac[:, None]


class _LogRenderer:
    """Log intensity of a batch of 28x28 digits shifted by sub-pixel offsets inside the 34x34 sensor.

    The shift interpolates the log image bilinearly (an optical blur of a fraction of a pixel);
    computing ``log`` once per digit instead of once per sub-step keeps the simulation fast.
    """

    MARGIN = 8

    def __init__(self, digits: np.ndarray, black_level: float) -> None:
        m = self.MARGIN
        screen = np.log(digits * (1 - black_level) + black_level, dtype=np.float32)
        pad = ((0, 0), (m, SENSOR + m - DIGIT), (m, SENSOR + m - DIGIT))
        self.padded = np.pad(screen, pad, constant_values=np.float32(np.log(black_level)))

    def __call__(self, ox: float, oy: float) -> np.ndarray:
        """``[N, 34*34]`` log image with the digit's top-left corner at ``(ox, oy)``."""
        ix, iy = int(np.floor(ox)), int(np.floor(oy))
        fx, fy = np.float32(ox - ix), np.float32(oy - iy)
        m = self.MARGIN
        # Sampling the digit at (x - ox, y - oy) weights column shift ix by (1 - fx) and ix + 1 by fx.
        rows = self.padded[:, m - iy - 1 : m - iy + SENSOR, :]
        a, b = rows[..., m - ix : m - ix + SENSOR], rows[..., m - ix - 1 : m - ix - 1 + SENSOR]
        cols = a + fx * (b - a)
        out = cols[:, 1:] + fy * (cols[:, :-1] - cols[:, 1:])
        return out.reshape(out.shape[0], -1)


def _simulate_batch(
    digits: np.ndarray, thresholds: np.ndarray, config: SimConfig, times: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Events ``(sample, x, y, p, t_us float)`` of a batch of upsampled digits ``[B, 28, 28]``.

    ``thresholds`` is ``[B, 34*34]`` (float32). One iteration per sub-step, vectorised over the
    batch's pixels; only pixels that crossed a threshold are touched individually.
    """
    render = _LogRenderer(digits, config.black_level)
    inv_c = (1.0 / thresholds).astype(np.float32)
    c = thresholds.reshape(-1)
    prev = render(*offsets[0])
    ref = prev.copy()
    out = []
    for k in range(1, len(times)):
        cur = render(*offsets[k])
        steps = np.trunc((cur - ref) * inv_c).reshape(-1)  # signed number of thresholds crossed
        idx = np.flatnonzero(steps)
        if idx.size:
            step = steps[idx]
            count = np.abs(step).astype(np.int64)
            sign = np.sign(step)
            flat_ref, flat_prev, flat_cur = ref.reshape(-1), prev.reshape(-1), cur.reshape(-1)
            pix_c, pix_ref, pix_prev, pix_cur = c[idx], flat_ref[idx], flat_prev[idx], flat_cur[idx]
            flat_ref[idx] = pix_ref + step * pix_c
            # One row per crossing j = 1..count of each pixel, stamped where its level was reached.
            rows = np.repeat(np.arange(idx.size), count)
            j = np.arange(rows.size) - np.repeat(np.cumsum(count) - count, count) + 1
            level = pix_ref[rows] + sign[rows] * j * pix_c[rows]
            span = (pix_cur - pix_prev)[rows]
            safe = np.where(span != 0, span, 1)
            frac = np.clip(np.where(span != 0, (level - pix_prev[rows]) / safe, 1.0), 0, 1)
            flat = idx[rows]
            pixel = flat % (SENSOR * SENSOR)
            t = times[k - 1] + frac.astype(np.float64) * config.step_us
            out.append((flat // (SENSOR * SENSOR), pixel % SENSOR, pixel // SENSOR, sign[rows] > 0, t))
        prev = cur
    if not out:
        return tuple(np.zeros(0) for _ in range(5))
    return tuple(np.concatenate(parts) for parts in zip(*out))


def simulate_digit_events(images: np.ndarray, config: SimConfig = SimConfig(), batch: int = 256) -> list[Events]:
    """Simulate one recording per image.

    Args:
        images: ``[N, 8, 8]`` digits with values in [0, 16] (``load_digits().images``).
        config: sensor parameters.
        batch: digits simulated together (small enough for the CPU cache).

    Returns:
        ``N`` :class:`Events` on a 34x34 sensor, timestamps in [0, 300000) us, time-sorted.
    """
    n = images.shape[0]
    rng = np.random.default_rng(config.seed)
    digits = _upsample(images).numpy()
    mismatch = 1 + config.threshold_mismatch * rng.standard_normal((n, SENSOR * SENSOR))
    thresholds = (config.threshold * np.maximum(mismatch, 0.2)).astype(np.float32)
    duration = SACCADE_US * (len(PATH) - 1)
    times = np.arange(0, duration + 1, config.step_us, dtype=np.int64)
    offsets = _offsets(times)
    parts = []
    for lo in range(0, n, batch):
        sample, x, y, p, t = _simulate_batch(
            digits[lo : lo + batch], thresholds[lo : lo + batch], config, times, offsets
        )
        parts.append((sample.astype(np.int64) + lo, x, y, p, t))
    sample, x, y, p, t = (np.concatenate(v) for v in zip(*parts))
    t = np.minimum(np.floor(t).astype(np.int64), duration - 1)
    x, y, p = x.astype(np.int64), y.astype(np.int64), p.astype(np.uint8)
    if config.noise_rate_hz > 0:
        counts = rng.poisson(config.noise_rate_hz * SENSOR * SENSOR * duration * 1e-6, size=n)
        total = int(counts.sum())
        sample = np.concatenate([sample, np.repeat(np.arange(n), counts)])
        x = np.concatenate([x, rng.integers(0, SENSOR, total)])
        y = np.concatenate([y, rng.integers(0, SENSOR, total)])
        p = np.concatenate([p, rng.integers(0, 2, total).astype(np.uint8)])
        t = np.concatenate([t, rng.integers(0, duration, total)])
    # One sort groups events by recording and orders them in time (t < 2**20 us).
    order = np.argsort(sample * (1 << 20) + t, kind="stable")
    sample, x, y, p, t = sample[order], x[order], y[order], p[order], t[order]
    bounds = np.searchsorted(sample, np.arange(n + 1))
    return [
        Events(t[a:b], x[a:b].astype(np.int32), y[a:b].astype(np.int32), p[a:b]) for a, b in itertools.pairwise(bounds)
    ]


def _split(labels: np.ndarray, config: SimConfig) -> np.ndarray:
    """Boolean ``[N]``, True for test samples: a stratified split with a fixed seed."""
    from sklearn.model_selection import train_test_split

    index = np.arange(labels.shape[0])
    _, test = train_test_split(index, test_size=config.test_size, stratify=labels, random_state=config.seed)
    is_test = np.zeros(labels.shape[0], dtype=bool)
    is_test[test] = True
    return is_test


def write_event_digits(root: str | os.PathLike[str], config: SimConfig = SimConfig()) -> dict:
    """Simulate all 1797 digits and write them under ``root`` in N-MNIST's layout; returns the marker info.

    The recordings are written to a temporary folder inside ``root`` and moved into place, then
    the marker file is written: an interrupted run leaves nothing that looks complete.
    """
    require("sklearn", "simulating the event digits")
    from sklearn.datasets import load_digits

    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    labels = digits.target.astype(np.int64)
    recordings = simulate_digit_events(digits.images, config)
    is_test = _split(labels, config)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        for i, (events, label) in enumerate(zip(recordings, labels)):
            folder = staging / ("Test" if is_test[i] else "Train") / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i:05d}.bin").write_bytes(encode_atis_bin(events))
        for split in ("Train", "Test"):
            if (root / split).exists():  # leftovers of an interrupted run (no marker was written)
                shutil.rmtree(root / split)
            os.replace(staging / split, root / split)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    n_events = np.array([len(e) for e in recordings])
    info = {
        "version": SIM_VERSION,
        "config": dataclasses.asdict(config),
        "samples": {"train": int((~is_test).sum()), "test": int(is_test.sum())},
        "events_per_sample": {"mean": float(n_events.mean()), "min": int(n_events.min()), "max": int(n_events.max())},
    }
    fd, tmp = tempfile.mkstemp(dir=root, suffix=".part")
    with os.fdopen(fd, "w") as fh:
        json.dump(info, fh, indent=1)
    publish(tmp, root / MARKER)
    return info


def _is_current(root: Path, config: SimConfig) -> bool:
    try:
        info = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return info.get("version") == SIM_VERSION and info.get("config") == dataclasses.asdict(config)


@contextlib.contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``root`` (POSIX ``flock``), so that concurrent processes (DDP ranks
    starting together) generate once and never see another's half-moved folders."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".generate.lock", "w") as fh:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no lock, the staging + rename still protects readers
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_event_digits(root: str | os.PathLike[str] | None = None, config: SimConfig = SimConfig()) -> Path:
    """The folder holding the simulated recordings, generating them first if needed.

    Args:
        root: where to keep them (``None``: :func:`default_root`).
        config: simulation parameters; recordings made with other parameters are regenerated.
    """
    root = Path(root).expanduser() if root is not None else default_root()
    if not _is_current(root, config):
        with _exclusive(root):
            if not _is_current(root, config):  # another process may have finished while we waited
                _log.info("simulating event-camera recordings of the 1797 sklearn digits into %s (once)", root)
                write_event_digits(root, config)
    return root
