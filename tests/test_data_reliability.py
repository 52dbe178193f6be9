"""Data faults a user can cause, on files in the real formats: each ends in correct data or one line naming the file.

Covers the content-keyed caches (a replacement file with an older mtime), silently accepted bad
data (SHD float labels, AEDAT 3.1 tsOverflow, recordings without events), ``data info`` saying
CORRUPT rather than MISSING, an empty split detected at build time, and SIGTERM during a
parallel cache build.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from spikeforge.commands.data import main as data_cli
from spikeforge.data import DataError, DataFormatError, EmptySplitError, build_dataset
from spikeforge.data.cache import content_key, gunzip_once
from spikeforge.data.datasets.dvs_gesture import read_dvs_gesture_aedat
from spikeforge.data.formats.hdf5_spikes import read_spike_h5
from tests.test_data_datasets import nmnist_tree, random_atis, write_gesture_recording
from tests.test_data_writers import (
    AEDAT2_HEADER,
    aedat2,
    aedat31,
    aedat31_packet,
    cifar_batch,
    polarity_word,
    shd_h5,
)

h5py = pytest.importorskip("h5py")


def _age(path, seconds: float = 3600.0) -> None:
    """Give ``path`` an older modification time, as ``cp -p``, ``rsync -a``, ``tar`` or ``curl -R`` would."""
    old = os.stat(path).st_mtime - seconds
    os.utime(path, (old, old))


# ---------------------------------------------------------------- caches keyed on content


def test_shd_gzip_replaced_by_a_file_with_an_older_mtime_serves_the_new_labels(tmp_path):
    gz = shd_h5(tmp_path / "shd_train.h5.gz", [[0.1], [0.2]], [[1], [2]], [4, 5], gz=True)
    assert build_dataset("shd", "train", root=str(tmp_path), T=2).targets == [4, 5]
    shd_h5(gz, [[0.1], [0.2]], [[1], [2]], [7, 8], gz=True)
    _age(gz)
    assert build_dataset("shd", "train", root=str(tmp_path), T=2).targets == [7, 8]


def test_shd_gzip_errors_name_the_users_file_not_the_cache(tmp_path):
    gz = tmp_path / "shd_train.h5.gz"
    gz.write_bytes(gzip.compress(b"this is not an HDF5 file" * 10))
    with pytest.raises(DataFormatError) as info:
        build_dataset("shd", "train", root=str(tmp_path), T=2)
    assert str(info.value).startswith(f"{gz}: cannot read as HDF5")
    assert ".spikeforge_cache" not in str(info.value)


def test_gunzip_once_reuses_only_the_same_bytes(tmp_path):
    gz = tmp_path / "x.h5.gz"
    gz.write_bytes(gzip.compress(b"first"))
    out = gunzip_once(gz, tmp_path / "c")
    gz.write_bytes(gzip.compress(b"other"))
    _age(gz)
    assert gunzip_once(gz, tmp_path / "c") == out
    with open(out, "rb") as fh:
        assert fh.read() == b"other"


def test_frame_cache_is_rebuilt_for_a_same_size_replacement_with_an_older_mtime(tmp_path):
    root = nmnist_tree(tmp_path)
    first = build_dataset("nmnist", "train", root=str(root), T=2, workers=1)
    victim = root / "NMNIST" / "Train" / "3" / "00300.bin"
    index = [s.path for s in first.source.samples].index(str(victim))
    before = first[index][0]
    replacement = random_atis(53)  # the same size (53 events) as the original, other events
    assert len(replacement) == victim.stat().st_size
    victim.write_bytes(replacement)
    _age(victim)
    second = build_dataset("nmnist", "train", root=str(root), T=2, workers=1)
    assert second.cache.directory != first.cache.directory
    direct = build_dataset("nmnist", "train", root=str(root), T=2, cache=False)
    assert np.array_equal(second[index][0].numpy(), direct[index][0].numpy())
    assert not np.array_equal(second[index][0].numpy(), before.numpy())


def test_content_key_sees_a_change_in_the_middle_of_a_large_file(tmp_path):
    path = tmp_path / "big.aedat"
    data = bytearray(np.random.default_rng(0).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes())
    path.write_bytes(bytes(data))
    key = content_key(path)
    assert key.startswith(f"{3 << 20}:")
    middle = (64 << 10) + ((3 << 20) - (128 << 10)) // 15 * 7  # inside the 7th sampled block
    data[middle] ^= 0xFF
    path.write_bytes(bytes(data))
    assert content_key(path) != key


def test_one_changed_event_anywhere_in_a_large_recording_rebuilds_its_frames(tmp_path):
    """A 1.5 MB recording (300,000 events) with one event changed between the bytes the earlier key sampled
    (the same size, the old mtime restored): the frame cache is rebuilt and the new frames served (a key on a
    sample of the file served the old frames silently)."""
    root = nmnist_tree(tmp_path)
    victim = root / "NMNIST" / "Train" / "3" / "00300.bin"
    victim.write_bytes(random_atis(300_000))
    size = victim.stat().st_size
    first = build_dataset("nmnist", "train", root=str(root), T=2, workers=1)
    index = [s.path for s in first.source.samples].index(str(victim))
    before = first[index][0]
    edge, step = 64 << 10, (size - (128 << 10)) // 15
    offset = (edge + step + (16 << 10) + step // 2) // 5 * 5  # an event between the 1st and 2nd sampled block
    data = bytearray(victim.read_bytes())
    data[offset] = (data[offset] + 17) % 34  # the event's x coordinate: another pixel, still on the sensor
    victim.write_bytes(bytes(data))
    _age(victim)
    second = build_dataset("nmnist", "train", root=str(root), T=2, workers=1)
    assert second.cache.directory != first.cache.directory
    direct = build_dataset("nmnist", "train", root=str(root), T=2, cache=False)
    assert np.array_equal(second[index][0].numpy(), direct[index][0].numpy())
    assert not np.array_equal(second[index][0].numpy(), before.numpy())


# ---------------------------------------------------------------- bad data accepted silently before


def test_shd_float_labels_are_rejected_not_truncated(tmp_path):
    path = tmp_path / "shd_train.h5"
    with h5py.File(path, "w") as f:
        vlen = h5py.vlen_dtype(np.dtype("float32"))
        t = f.create_dataset("spikes/times", (2,), dtype=vlen)
        u = f.create_dataset("spikes/units", (2,), dtype=h5py.vlen_dtype(np.dtype("uint16")))
        t[0], t[1] = np.array([0.1], np.float32), np.array([0.2], np.float32)
        u[0], u[1] = np.array([1], np.uint16), np.array([2], np.uint16)
        f.create_dataset("labels", data=np.array([1.0, 2.7]))
    with pytest.raises(DataFormatError, match=r"shd_train\.h5: labels must be integers, found 2\.7 at index 1"):
        build_dataset("shd", "train", root=str(tmp_path), T=2)
    with h5py.File(path, "r+") as f:
        f["labels"][...] = np.array([1.0, 2.0])  # whole numbers stored as floats are fine
    assert build_dataset("shd", "train", root=str(tmp_path), T=2).targets == [1, 2]


def test_shd_sample_without_spikes_is_rejected(tmp_path):
    shd_h5(tmp_path / "shd_train.h5", [[0.1], []], [[1], []], [0, 1])
    assert len(read_spike_h5(tmp_path / "shd_train.h5", n_units=700, n_classes=20)) == 2  # the format allows it
    with pytest.raises(DataFormatError, match=r"shd_train\.h5: sample 1 holds no spikes"):
        build_dataset("shd", "train", root=str(tmp_path), T=2)


def test_aedat31_huge_ts_overflow_is_rejected(tmp_path):
    path = tmp_path / "user01_led.aedat"
    path.write_bytes(aedat31([aedat31_packet([(polarity_word(1, 2, 1), 5)], overflow=2**31 - 1)]))
    with pytest.raises(
        DataFormatError, match=r"user01_led\.aedat: AEDAT 3 packet at byte \d+ has tsOverflow=2147483647"
    ):
        read_dvs_gesture_aedat(path)
    path.write_bytes(aedat31([aedat31_packet([(polarity_word(1, 2, 1), 5)], overflow=3)]))  # a real wrap count
    assert read_dvs_gesture_aedat(path).t.tolist() == [(3 << 31) | 5]


def test_zero_byte_recording_is_rejected_not_served_as_zeros(tmp_path):
    root = nmnist_tree(tmp_path)
    empty = root / "NMNIST" / "Test" / "4" / "00400.bin"
    empty.write_bytes(b"")
    with pytest.raises(DataFormatError, match=r"00400\.bin: holds no events \(a zero-byte or header-only"):
        build_dataset("nmnist", "test", root=str(root), T=2, workers=1)
    ds = build_dataset("nmnist", "test", root=str(root), T=2, cache=False)
    with pytest.raises(DataFormatError, match=r"00400\.bin"):
        ds[4]


def test_header_only_aedat_recording_is_rejected(tmp_path):
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    for name in classes:
        (tmp_path / name).mkdir()
        for i in range(10 if name == "cat" else 1):
            (tmp_path / name / f"{name}_{i}.aedat").write_bytes(aedat2([(2 * j, 10 * j) for j in range(5)]))
    (tmp_path / "cat" / "cat_9.aedat").write_bytes(AEDAT2_HEADER)  # the test split's one sample
    with pytest.raises(DataFormatError, match=r"cat_9\.aedat: holds no events"):
        build_dataset("cifar10_dvs", "test", root=str(tmp_path), T=2, workers=1)


def test_gesture_label_window_without_events_is_rejected(tmp_path):
    folder = tmp_path / "DvsGesture"
    folder.mkdir()
    write_gesture_recording(folder, "user01_led.aedat", [(1, 1000, 5000)])
    labels = folder / "user01_led_labels.csv"
    labels.write_text(labels.read_text() + "2,500000,600000\n")  # no event in [0.5 s, 0.6 s)
    (folder / "trials_to_train.txt").write_text("user01_led.aedat\n")
    ds = build_dataset("dvs128_gesture", "train", root=str(tmp_path), T=2, cache=False)
    assert ds[0][0].sum() == 10
    with pytest.raises(
        DataFormatError, match=r"user01_led\.aedat: no events in the labelled window \[500000, 600000\)"
    ):
        ds[1]


def test_empty_test_split_is_reported_at_build_time(tmp_path):
    folder = tmp_path / "DvsGesture"
    folder.mkdir()
    write_gesture_recording(folder, "user01_led.aedat", [(1, 1000, 5000)])
    (folder / "trials_to_train.txt").write_text("user01_led.aedat\n")
    (folder / "trials_to_test.txt").write_text("\n")
    with pytest.raises(EmptySplitError, match=r"dataset 'dvs128_gesture': the test split under .* holds no samples"):
        build_dataset("dvs128_gesture", "test", root=str(tmp_path), T=2)
    assert issubclass(EmptySplitError, DataError) and issubclass(EmptySplitError, ValueError)


# ---------------------------------------------------------------- data info: CORRUPT, not MISSING


def test_data_info_says_corrupt_and_why(tmp_path, capsys):
    root = nmnist_tree(tmp_path)
    (root / "NMNIST" / "Test" / "2" / "00200.bin").write_bytes(b"")
    assert data_cli(["info", "nmnist", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "train: found 20 samples" in out
    assert "test: CORRUPT: " in out and "00200.bin: empty file (0 bytes" in out and "MISSING" not in out
    folder = tmp_path / "c" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)]:
        cifar_batch(folder / name, np.zeros((1, 3, 32, 32), np.uint8), [0])
    (folder / "test_batch").write_bytes(b"\x80\x02garbage")
    assert data_cli(["info", "cifar10", "--root", str(tmp_path / "c")]) == 1
    out = capsys.readouterr().out
    assert "train: found 5 images" in out and "test: CORRUPT: " in out and "test_batch: not a readable" in out


def test_data_info_checks_an_shd_file(tmp_path, capsys):
    shd_h5(tmp_path / "shd_train.h5", [[0.1]], [[1]], [3])
    (tmp_path / "shd_test.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 20)
    assert data_cli(["info", "shd", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "train: found " in out and "1 samples" in out
    assert "test: CORRUPT: " in out and "shd_test.h5: cannot read as HDF5" in out


# ---------------------------------------------------------------- SIGTERM during a parallel cache build

_SLOW_PREPARE = """
import sys, time
from functools import partial

