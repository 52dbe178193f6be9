"""The Tonic bridge against Tonic itself: conversions both ways, Tonic transforms on SpikeForge datasets,
the documented mapping of SpikeForge's frame options to ``ToFrame``, and a Tonic pipeline feeding training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from spikeforge import LIFNode
from spikeforge.data import DataFormatError, build_dataset
from spikeforge.data.datasets.nmnist import read_nmnist
from spikeforge.data.events import Events, events_to_frames
from spikeforge.data.tonic import from_tonic, sensor_size, spikes_from_tonic, spikes_to_tonic, to_tonic
from spikeforge.layers import MultiStep
from tests.test_data_datasets import nmnist_tree
from tests.test_data_writers import atis_bin, shd_h5

tonic = pytest.importorskip("tonic")
import tonic.transforms as tt  # noqa: E402

RNG = np.random.default_rng(5)


def random_events(n: int, width: int = 34, height: int = 34) -> Events:
    t = np.sort(RNG.integers(0, 300_000, n))
    x, y, p = RNG.integers(0, width, n), RNG.integers(0, height, n), RNG.integers(0, 2, n)
    return Events.checked("<test>", t, x, y, p, width=width, height=height, ordered=True)


def columns(ev: Events) -> list[list[int]]:
    return [ev.t.tolist(), ev.x.tolist(), ev.y.tolist(), ev.p.tolist()]


# ---------------------------------------------------------------- conversions


def test_to_tonic_has_tonics_nmnist_layout_and_round_trips():
    ev = random_events(300)
    arr = to_tonic(ev)
    assert arr.dtype == tonic.datasets.NMNIST.dtype and arr.dtype.names == ("x", "y", "t", "p")
    assert columns(from_tonic(arr, sensor_size("nmnist"))) == columns(ev)
    assert sensor_size("nmnist") == tonic.datasets.NMNIST.sensor_size
    assert sensor_size("dvs128_gesture") == tonic.datasets.DVSGesture.sensor_size
    assert sensor_size("shd") == tonic.datasets.SHD.sensor_size


def test_tonics_nmnist_reader_reads_the_files_spikeforge_writes(tmp_path):
    """The simulated digits SpikeForge writes in N-MNIST's format read back in Tonic with every event equal."""
    from sklearn.datasets import load_digits

    from spikeforge.data.formats.atis_bin import encode_atis_bin
    from spikeforge.data.simulate import simulate_digit_events

    for i, events in enumerate(simulate_digit_events(load_digits().images[:8])):
        path = tmp_path / f"{i:05d}.bin"
        path.write_bytes(encode_atis_bin(events))
        theirs = tonic.io.read_mnist_file(str(path), dtype=tonic.datasets.NMNIST.dtype)
        ours = to_tonic(events)
        assert len(ours) > 0 and theirs.dtype.names == ours.dtype.names
        for field in ours.dtype.names:
            assert np.array_equal(theirs[field].astype(np.int64), ours[field]), field


def test_from_tonic_reads_tonics_other_dtypes_and_sorts():
    # DVSGesture's dtype: int16 coordinates, bool polarity, t last; events out of time order
    arr = np.zeros(3, dtype=tonic.datasets.DVSGesture.dtype)
    arr["x"], arr["y"], arr["p"], arr["t"] = [5, 6, 7], [1, 2, 3], [True, False, True], [30, 10, 20]
    ev = from_tonic(arr, (128, 128, 2))
    assert columns(ev) == [[10, 20, 30], [6, 7, 5], [2, 3, 1], [0, 1, 1]]
    assert ev.t.dtype == np.int64 and ev.p.dtype == np.uint8


def test_from_tonic_rejects_bad_arrays_with_one_line():
    arr = to_tonic(random_events(5))
    with pytest.raises(DataFormatError, match=r"<tonic events>: event x=\d+ outside the sensor's \[0, 10\)"):
        from_tonic(arr, (10, 34, 2))
    with pytest.raises(DataFormatError, match=r"lacks fields \['p'\]"):
        from_tonic(arr[["x", "y", "t"]], (34, 34, 2))
    floats = np.zeros(1, dtype=[("x", float), ("y", float), ("t", float), ("p", float)])
    floats["t"] = 1.5
    with pytest.raises(DataFormatError, match=r"sample\.npy: field 't' holds non-integer values"):
        from_tonic(floats, (34, 34, 2), source="sample.npy")
    with pytest.raises(DataFormatError, match="structured array"):
        from_tonic(np.zeros((3, 4)), (34, 34, 2))


