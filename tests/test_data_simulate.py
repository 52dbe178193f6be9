"""Simulated event digits: deterministic, valid, digit-shaped, in N-MNIST's format, registered and fast."""

from __future__ import annotations

import itertools
import json
import time

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from spikeforge.data import build_dataset, dataset_info
from spikeforge.data.formats.atis_bin import read_atis_bin
from spikeforge.data.simulate import SimConfig, default_root, simulate_digit_events

DIGITS = load_digits()


@pytest.fixture(scope="module")
def sim_root(tmp_path_factory):
    """All 1797 recordings, generated once for this module through the registry (default options)."""
    root = tmp_path_factory.mktemp("cache") / "sim_event_digits"
    start = time.perf_counter()
    build_dataset("sim_event_digits", "train", root=str(root), T=4)
    elapsed = time.perf_counter() - start
    assert elapsed < 60, f"generation took {elapsed:.1f} s"
    return root


def test_simulation_is_deterministic_and_seeded():
    a = simulate_digit_events(DIGITS.images[:12])
    b = simulate_digit_events(DIGITS.images[:12])
    c = simulate_digit_events(DIGITS.images[:12], SimConfig(seed=1))
    assert all(np.array_equal(getattr(u, k), getattr(v, k)) for u, v in zip(a, b) for k in "txyp")
    assert any(len(u) != len(v) or not np.array_equal(u.t, v.t) for u, v in zip(a, c))


def test_events_are_in_range_sorted_and_cover_three_saccades():
    recordings = simulate_digit_events(DIGITS.images[:30], SimConfig(noise_rate_hz=0.0))
    for ev in recordings:
        assert 500 < len(ev) < 20000
        assert ev.x.min() >= 0 and ev.x.max() < 34 and ev.y.min() >= 0 and ev.y.max() < 34
        assert (np.diff(ev.t) >= 0).all() and ev.t.min() >= 0 and ev.t.max() < 300_000
        # every 100 ms saccade produces events of both polarities
        for k in range(3):
            window = (ev.t >= 100_000 * k) & (ev.t < 100_000 * (k + 1))
            assert set(ev.p[window].tolist()) == {0, 1}


def edge_map(image8: np.ndarray) -> np.ndarray:
    """Gradient magnitude of the digit upsampled to 28x28, smeared along the saccade path in a 34x34 frame."""
    x = torch.nn.functional.interpolate(torch.tensor(image8 / 16.0)[None, None], size=(28, 28), mode="bilinear")[0, 0]
    gy, gx = np.gradient(x.numpy())
    grad = np.hypot(gx, gy)
    out = np.zeros((34, 34))
    path = [(0, 0), (3, 6), (6, 0), (0, 0)]
    for (x0, y0), (x1, y1) in itertools.pairwise(path):
        for s in np.linspace(0, 1, 8, endpoint=False):
            ox, oy = round(x0 + s * (x1 - x0)), round(y0 + s * (y1 - y0))
            out[oy : oy + 28, ox : ox + 28] += grad
    return out


def test_event_frames_look_like_the_source_digit(sim_root):
    ds = build_dataset("sim_event_digits", "test", root=str(sim_root), T=3)
    own, other = [], []
    for i in range(0, len(ds), 6):
        x, y = ds[i]
        index = int(ds.source.samples[i].path[-9:-4])  # files are named by the sklearn index
        assert DIGITS.target[index] == y
        counts = x.sum(dim=(0, 1)).numpy().ravel()
        own.append(np.corrcoef(counts, edge_map(DIGITS.images[index]).ravel())[0, 1])
        different = np.flatnonzero(DIGITS.target != y)[i]
        other.append(np.corrcoef(counts, edge_map(DIGITS.images[different]).ravel())[0, 1])
    own, other = np.array(own), np.array(other)
    assert own.mean() > 0.6, own.mean()
    assert (own > other).mean() > 0.9 and own.mean() > other.mean() + 0.15


def test_files_are_nmnist_format_with_the_stated_split(sim_root):
    info = json.loads((sim_root / "sim_event_digits.json").read_text())
    assert info["samples"] == {"train": 1437, "test": 360}
    train_files = sorted((sim_root / "Train").glob("*/*.bin"))
    test_files = sorted((sim_root / "Test").glob("*/*.bin"))
    assert len(train_files) == 1437 and len(test_files) == 360
    for split_files in (train_files, test_files):  # stratified: every digit in both splits
        assert {p.parent.name for p in split_files} == {str(d) for d in range(10)}
    ev = read_atis_bin(test_files[0], width=34, height=34)  # the real N-MNIST reader
    assert len(ev) > 500
    assert test_files[0].stat().st_size == 5 * len(ev)
    counts = [p.stat().st_size // 5 for p in train_files[::50]]
    assert 1000 < np.mean(counts) < 10000


def test_registered_builder_is_fast_after_generation(sim_root):
    info = dataset_info("sim_event_digits")
    assert info.kind == "sequence" and info.num_classes == 10 and not info.needs_root
    start = time.perf_counter()
    train = build_dataset("sim_event_digits", "train", root=str(sim_root), T=6, split_by="time")
    first_batch = [train[i] for i in range(64)]
    assert time.perf_counter() - start < 5
    assert len(train) == 1437 and first_batch[0][0].shape == (6, 2, 34, 34)
    assert set(train.targets) == set(range(10))


def test_default_root_follows_the_cache_env_variable(sim_root, monkeypatch):
    monkeypatch.setenv("SPIKEFORGE_CACHE_DIR", str(sim_root.parent))
    assert default_root() == sim_root
    ds = build_dataset("sim_event_digits", "test", T=2)  # no root: uses the (already generated) default
    assert len(ds) == 360 and ds.source.samples[0].path.startswith(str(sim_root))
