"""Every reader on small files written in the real on-disk format (see test_data_writers.py)."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest

from spikeforge.data import DataFormatError
from spikeforge.data.cache import gunzip_once
from spikeforge.data.datasets.cifar10_dvs import read_cifar10_dvs
from spikeforge.data.datasets.dvs_gesture import read_dvs_gesture_aedat, read_dvs_gesture_npy
from spikeforge.data.datasets.ncaltech101 import read_ncaltech101
from spikeforge.data.datasets.nmnist import read_nmnist
from spikeforge.data.formats.aedat4 import decode_aedat4
from spikeforge.data.formats.atis_bin import read_atis_bin
from spikeforge.data.formats.cifar_pickle import read_cifar_batch
from spikeforge.data.formats.hdf5_spikes import read_spike_h5
from tests.test_data_writers import (
    AEDAT2_HEADER,
    aedat2,
    aedat4,
    aedat31,
    aedat31_packet,
    atis_bin,
    atis_overflow,
    cifar_batch,
    dvs128_address,
    polarity_word,
    shd_h5,
)


def columns(ev):
    return [ev.t.tolist(), ev.x.tolist(), ev.y.tolist(), ev.p.tolist()]


# ---------------------------------------------------------------- ATIS .bin


def test_atis_bin_round_trips_known_events(tmp_path):
    events = [(0, 0, 1, 5), (33, 2, 0, 70000), (12, 33, 1, 70000), (5, 6, 0, 2**23 - 1)]
    path = tmp_path / "00001.bin"
    path.write_bytes(atis_bin(events))
    ev = read_nmnist(path)
    assert columns(ev) == [[5, 70000, 70000, 2**23 - 1], [0, 33, 12, 5], [0, 2, 33, 6], [1, 0, 1, 0]]
    assert ev.t.dtype == np.int64 and ev.x.dtype == np.int32 and ev.p.dtype == np.uint8


def test_atis_overflow_record_is_dropped_and_shifts_later_timestamps(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(atis_bin([(1, 1, 1, 100)]) + atis_overflow() + atis_bin([(2, 2, 0, 50)]))
    ev = read_nmnist(path)
    assert ev.t.tolist() == [100, 50 + 2**13] and ev.x.tolist() == [1, 2]


def test_ncaltech101_reader_accepts_its_larger_sensor(tmp_path):
    path = tmp_path / "image_0001.bin"
    path.write_bytes(atis_bin([(239, 179, 1, 3), (100, 50, 0, 9)]))
    assert columns(read_ncaltech101(path)) == [[3, 9], [239, 100], [179, 50], [1, 0]]
    with pytest.raises(DataFormatError, match="outside"):
        read_nmnist(path)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (atis_bin([(1, 1, 1, 10)])[:-2], "multiple of 5"),
        (atis_bin([(34, 1, 1, 10)]), "x=34 outside"),
        (atis_bin([(1, 1, 1, 10), (1, 1, 1, 9)]), "backwards"),
    ],
)
def test_atis_bin_rejects_truncated_out_of_range_and_disordered(tmp_path, data, match):
    path = tmp_path / "bad.bin"
    path.write_bytes(data)
    with pytest.raises(DataFormatError, match=match) as info:
        read_atis_bin(path, width=34, height=34)
    assert str(path) in str(info.value)


def test_empty_bin_is_an_empty_recording(tmp_path):
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    assert len(read_nmnist(path)) == 0


# ---------------------------------------------------------------- AEDAT 2.0 (CIFAR10-DVS)


def test_aedat2_cifar10_dvs_orientation_sorting_and_external_events(tmp_path):
    raw = [
        (dvs128_address(x=10, y=20, p=1), 300),
        (dvs128_address(x=0, y=0, p=0, external=True), 305),  # sync event: dropped
        (dvs128_address(x=127, y=0, p=0), 200),  # earlier timestamp: AEDAT allows it, the reader sorts
    ]
    path = tmp_path / "cifar10_cat_0.aedat"
    path.write_bytes(aedat2(raw))
    ev = read_cifar10_dvs(path)
    # image x = 127 - y_addr, y = 127 - x_addr, polarity = 1 - p_addr (SpikingJelly / dat2mat orientation)
    assert columns(ev) == [[200, 300], [127, 107], [0, 117], [1, 0]]


def test_aedat2_with_header_only_and_with_a_torn_event(tmp_path):
    path = tmp_path / "x.aedat"
    path.write_bytes(AEDAT2_HEADER)
    assert len(read_cifar10_dvs(path)) == 0
    path.write_bytes(aedat2([(dvs128_address(1, 2, 1), 5)])[:-3])
    with pytest.raises(DataFormatError, match="multiple of 8"):
        read_cifar10_dvs(path)


def test_not_an_aedat_file(tmp_path):
    path = tmp_path / "x.aedat"
    path.write_bytes(b"hello world\n")
    with pytest.raises(DataFormatError, match="not an AEDAT file"):
        read_cifar10_dvs(path)


# ---------------------------------------------------------------- AEDAT 3.1 (DVS128 Gesture)


def gesture_file():
    return aedat31(
        [
            aedat31_packet([(0x1234, 1)], etype=0),  # a special-event packet: skipped
            aedat31_packet(
                [
                    (polarity_word(3, 4, 1), 10),
                    (polarity_word(5, 6, 0, valid=False), 11),  # filtered out by libcaer: not returned
                    (polarity_word(127, 127, 0), 20),
                ],
                capacity=4,  # one unused slot, as a capacity-sized packet would have
            ),
            aedat31_packet([(polarity_word(0, 1, 1), 7)], overflow=1),  # t = 1 << 31 | 7
        ]
    )


def test_aedat31_polarity_events_round_trip(tmp_path):
    path = tmp_path / "user01_fluorescent.aedat"
    path.write_bytes(gesture_file())
    ev = read_dvs_gesture_aedat(path)
    assert columns(ev) == [[10, 20, (1 << 31) | 7], [3, 127, 0], [4, 127, 1], [1, 0, 1]]


@pytest.mark.parametrize(
    ("cut", "match"),
    [(lambda d: d[:-5], "truncated"), (lambda d: d.replace(b"#!END-HEADER", b"#!END-HEADEX"), "END-HEADER")],
)
def test_aedat31_truncated_packet_or_header(tmp_path, cut, match):
    path = tmp_path / "t.aedat"
    path.write_bytes(cut(gesture_file()))
    with pytest.raises(DataFormatError, match=match):
        read_dvs_gesture_aedat(path)


def test_aedat31_polarity_packet_with_wrong_event_size(tmp_path):
    path = tmp_path / "t.aedat"
    path.write_bytes(aedat31([aedat31_packet([(polarity_word(1, 1, 1), 1)], size=12)]))
    with pytest.raises(DataFormatError, match="eventSize=12"):
        read_dvs_gesture_aedat(path)


def test_aedat31_coordinates_beyond_the_sensor(tmp_path):
    path = tmp_path / "t.aedat"
    path.write_bytes(aedat31([aedat31_packet([(polarity_word(200, 1, 1), 1)])]))
    with pytest.raises(DataFormatError, match="x=200 outside"):
        read_dvs_gesture_aedat(path)


# ---------------------------------------------------------------- AEDAT 4.0


PACKETS = [[(1_000_000, 0, 0, 1), (1_000_050, 127, 5, 0)], [(1_000_040, 64, 127, 1)]]
EXPECTED = [[1_000_000, 1_000_040, 1_000_050], [0, 64, 127], [0, 127, 5], [1, 1, 0]]


@pytest.mark.parametrize("with_data_table", [True, False])
def test_aedat4_uncompressed_round_trip(tmp_path, with_data_table):
    path = tmp_path / "cifar10_dog_1.aedat4"
    path.write_bytes(aedat4(PACKETS, with_data_table=with_data_table))
    assert columns(read_cifar10_dvs(path)) == EXPECTED


@pytest.mark.parametrize(("compression", "module"), [(1, "lz4.frame"), (3, "zstandard")])
def test_aedat4_compressed_round_trip(tmp_path, compression, module):
    pytest.importorskip(module)
    path = tmp_path / "c.aedat4"
    path.write_bytes(aedat4(PACKETS, compression=compression))
    assert columns(read_cifar10_dvs(path)) == EXPECTED


def test_aedat4_other_sensor_size_is_rejected():
    with pytest.raises(DataFormatError, match="346x260, expected 128x128"):
        decode_aedat4(aedat4(PACKETS, width=346, height=260), "x.aedat4", width=128, height=128)
    assert len(decode_aedat4(aedat4(PACKETS, width=346, height=260), "x.aedat4")) == 3


def test_aedat4_truncated(tmp_path):
    data = aedat4(PACKETS, with_data_table=False)
    with pytest.raises(DataFormatError, match="truncated"):
        decode_aedat4(data[:-7], "x.aedat4")


# ---------------------------------------------------------------- Tonic's DVS128 Gesture .npy


def test_tonic_gesture_npy(tmp_path):
    path = tmp_path / "3.npy"
    np.save(path, np.array([[1, 2, 1, 0.5], [127, 0, 0, 0.25]], dtype=np.float64))  # x, y, p, t (ms)
    assert columns(read_dvs_gesture_npy(path)) == [[250, 500], [127, 1], [0, 2], [0, 1]]
    np.save(path, np.zeros((3, 3)))
    with pytest.raises(DataFormatError, match=r"\[N, 4\]"):
        read_dvs_gesture_npy(path)


# ---------------------------------------------------------------- SHD


SHD_TIMES = [[0.5, 0.01, 1.2], [], [0.3]]
SHD_UNITS = [[699, 0, 5], [], [42]]


@pytest.mark.parametrize("gz", [False, True])
def test_shd_h5_round_trip(tmp_path, gz):
    pytest.importorskip("h5py")
    path = shd_h5(tmp_path / ("shd_train.h5.gz" if gz else "shd_train.h5"), SHD_TIMES, SHD_UNITS, [3, 19, 0], gz=gz)
    if gz:
        path = gunzip_once(path, tmp_path / "cache")
        assert gunzip_once(tmp_path / "shd_train.h5.gz", tmp_path / "cache") == path  # reused, not redone
    spikes = read_spike_h5(path, n_units=700, n_classes=20)
    assert spikes.labels.tolist() == [3, 19, 0]
    t0, u0 = spikes.sample(0)
    assert np.allclose(t0, [0.01, 0.5, 1.2]) and u0.tolist() == [0, 699, 5]  # sorted by time
    assert len(spikes.sample(1)[0]) == 0 and spikes.sample(2)[1].tolist() == [42]


def test_shd_bad_units_truncated_file_and_corrupt_gzip(tmp_path):
    pytest.importorskip("h5py")
    path = shd_h5(tmp_path / "shd_test.h5", [[0.1]], [[700]], [0])
    with pytest.raises(DataFormatError, match="units outside"):
        read_spike_h5(path, n_units=700, n_classes=20)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DataFormatError, match="HDF5"):
        read_spike_h5(path, n_units=700, n_classes=20)
    gz = tmp_path / "shd_x.h5.gz"
    gz.write_bytes(gzip.compress(b"x" * 1000)[:-10])
    with pytest.raises(DataFormatError, match="gzip"):
        gunzip_once(gz, tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*"))  # no half-written file left behind


# ---------------------------------------------------------------- CIFAR pickles


@pytest.mark.parametrize("protocol", [2, 4])
def test_cifar_batch_round_trip(tmp_path, protocol):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    path = cifar_batch(tmp_path / "data_batch_1", images, [9, 0, 3, 3], protocol=protocol)
    got, labels = read_cifar_batch(path, "labels")
    assert np.array_equal(got, images) and labels.tolist() == [9, 0, 3, 3]
    with pytest.raises(DataFormatError, match="lacks"):
        read_cifar_batch(path, "fine_labels")


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_cifar_pickle_refuses_code_and_truncation(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}))
    with pytest.raises(DataFormatError, match=r"refusing to load builtins\.print"):
        read_cifar_batch(path, "labels")
    good = cifar_batch(tmp_path / "b", np.zeros((2, 3, 32, 32), np.uint8), [1, 2]).read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataFormatError, match="not a readable CIFAR"):
        read_cifar_batch(path, "labels")
