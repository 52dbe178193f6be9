"""Byte-level writers of the datasets' on-disk formats, written from the format descriptions.

They deliberately share no code with ``spikeforge.data``: a reader tested against its own
inverse would only prove self-consistency. The tests in this file pin a few writers to bytes
worked out by hand from the specifications; the other ``test_data_*`` files import the writers.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

# ---------------------------------------------------------------- ATIS .bin (N-MNIST, N-Caltech101)


def atis_event(x: int, y: int, p: int, t: int) -> bytes:
    """40 bits: x (8), y (8), polarity (1), timestamp in us (23), most significant first."""
    return bytes([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF])


def atis_bin(events: list[tuple[int, int, int, int]]) -> bytes:
    """``events`` as ``(x, y, p, t)``."""
    return b"".join(atis_event(*e) for e in events)


def atis_overflow() -> bytes:
    """A timestamp-overflow record (y = 240)."""
    return bytes([0, 240, 0, 0, 0])


# ---------------------------------------------------------------- AEDAT 2.0 (CIFAR10-DVS)

AEDAT2_HEADER = (
    b"#!AER-DAT2.0\r\n"
    b"# This is a raw AE data file - do not edit\r\n"
    b"# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n"
    b"# Timestamps tick is 1 us\r\n"
    b"# created Thu Dec 03 14:22:04 CST 2015\r\n"
)


def dvs128_address(x: int, y: int, p: int, external: bool = False) -> int:
    """DVS128 address: polarity bit 0, x bits 1-7, y bits 8-14, external-event flag bit 15."""
    return (int(external) << 15) | (y << 8) | (x << 1) | p


def aedat2(events: list[tuple[int, int]], header: bytes = AEDAT2_HEADER) -> bytes:
    """``events`` as ``(address, timestamp)``, big-endian uint32 pairs after the header."""
    return header + b"".join(struct.pack(">II", a, t) for a, t in events)


# ---------------------------------------------------------------- AEDAT 3.1 (DVS128 Gesture)

AEDAT31_HEADER = (
    b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Start-Time: 2017-04-19 12:00:00 (TZ+0000)\r\n"
    b"#!END-HEADER\r\n"
)


def polarity_word(x: int, y: int, p: int, valid: bool = True) -> int:
    """Polarity event data: valid bit 0, polarity bit 1, y bits 2-16, x bits 17-31."""
    return (x << 17) | (y << 2) | (p << 1) | int(valid)


def aedat31_packet(
    events: list[tuple[int, int]], etype: int = 1, overflow: int = 0, size: int = 8, capacity: int | None = None
) -> bytes:
    """Packet header (little-endian int16 type, int16 source, int32 size, tsOffset, tsOverflow,
    capacity, number, valid) + ``events`` as ``(data word, 31-bit timestamp)``."""
    n = len(events)
    capacity = n if capacity is None else capacity
    valid = sum(d & 1 for d, _ in events)
    header = struct.pack("<hhiiiiii", etype, 1, size, 4, overflow, capacity, n, valid)
    body = b"".join(struct.pack("<Ii", d, t) + b"\0" * (size - 8) for d, t in events)
    return header + body + b"\0" * (size * (capacity - n))


def aedat31(packets: list[bytes], header: bytes = AEDAT31_HEADER) -> bytes:
    return header + b"".join(packets)


# ---------------------------------------------------------------- AEDAT 4.0 (CIFAR10-DVS conversion)


def _pad(b: bytes, multiple: int) -> bytes:
    return b + b"\0" * (-len(b) % multiple)


def fb_ioheader(compression: int, data_table: int, description: str) -> bytes:
    """IOHeader flatbuffer (root table, identifier "IOHE"): compression int32, dataTablePosition int64,
    description string. Layout: root offset, identifier, vtable at 8, table at 24, string after it."""
    vtable = struct.pack("<HHHHH", 10, 20, 4, 8, 16)  # vtable size, table size, field offsets
    head = struct.pack("<I", 24) + b"IOHE" + _pad(vtable, 16)  # 8 + 16 = 24 = table start
    table = struct.pack("<iiqI", 24 - 8, compression, data_table, 4)  # soffset to vtable, fields, uoffset
    text = description.encode()
    string = struct.pack("<I", len(text)) + text + b"\0"
    return _pad(head + table + string, 4)


def fb_event_packet(events: list[tuple[int, int, int, int]]) -> bytes:
    """Size-prefixed EventPacket flatbuffer (identifier "EVTS") whose vector holds 16-byte structs
    {int64 t, int16 x, int16 y, bool on, 3 pad}. ``events`` as ``(t, x, y, on)``."""
    vtable = struct.pack("<HHH", 6, 8, 4)
    head = struct.pack("<I", 16) + b"EVTS" + _pad(vtable, 8)  # table at 16
    table = struct.pack("<iI", 16 - 8, 8) + b"\0" * 4  # vector at 20 + 8 = 28, elements at 32
    vector = struct.pack("<I", len(events)) + b"".join(struct.pack("<qhhB3x", *e) for e in events)
    buf = head + table + vector
    return struct.pack("<I", len(buf)) + buf


def aedat4_description(width: int, height: int, compression: str = "NONE") -> str:
    return f"""<dv version="2.0">
    <node name="outInfo" path="/mainloop/Recorder/outInfo/">
        <node name="0" path="/mainloop/Recorder/outInfo/0/">
            <attr key="compression" type="string">{compression}</attr>
            <attr key="typeIdentifier" type="string">EVTS</attr>
            <node name="info" path="/mainloop/Recorder/outInfo/0/info/">
                <attr key="sizeX" type="int">{width}</attr>
                <attr key="sizeY" type="int">{height}</attr>
                <attr key="source" type="string">DVS128</attr>
            </node>
        </node>
        <node name="2" path="/mainloop/Recorder/outInfo/2/">
            <attr key="compression" type="string">{compression}</attr>
            <attr key="typeIdentifier" type="string">IMUS</attr>
            <node name="info" path="/mainloop/Recorder/outInfo/2/info/">
                <attr key="source" type="string">DVS128</attr>
            </node>
        </node>
    </node>