from spikeforge.data import register_dataset
from spikeforge.commands.data import main
from spikeforge.data.datasets import nmnist
from spikeforge.data.events import FrameOptions, build_event_dataset


def slow_read(path):
    time.sleep(0.2)
    return nmnist.read_nmnist(path)


def build(root, split, T, options):
    samples = nmnist.nmnist_samples(root, split)
    return build_event_dataset("slow", root, split, T, options, samples, slow_read, nmnist.SENSOR)


register_dataset("slow_nmnist", "sequence", 10, options_type=FrameOptions, default_T=2)(build)
if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
"""


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # zombies of this group do not hold the terminal; count only live processes
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_sigterm_during_a_parallel_cache_build_leaves_no_worker_alive(tmp_path):
    root = nmnist_tree(tmp_path / "data", per_digit=(8, 0))  # 80 samples: a parallel build
    (tmp_path / "slow_prepare.py").write_text(textwrap.dedent(_SLOW_PREPARE))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.getcwd()])}
    cmd = [sys.executable, str(tmp_path / "slow_prepare.py"), "prepare", "slow_nmnist", "--root", str(root)]
    proc = subprocess.Popen(
        [*cmd, "--split", "train", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: every worker is found and cleaned up below
    )
    try:
        cache_root = root / ".spikeforge_cache" / "slow"
        deadline = time.monotonic() + 120
        while not list(cache_root.glob("*/*.npz")):  # workers are busy building
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the cache build never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 10
        while _alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(proc.pid), "worker processes outlived the SIGTERM"
        assert len(list(cache_root.glob("*/*.npz"))) < 80  # it was stopped midway
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_content_keys_are_remembered_by_stat_and_recomputed_for_a_rewritten_file(tmp_path, monkeypatch):
    from spikeforge.data import cache as cache_module

    path = tmp_path / "a.bin"
    path.write_bytes(b"\x01" * 100)
    fresh = cache_module.ContentKeys(tmp_path / "keys.json")
    fresh.key(path)
    fresh.save()
    assert not (tmp_path / "keys.json").exists()  # changed in the last 2 s: not remembered
    now = time.time_ns()
    monkeypatch.setattr(cache_module.time, "time_ns", lambda: now + 10**10)  # the file's last change is 10 s old
    memo = cache_module.ContentKeys(tmp_path / "keys.json")
    first = memo.key(path)
    memo.save()

    def no_read(*args, **kwargs):
        raise AssertionError("the file was read again")

    with monkeypatch.context() as m:
        m.setattr(cache_module, "content_key", no_read)
        assert cache_module.ContentKeys(tmp_path / "keys.json").key(path) == first  # stat unchanged: not read
    st = os.stat(path)
    time.sleep(0.05)  # past the file-time tick of the first write
    path.write_bytes(b"\x02" * 100)  # same size, then the old mtime restored exactly (as cp -p / rsync -a do)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cache_module.ContentKeys(tmp_path / "keys.json").key(path) != first  # ctime moved: hashed again


# SIGTERM arrives while the worker pool is being started: sent by the parent to itself right after the
# first worker process was started (the moment pool creation is most exposed), so the case is deterministic.
_SIGTERM_AT_POOL_START = """
import multiprocessing.process, os, signal

