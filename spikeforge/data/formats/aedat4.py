"""AEDAT 4.0 files (iniVation DV), as used by the CIFAR10-DVS conversion.

Layout (iniVation's AEDAT 4.0 description and its flatbuffers schemas ``ioheader.fbs`` and
``events.fbs``)::

    "#!AER-DAT4.0\\r\\n"
    uint32 n, then an n-byte IOHeader flatbuffer: compression (int32 enum: 0 none, 1/2 LZ4,
        3/4 Zstd), dataTablePosition (int64, -1 if none), infoNode (XML string describing the
        streams: id, typeIdentifier "EVTS", sizeX, sizeY)
    packets up to dataTablePosition: uint32 streamId, uint32 size, size bytes of a (possibly
        compressed) size-prefixed flatbuffer; for "EVTS" streams an EventPacket whose only
        field is a vector of 16-byte structs {int64 t; int16 x; int16 y; bool on; 3 pad}

The flatbuffer parsing is done by hand with bounds checks so that a corrupt file raises
:class:`DataFormatError` instead of reading past a buffer. LZ4 and Zstd packets need the
optional ``lz4`` / ``zstandard`` packages.
"""

from __future__ import annotations

import os
import struct
import xml.etree.ElementTree as ET

import numpy as np

from ...extras import require
from ..errors import DataFormatError
from ..events.stream import Events

__all__ = ["EVENT_STRUCT", "decode_aedat4"]

MAGIC = b"#!AER-DAT4.0\r\n"
EVENT_STRUCT = np.dtype(
    {"names": ["t", "x", "y", "on"], "formats": ["<i8", "<i2", "<i2", "u1"], "offsets": [0, 8, 10, 12], "itemsize": 16}
)
_COMPRESSION = {0: None, 1: "lz4", 2: "lz4", 3: "zstd", 4: "zstd"}


class _FlatBuffer:
    """Bounds-checked reads of the few flatbuffer constructs AEDAT4 uses."""

    def __init__(self, buf: bytes, source: str | os.PathLike[str], what: str) -> None:
        self.buf, self.source, self.what = buf, source, what

    def _unpack(self, fmt: str, pos: int) -> int:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.buf):
            raise DataFormatError(
                self.source, f"{self.what}: offset {pos} points outside its {len(self.buf)}-byte buffer"
            )
        return struct.unpack_from(fmt, self.buf, pos)[0]

    def root(self) -> int:
        return self._unpack("<I", 0)

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field ``index`` of the table at ``table``, or None if absent."""
        vtable = table - self._unpack("<i", table)
        vtable_size = self._unpack("<H", vtable)
        slot = 4 + 2 * index
        if slot + 2 > vtable_size:
            return None
        off = self._unpack("<H", vtable + slot)
        return table + off if off else None

    def scalar(self, table: int, index: int, fmt: str, default: int) -> int:
        pos = self.field(table, index)
        return default if pos is None else self._unpack(fmt, pos)

    def vector(self, table: int, index: int, itemsize: int) -> tuple[int, int]:
        """``(start, count)`` of a vector field (``(0, 0)`` if absent)."""
        pos = self.field(table, index)
        if pos is None:
            return 0, 0
        vec = pos + self._unpack("<I", pos)
        count = self._unpack("<I", vec)
        if vec + 4 + count * itemsize > len(self.buf):
            raise DataFormatError(self.source, f"{self.what}: vector of {count} items runs past the buffer end")
        return vec + 4, count

    def string(self, table: int, index: int) -> str:
        start, count = self.vector(table, index, 1)
        try:
            return self.buf[start : start + count].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataFormatError(self.source, f"{self.what}: string is not UTF-8 ({exc})") from None


def _streams(description: str, source: str | os.PathLike[str]) -> dict[int, tuple[str, int, int]]:
    """``{stream id: (typeIdentifier, sizeX, sizeY)}`` from the IOHeader's XML."""
    try:
        root = ET.fromstring(description)
    except ET.ParseError as exc:
        raise DataFormatError(source, f"AEDAT4 stream description is not valid XML ({exc})") from None
    out_info = next((n for n in root.iter("node") if n.get("name") == "outInfo"), None)
    if out_info is None:
        raise DataFormatError(source, "AEDAT4 stream description has no 'outInfo' node")
    streams = {}
    for node in out_info.findall("node"):
        attrs = {a.get("key"): (a.text or "") for a in node.findall("attr")}
        info = {
            a.get("key"): (a.text or "")
            for n in node.findall("node")
            if n.get("name") == "info"
            for a in n.findall("attr")
        }
        try:
            streams[int(node.get("name", ""))] = (
                attrs.get("typeIdentifier", ""),
                int(info.get("sizeX", "0") or 0),
                int(info.get("sizeY", "0") or 0),
            )
        except ValueError:
            raise DataFormatError(source, "AEDAT4 stream description has a non-numeric stream id or size") from None
    return streams