</dv>
"""


def aedat4(
    packets: list[list[tuple[int, int, int, int]]],
    width: int = 128,
    height: int = 128,
    compression: int = 0,
    with_data_table: bool = True,
) -> bytes:
    """An AEDAT 4.0 file: magic, uint32 IOHeader size + IOHeader, then (uint32 stream id, uint32 size,
    payload) packets; an IMU packet (stream 2) after the first event packet; optionally a data table
    after the last packet (its position recorded in the IOHeader)."""

    def compress(payload: bytes) -> bytes:
        if compression in (1, 2):
            import lz4.frame

            return lz4.frame.compress(payload)
        if compression in (3, 4):
            import zstandard

            return zstandard.ZstdCompressor().compress(payload)
        return payload

    body = b""
    for i, events in enumerate(packets):
        payload = compress(fb_event_packet(events))
        body += struct.pack("<II", 0, len(payload)) + payload
        if i == 0:
            imu = compress(struct.pack("<I", 8) + b"\x08\0\0\0IMUS")  # not an event packet: must be skipped
            body += struct.pack("<II", 2, len(imu)) + imu
    names = {0: "NONE", 1: "LZ4", 2: "LZ4_HIGH", 3: "ZSTD", 4: "ZSTD_HIGH"}
    description = aedat4_description(width, height, names[compression])
    # The data table position depends on the header size, which depends on the position's digits: none.
    header = fb_ioheader(compression, -1, description)
    magic = b"#!AER-DAT4.0\r\n"
    if with_data_table:
        position = len(magic) + 4 + len(header) + len(body)
        header = fb_ioheader(compression, position, description)
        body += b"DATA-TABLE-NOT-PACKETS" * 3
    return magic + struct.pack("<I", len(header)) + header + body


# ---------------------------------------------------------------- SHD (HDF5)


def shd_h5(path: Path, times: list[list[float]], units: list[list[int]], labels: list[int], gz: bool = False) -> Path:
    """An SHD-layout file: spikes/times (vlen float, s), spikes/units (vlen uint16), labels (uint16), extra/speaker."""
    import h5py

    target = path.with_suffix("") if gz else path
    with h5py.File(target, "w") as f:
        t = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(np.dtype("float32")))
        u = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.dtype("uint16")))
        for i, (ti, ui) in enumerate(zip(times, units)):
            t[i] = np.asarray(ti, dtype=np.float32)
            u[i] = np.asarray(ui, dtype=np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
        f.create_dataset("extra/speaker", data=np.zeros(len(labels), dtype=np.uint16))
    if gz:
        path.write_bytes(gzip.compress(target.read_bytes()))
        target.unlink()
    return path


# ---------------------------------------------------------------- CIFAR python batches


def cifar_batch(
    path: Path, images: np.ndarray, labels: list[int], label_key: bytes = b"labels", protocol: int = 2
) -> Path:
    """A pickled dict like the originals (bytes keys, uint8 [N, 3072] rows of R, G, B planes; protocol 2
    as the Python 2 originals, where Python 3 adds ``_codecs.encode`` calls for bytes)."""
    batch = {
        b"batch_label": b"training batch 1 of 5",
        label_key: list(labels),
        b"data": images.reshape(len(images), -1).astype(np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(images))],
    }
    if label_key == b"fine_labels":
        batch[b"coarse_labels"] = [v // 5 for v in labels]
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    return path


# ---------------------------------------------------------------- tests of the writers themselves


def test_atis_event_bytes_match_the_bit_layout():
    # x=33, y=2, ON, t = 0x12345 us -> 0x21, 0x02, 1<<7 | 0x01, 0x23, 0x45
    assert atis_event(33, 2, 1, 0x012345) == bytes([0x21, 0x02, 0x81, 0x23, 0x45])
    assert atis_event(0, 0, 0, 2**23 - 1) == bytes([0, 0, 0x7F, 0xFF, 0xFF])


def test_dvs128_and_polarity_words_match_the_bit_layouts():
    assert dvs128_address(x=5, y=3, p=1) == 0b0000_0011_0000_1011
    assert dvs128_address(0, 0, 0, external=True) == 0x8000
    assert polarity_word(x=1, y=1, p=1, valid=True) == (1 << 17) | (1 << 2) | 0b11


def test_event_packet_flatbuffer_layout():
    buf = fb_event_packet([(7, 1, 2, 1)])
    size, root = struct.unpack_from("<II", buf, 0)
    assert size == len(buf) - 4 and buf[8:12] == b"EVTS"
    table = 4 + root
    vtable = table - struct.unpack_from("<i", buf, table)[0]
    field = struct.unpack_from("<H", buf, vtable + 4)[0]
    vec = table + field + struct.unpack_from("<I", buf, table + field)[0]
    assert struct.unpack_from("<I", buf, vec)[0] == 1
    assert struct.unpack_from("<qhhB", buf, vec + 4) == (7, 1, 2, 1)