_real_start = multiprocessing.process.BaseProcess.start
_sent = []


def _start_then_sigterm(self):
    _real_start(self)
    if not _sent:
        _sent.append(True)
        os.kill(os.getpid(), signal.SIGTERM)


multiprocessing.process.BaseProcess.start = _start_then_sigterm
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_sigterm_while_the_worker_pool_starts_is_a_clean_exit(tmp_path):
    """SIGTERM to `data prepare` while its pool starts: exit 143 like SIGTERM during frame writing, no traceback
    (neither the parent's nor a forkserver child's), no worker left, and the next prepare finishes."""
    root = nmnist_tree(tmp_path / "data", per_digit=(8, 0))  # 80 samples: a parallel build
    script = textwrap.dedent(_SLOW_PREPARE).replace('if __name__ == "__main__":', _SIGTERM_AT_POOL_START + "\nif 1:")
    (tmp_path / "term_prepare.py").write_text(script)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.getcwd()])}
    cmd = [sys.executable, str(tmp_path / "term_prepare.py"), "prepare", "slow_nmnist", "--root", str(root)]
    proc = subprocess.Popen(
        [*cmd, "--split", "train", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 128 + signal.SIGTERM, err.decode()[-3000:]
        assert "Traceback" not in err.decode() and "Error" not in err.decode(), err.decode()[-3000:]
        deadline = time.monotonic() + 10
        while _alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(proc.pid), "worker processes outlived the SIGTERM"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    (tmp_path / "slow_prepare.py").write_text(textwrap.dedent(_SLOW_PREPARE))
    again = subprocess.run(
        [sys.executable, str(tmp_path / "slow_prepare.py"), *cmd[2:], "--split", "train", "--workers", "2"],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr.decode()[-3000:]
    assert len(list((root / ".spikeforge_cache" / "slow").glob("*/*.npz"))) == 80