def _decompress(payload: bytes, method: str | None, source: str | os.PathLike[str]) -> bytes:
    if method is None:
        return payload
    feature = f"{os.fspath(source)} is {method.upper()}-compressed AEDAT4: reading it"
    codec = require("lz4.frame", feature) if method == "lz4" else require("zstandard", feature)
    try:
        if method == "lz4":
            return codec.decompress(payload)
        return codec.ZstdDecompressor().decompressobj().decompress(payload)
    except Exception as exc:  # lz4/zstandard raise their own error types on corrupt input
        raise DataFormatError(source, f"cannot decompress an AEDAT4 packet ({method}: {exc})") from None


def _event_packet(payload: bytes, source: str | os.PathLike[str]) -> np.ndarray:
    """Structured ``[n]`` array (:data:`EVENT_STRUCT`) of one size-prefixed EventPacket."""
    if len(payload) < 12:
        raise DataFormatError(source, f"AEDAT4 event packet of {len(payload)} bytes is too short")
    (size,) = struct.unpack_from("<I", payload, 0)
    if size + 4 > len(payload):
        raise DataFormatError(source, f"AEDAT4 event packet says {size} bytes but holds {len(payload) - 4}")
    fb = _FlatBuffer(payload[4 : 4 + size], source, "AEDAT4 event packet")
    if fb.buf[4:8] != b"EVTS":
        raise DataFormatError(source, f"AEDAT4 event packet has identifier {fb.buf[4:8]!r}, expected b'EVTS'")
    start, count = fb.vector(fb.root(), 0, EVENT_STRUCT.itemsize)
    return np.frombuffer(fb.buf, dtype=EVENT_STRUCT, count=count, offset=start) if count else np.zeros(0, EVENT_STRUCT)


def decode_aedat4(
    data: bytes, source: str | os.PathLike[str], *, width: int | None = None, height: int | None = None
) -> Events:
    """Events of the first (lowest id) event stream of an AEDAT 4.0 file's bytes.

    Args:
        data: file contents.
        source: file name for error messages.
        width, height: expected sensor size; a file declaring another size raises. ``None``
            takes the size the file declares.
    """
    if not data.startswith(MAGIC):
        raise DataFormatError(source, "does not start with '#!AER-DAT4.0\\r\\n': not an AEDAT 4.0 file")
    pos = len(MAGIC)
    if len(data) < pos + 4:
        raise DataFormatError(source, "truncated before the AEDAT4 IOHeader")
    (header_len,) = struct.unpack_from("<I", data, pos)
    pos += 4
    if pos + header_len > len(data):
        raise DataFormatError(source, f"AEDAT4 IOHeader of {header_len} bytes runs past the file end: truncated?")
    header = _FlatBuffer(data[pos : pos + header_len], source, "AEDAT4 IOHeader")
    pos += header_len
    table = header.root()
    compression = header.scalar(table, 0, "<i", 0)
    data_table = header.scalar(table, 1, "<q", -1)
    if compression not in _COMPRESSION:
        raise DataFormatError(source, f"unknown AEDAT4 compression code {compression}")
    streams = _streams(header.string(table, 2), source)
    event_ids = sorted(i for i, (kind, _, _) in streams.items() if kind == "EVTS")
    if not event_ids:
        raise DataFormatError(source, "AEDAT4 file declares no event ('EVTS') stream")
    target = event_ids[0]
    _, size_x, size_y = streams[target]
    if size_x <= 0 or size_y <= 0:
        raise DataFormatError(source, f"AEDAT4 event stream declares sensor size {size_x}x{size_y}")
    if (width is not None and size_x != width) or (height is not None and size_y != height):
        raise DataFormatError(source, f"AEDAT4 event stream is {size_x}x{size_y}, expected {width}x{height}")
    end = data_table if data_table >= 0 else len(data)
    if not pos <= end <= len(data):
        raise DataFormatError(source, f"AEDAT4 data table position {data_table} lies outside the file")
    packets = []
    while pos < end:
        if end - pos < 8:
            raise DataFormatError(source, f"truncated AEDAT4 packet header at byte {pos}")
        stream_id, size = struct.unpack_from("<II", data, pos)
        body = pos + 8
        if body + size > end:
            raise DataFormatError(
                source, f"AEDAT4 packet at byte {pos} needs {size} bytes, only {end - body} left: truncated?"
            )
        if stream_id not in streams:
            raise DataFormatError(source, f"AEDAT4 packet at byte {pos} belongs to undeclared stream {stream_id}")
        if stream_id == target:
            packets.append(
                _event_packet(_decompress(data[body : body + size], _COMPRESSION[compression], source), source)
            )
        pos = body + size
    if not packets:
        return Events.empty()
    ev = np.concatenate(packets)
    return Events.checked(source, ev["t"], ev["x"], ev["y"], ev["on"], width=size_x, height=size_y, ordered=False)
