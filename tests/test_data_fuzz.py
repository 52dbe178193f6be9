"""Fuzzing the binary readers: truncated or bit-flipped files either read to valid events or raise DataFormatError.

A seeded loop (not hypothesis) keeps the run short and the failures reproducible: the
failing seed and mutation are in the assertion message.
"""

from __future__ import annotations

import numpy as np
import pytest

from spikeforge.data import DataFormatError
from spikeforge.data.datasets.cifar10_dvs import read_cifar10_dvs
from spikeforge.data.datasets.dvs_gesture import read_dvs_gesture_aedat
from spikeforge.data.datasets.nmnist import read_nmnist
from spikeforge.data.formats.cifar_pickle import read_cifar_batch
from tests.test_data_writers import (
    aedat2,
    aedat4,
    aedat31,
    aedat31_packet,
    atis_bin,
    cifar_batch,
    dvs128_address,
    polarity_word,
)

N_MUTANTS = 150


def _nmnist_file() -> bytes:
    rng = np.random.default_rng(1)
    t = np.sort(rng.integers(0, 300_000, 60))
    return atis_bin([(int(rng.integers(34)), int(rng.integers(34)), int(rng.integers(2)), int(v)) for v in t])


def _cifar10_dvs_file() -> bytes:
    rng = np.random.default_rng(2)
    return aedat2([(dvs128_address(*(int(v) for v in rng.integers(0, 128, 2)), 1), 10 * i) for i in range(40)])


def _gesture_file() -> bytes:
    rng = np.random.default_rng(3)
    packets = []
    for k in range(3):
        events = [
            (polarity_word(int(rng.integers(128)), int(rng.integers(128)), int(rng.integers(2))), 100 * k + i)
            for i in range(15)
        ]
        packets += [aedat31_packet([(7, 1)], etype=0), aedat31_packet(events, overflow=k % 2)]
    return aedat31(packets)


def _aedat4_file() -> bytes:
    rng = np.random.default_rng(4)
    packets = [
        [(1000 * k + i, int(rng.integers(128)), int(rng.integers(128)), int(rng.integers(2))) for i in range(12)]
        for k in range(3)
    ]
    return aedat4(packets)


FORMATS = {
    "nmnist_bin": (_nmnist_file, read_nmnist, (34, 34)),
    "cifar10_dvs_aedat2": (_cifar10_dvs_file, read_cifar10_dvs, (128, 128)),
    "dvs_gesture_aedat31": (_gesture_file, read_dvs_gesture_aedat, (128, 128)),
    "cifar10_dvs_aedat4": (_aedat4_file, read_cifar10_dvs, (128, 128)),
}


def mutate(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """Truncate, flip 1-8 bits, or overwrite a run of bytes."""
    kind = int(rng.integers(3))
    buf = bytearray(data)
    if kind == 0:
        cut = int(rng.integers(0, len(buf)))
        return bytes(buf[:cut]), f"truncate to {cut}"
    if kind == 1:
        positions = rng.integers(0, len(buf) * 8, int(rng.integers(1, 9)))
        for bit in positions:
            buf[bit // 8] ^= 1 << (bit % 8)
        return bytes(buf), f"flip bits {positions.tolist()}"
    start = int(rng.integers(0, len(buf)))
    junk = rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8).tobytes()
    buf[start : start + len(junk)] = junk
    return bytes(buf), f"overwrite at {start} with {junk.hex()}"


def assert_valid(ev, height: int, width: int) -> None:
    n = len(ev)
    assert ev.t.shape == ev.x.shape == ev.y.shape == ev.p.shape == (n,)
    if n:
        assert 0 <= ev.x.min() and ev.x.max() < width and 0 <= ev.y.min() and ev.y.max() < height
        assert set(np.unique(ev.p).tolist()) <= {0, 1} and ev.t.min() >= 0
        assert (np.diff(ev.t) >= 0).all()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_fuzzed_files_read_valid_events_or_raise_data_format_error(tmp_path, fmt):
    make, read, (height, width) = FORMATS[fmt]
    original = make()
    clean = read(_write(tmp_path / "orig", original))
    assert len(clean) > 0
    assert_valid(clean, height, width)
    rng = np.random.default_rng(12345)
    outcomes = {"valid": 0, "error": 0}
    for i in range(N_MUTANTS):
        data, how = mutate(original, rng)
        path = _write(tmp_path / f"m{i}", data)
        try:
            ev = read(path)
        except DataFormatError as exc:
            assert str(path) in str(exc), f"{fmt} mutant {i} ({how}): error does not name the file: {exc}"
            outcomes["error"] += 1
            continue
        except Exception as exc:  # anything else is a reader bug
            pytest.fail(f"{fmt} mutant {i} ({how}) raised {type(exc).__name__}: {exc}")
        assert_valid(ev, height, width)
        outcomes["valid"] += 1
    # Both outcomes occur, or the fuzzing did not reach the interesting cases.
    assert outcomes["valid"] > 0 and outcomes["error"] > 0, outcomes


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_fuzzed_cifar_pickles_load_or_raise_data_format_error(tmp_path):
    original = cifar_batch(
        tmp_path / "orig", np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3, 32, 32), [1, 2]
    ).read_bytes()
    rng = np.random.default_rng(7)
    for i in range(N_MUTANTS):
        data, how = mutate(original, rng)
        path = _write(tmp_path / f"m{i}", data)
        try:
            images, labels = read_cifar_batch(path, "labels")
        except DataFormatError:
            continue
        except Exception as exc:
            pytest.fail(f"cifar mutant {i} ({how}) raised {type(exc).__name__}: {exc}")
        assert images.shape == (len(labels), 3, 32, 32) and images.dtype == np.uint8