def test_shd_spikes_in_tonics_t_x_p_form_round_trip():
    times = np.array([0.3, 0.0105, 1.2], dtype=np.float32)  # SHD stores float32 seconds
    units = np.array([699, 0, 12])
    arr = spikes_to_tonic(times, units)
    assert arr.dtype.names == tonic.datasets.SHD.dtype.names == ("t", "x", "p")
    assert arr["t"].tolist() == [300000, 10500, 1200000] and arr["p"].tolist() == [1, 1, 1]  # as Tonic 1.7
    t, x = spikes_from_tonic(arr)
    np.testing.assert_allclose(t, [0.0105, 0.3, 1.2]) and x.tolist() == [0, 699, 12]
    with pytest.raises(DataFormatError, match=r"channel outside \[0, 700\)"):
        spikes_from_tonic(spikes_to_tonic(times, np.array([700, 0, 1])))


def test_shd_events_equal_tonics_own_shd_reader(tmp_path):
    """``events=True`` SHD items are what ``tonic.datasets.SHD`` gives for the same file (``p = 1``)."""
    import h5py

    times, units = [[0.0, 0.5, 0.9], [0.2, 0.4]], [[1, 2, 3], [699, 0]]
    shd_h5(tmp_path / "shd_train.h5", times, units, [4, 19])
    (tmp_path / "SHD").mkdir()
    shd_h5(tmp_path / "SHD" / "shd_train.h5", times, units, [4, 19])
    with h5py.File(tmp_path / "SHD" / "shd_train.h5", "a") as f:
        f.create_dataset("extra/keys", data=np.array([b"k"] * 20))
    (tmp_path / "SHD" / "shd_train.h5.zip").touch()  # Tonic checks the download is there before reading the .h5
    theirs = tonic.datasets.SHD(str(tmp_path), train=True)
    ours = build_dataset("shd", "train", root=str(tmp_path), events=True)
    for i in range(2):
        (a, ya), (b, yb) = theirs[i], ours[i]
        assert a.dtype.names == b.dtype.names and ya == yb
        assert a["x"].tolist() == b["x"].tolist() and a["p"].tolist() == b["p"].tolist()
        # times: Tonic truncates float32 seconds * 1e6 (0.9 s -> 899999 us), SpikeForge rounds (900000)
        assert b["t"].tolist() == np.rint(np.asarray(times[i], np.float32).astype(np.float64) * 1e6).tolist()
        assert np.all((b["t"] - a["t"] >= 0) & (b["t"] - a["t"] <= 1))


# ---------------------------------------------------------------- the documented mapping to ToFrame


@pytest.mark.parametrize("n", [257, 300])
def test_frame_options_match_tonic_to_frame_except_the_last_frame(n):
    """``split_by="number"`` is ``ToFrame(n_event_bins=T)`` and ``split_by="time"`` is ``ToFrame(n_time_bins=T)``,
    except that SpikeForge's last frame also takes the events Tonic leaves out (the ``N % T`` remainder,
    resp. the events from ``t0 + T * ((t_end - t0) // T)`` on, which always include the last event)."""
    ev = random_events(n)
    arr = to_tonic(ev)
    T = 7
    for split_by, tonic_frame in (
        ("number", tt.ToFrame(sensor_size("nmnist"), n_event_bins=T)),
        ("time", tt.ToFrame(sensor_size("nmnist"), n_time_bins=T)),
    ):
        ours = events_to_frames(ev, T, split_by, 34, 34)
        theirs = tonic_frame(arr.copy())
        assert theirs.shape == ours.shape == (T, 2, 34, 34)
        np.testing.assert_array_equal(ours[:-1], theirs[:-1])
        if split_by == "number":
            k = T * (n // T)  # Tonic's bins end here; the remainder N % T is left out
        else:
            k = int(np.searchsorted(ev.t, ev.t[0] + T * ((ev.t[-1] - ev.t[0]) // T)))
        left_out = Events(ev.t[k:], ev.x[k:], ev.y[k:], ev.p[k:])
        assert len(left_out) == (n % T if split_by == "number" else len(left_out)) and (split_by == "number" or k < n)
        rest = ours[-1] - theirs[-1]
        np.testing.assert_array_equal(rest, events_to_frames(left_out, 1, "number", 34, 34)[0])


# ---------------------------------------------------------------- datasets that accept Tonic transforms


def test_events_option_serves_tonic_arrays(tmp_path):
    root = nmnist_tree(tmp_path)
    ds = build_dataset("nmnist", "train", root=str(root), events=True)
    x, y = ds[3]
    assert x.dtype == tonic.datasets.NMNIST.dtype and y == ds.targets[3]
    assert columns(from_tonic(x, sensor_size("nmnist"))) == columns(read_nmnist(ds.source.samples[3].path))
    assert not (root / ".spikeforge_cache").exists()  # raw events bypass the frame cache


def test_tonic_transform_pipeline_on_a_dataset(tmp_path):
    root = nmnist_tree(tmp_path)
    pipeline = tt.Compose([tt.Denoise(filter_time=100_000), tt.ToFrame(sensor_size("nmnist"), n_time_bins=5)])
    ds = build_dataset("nmnist", "test", root=str(root), transform=pipeline)
    x, _ = ds[0]
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and x.shape == (5, 2, 34, 34)
    raw = build_dataset("nmnist", "test", root=str(root), events=True)[0][0]
    np.testing.assert_array_equal(x.numpy(), pipeline(raw.copy()))
    assert 0 < x.sum() <= len(raw)


def test_shd_events_and_tonic_to_frame(tmp_path):
    shd_h5(tmp_path / "shd_train.h5", [[0.0, 0.5, 0.9], [0.2, 0.4]], [[1, 2, 3], [699, 0]], [4, 19])
    raw, y = build_dataset("shd", "train", root=str(tmp_path), events=True)[0]
    assert raw.dtype.names == ("t", "x", "p") and raw["t"].tolist() == [0, 500000, 900000] and y == 4
    to_frame = tt.ToFrame(sensor_size("shd"), n_time_bins=3)
    x, _ = build_dataset("shd", "train", root=str(tmp_path), transform=to_frame)[0]
    # Tonic's time bins end at t0 + 3 * (0.9 s // 3): its last bin leaves out the spike at 0.9 s
    assert x.shape == (3, 1, 700) and x.sum() == 2 and x[0, 0, 1] == 1 and x[1, 0, 2] == 1


def test_transform_must_be_callable(tmp_path):
    root = nmnist_tree(tmp_path)
    with pytest.raises(ValueError, match="transform must be callable"):
        build_dataset("nmnist", "train", root=str(root), transform="ToFrame")


# ---------------------------------------------------------------- a Tonic pipeline feeding a SpikeForge training run


def class_coded_nmnist(root, per_class: tuple[int, int]) -> None:
    """N-MNIST-format recordings whose class is where the events are: a bar in column band
    ``[3k, 3k + 3)`` for class ``k`` moving down over 300 ms, plus isolated noise events."""
    rng = np.random.default_rng(7)
    for split, n in zip(("Train", "Test"), per_class):
        for k in range(10):
            folder = root / split / str(k)
            folder.mkdir(parents=True)
            for i in range(n):
                m = 200
                t = np.sort(rng.integers(0, 300_000, m))
                x = rng.integers(3 * k, 3 * k + 3, m)
                y = np.clip(t // 10_000 + rng.integers(-1, 2, m), 0, 33)
                noise_t = np.sort(rng.integers(0, 300_000, 20))
                events = [(int(a), int(b), int(rng.integers(2)), int(c)) for a, b, c in zip(x, y, t)]
                events += [(int(rng.integers(34)), int(rng.integers(34)), 1, int(c)) for c in noise_t]
                (folder / f"{k}{i:04d}.bin").write_bytes(atis_bin(sorted(events, key=lambda e: e[3])))


def test_tonic_pipeline_feeds_training(tmp_path):
    """Denoise + ToFrame (Tonic) on N-MNIST-format files, cached by Tonic's MemoryCachedDataset, train a
    small SpikeForge LIF network in a plain loop to well above chance (10 %)."""
    torch.manual_seed(0)
    class_coded_nmnist(tmp_path, (20, 10))
    pipeline = tt.Compose([tt.Denoise(filter_time=10_000), tt.ToFrame(sensor_size("nmnist"), n_time_bins=4)])
    train = tonic.MemoryCachedDataset(build_dataset("nmnist", "train", root=str(tmp_path), transform=pipeline))
    test = tonic.MemoryCachedDataset(build_dataset("nmnist", "test", root=str(tmp_path), transform=pipeline))
    model = nn.Sequential(
        MultiStep(nn.Flatten(), nn.Linear(2 * 34 * 34, 64)),
        LIFNode(tau=2.0),
        MultiStep(nn.Linear(64, 10)),
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(8):
        for x, y in DataLoader(train, batch_size=20, shuffle=True):
            x = x.transpose(0, 1)  # [B, T, 2, 34, 34] -> [T, B, 2, 34, 34]
            loss = nn.functional.cross_entropy(model(x).mean(0), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    correct = 0
    with torch.no_grad():
        for x, y in DataLoader(test, batch_size=50):
            correct += (model(x.transpose(0, 1)).mean(0).argmax(1) == y).sum().item()
    assert correct / len(test) >= 0.8
