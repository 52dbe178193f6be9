"""AEDAT 2.0 and 3.1 files (jAER / libcaer), plus version sniffing for AEDAT 4.0.

* **2.0** (CIFAR10-DVS originals): ``#``-comment header lines starting with ``#!AER-DAT2.0``,
  then big-endian pairs ``uint32 address, uint32 timestamp (us)``. A DVS128 address holds
  ``polarity`` in bit 0, ``x`` in bits 1-7 and ``y`` in bits 8-14; bit 15 flags an external
  (non-pixel) event.
* **3.1** (DVS128 Gesture): header lines up to ``#!END-HEADER``, then packets of a 28-byte
  little-endian header ``int16 type, int16 source, int32 eventSize, int32 tsOffset,
  int32 tsOverflow, int32 capacity, int32 number, int32 valid`` and ``capacity * eventSize``
  bytes of events. Polarity events (type 1, 8 bytes): ``uint32 data`` with the valid mark in
  bit 0, polarity in bit 1, ``y`` in bits 2-16 and ``x`` in bits 17-31, then an ``int32``
  timestamp whose full value is ``tsOverflow << 31 | timestamp``.
* **4.0**: see :mod:`.aedat4`.

AEDAT allows out-of-order timestamps, so events are sorted (stably) rather than rejected.
"""

from __future__ import annotations

import dataclasses
import os
import struct

import numpy as np

from ..errors import DataFormatError
from ..events.stream import MAX_TIMESTAMP_US, Events

__all__ = [
    "AedatRecording",
    "decode_aedat2",
    "decode_aedat31_polarity",
    "dvs128_address",
    "read_aedat_file",
    "sniff_aedat",
]

# The jAER preferences block can make 2.0 headers tens of kB long; past this the "header" is garbage.
_MAX_HEADER_BYTES = 1 << 20
_PACKET_HEADER = struct.Struct("<hhiiiiii")
_POLARITY_EVENT = 1


def sniff_aedat(data: bytes, source: str | os.PathLike[str]) -> tuple[str, int]:
    """Return ``(version, data_offset)`` of an AEDAT file's bytes.

    ``version`` is the text after ``#!AER-DAT`` (``"2.0"``, ``"3.1"``, ``"4.0"``); ``data_offset``
    is the first byte after the header (for 4.0: after the magic line).
    """
    if not data.startswith(b"#!AER-DAT"):
        raise DataFormatError(source, "does not start with '#!AER-DAT': not an AEDAT file")
    eol = data.find(b"\n", 0, 64)
    if eol < 0:
        raise DataFormatError(source, "the '#!AER-DAT' version line has no end")
    version = data[9:eol].strip().decode("ascii", errors="replace")
    pos = eol + 1
    if version.startswith("4"):
        return version, pos
    if version.startswith("3"):
        end = data.find(b"#!END-HEADER", pos, _MAX_HEADER_BYTES)
        if end < 0:
            raise DataFormatError(source, "AEDAT 3 header has no '#!END-HEADER' line")
        eol = data.find(b"\n", end)
        if eol < 0:
            raise DataFormatError(source, "AEDAT 3 header ends without a newline: truncated?")
        return version, eol + 1
    if version.startswith("2"):
        # No end marker: comment lines start with '#'. A DVS128 address is < 2**16, so the first data
        # byte (the big-endian address's top byte) is 0 and never '#'.
        while pos < len(data) and data[pos : pos + 1] == b"#":
            eol = data.find(b"\n", pos)
            if eol < 0 or eol > _MAX_HEADER_BYTES:
                raise DataFormatError(source, "AEDAT 2 header line has no end: truncated?")
            pos = eol + 1
        return version, pos
    raise DataFormatError(source, f"unsupported AEDAT version {version!r} (2.0, 3.1 and 4.0 are read)")


def decode_aedat2(data: bytes, offset: int, source: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(address uint32 [N], timestamp int64 [N] in us)`` of an AEDAT 2.0 body."""
    body = len(data) - offset
    if body % 8:
        raise DataFormatError(
            source, f"AEDAT 2 body of {body} bytes is not a multiple of 8 (address, timestamp): truncated?"
        )
    pairs = np.frombuffer(data, dtype=">u4", offset=offset).reshape(-1, 2)
    return pairs[:, 0].astype(np.uint32), pairs[:, 1].astype(np.int64)


def dvs128_address(address: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split DVS128 addresses into ``(x, y, polarity, is_pixel_event)`` as stored by the sensor.

    Bits above 15 are not part of the DVS128 address space and are ignored, as jAER does;
    addresses with bit 15 set are external (sync) events, not pixels.
    """
    address = address.astype(np.int64)
    return (address >> 1) & 0x7F, (address >> 8) & 0x7F, address & 1, (address & 0x8000) == 0


def decode_aedat31_polarity(
    data: bytes, offset: int, source: str | os.PathLike[str], *, width: int, height: int
) -> Events:
    """Polarity events of an AEDAT 3.1 body; other packet types (special, frames, IMU) are skipped.

    Only events whose valid mark is set are returned (libcaer clears it for filtered events).
    """
    words, overflow = [], []
    pos, end = offset, len(data)
    while pos < end:
        if end - pos < _PACKET_HEADER.size:
            raise DataFormatError(source, f"truncated AEDAT 3 packet header at byte {pos}")
        etype, _src, size, ts_offset, ts_overflow, capacity, number, valid = _PACKET_HEADER.unpack_from(data, pos)
        if size <= 0 or capacity < 0 or not (0 <= valid <= number <= capacity) or ts_overflow < 0:
            raise DataFormatError(
                source,
                f"bad AEDAT 3 packet header at byte {pos} (eventSize={size}, capacity={capacity}, "
                f"number={number}, valid={valid}, tsOverflow={ts_overflow})",
            )
        if ts_overflow >= MAX_TIMESTAMP_US >> 31:
            raise DataFormatError(
                source,
                f"AEDAT 3 packet at byte {pos} has tsOverflow={ts_overflow}, which puts its events at "
                f"{ts_overflow << 31:.3g} us (beyond any recording): corrupt packet header",
            )
        body = pos + _PACKET_HEADER.size
        stop = body + capacity * size
        if stop > end:
            raise DataFormatError(
                source, f"AEDAT 3 packet at byte {pos} needs {stop - body} bytes, file ends at {end}: truncated?"
            )
        if etype == _POLARITY_EVENT:
            if size != 8 or ts_offset != 4:
                raise DataFormatError(
                    source, f"polarity packet at byte {pos} has eventSize={size}, tsOffset={ts_offset}; expected 8, 4"
                )
            words.append(np.frombuffer(data, dtype="<u4", count=2 * number, offset=body).reshape(-1, 2))
            overflow.append(np.full(number, ts_overflow, dtype=np.int64))
        pos = stop
    if not words:
        return Events.empty()
    ev = np.concatenate(words).astype(np.int64)
    ts = ev[:, 1]
    if (ts >= 2**31).any():
        raise DataFormatError(source, "polarity event with a negative 32-bit timestamp")
    keep = (ev[:, 0] & 1) == 1
    d, t = ev[keep, 0], (np.concatenate(overflow)[keep] << 31) | ts[keep]
    return Events.checked(
        source, t, d >> 17, (d >> 2) & 0x7FFF, (d >> 1) & 1, width=width, height=height, ordered=False
    )


@dataclasses.dataclass(frozen=True)
class AedatRecording:
    """What :func:`read_aedat_file` found.

    Attributes:
        version: the ``#!AER-DAT`` version, e.g. ``"2.0"``.
        events: decoded events (3.1 and 4.0 files).
        address: ``uint32 [N]`` raw addresses (2.0 files, whose address layout depends on the camera).
        timestamp: ``int64 [N]`` timestamps in us (2.0 files).
    """

    version: str
    events: Events | None = None
    address: np.ndarray | None = None
    timestamp: np.ndarray | None = None


def read_aedat_file(path: str | os.PathLike[str], *, width: int, height: int) -> AedatRecording:
    """Read any supported AEDAT version from ``path``.

    3.1 and 4.0 files carry decoded ``events``; 2.0 files carry the raw ``address`` and
    ``timestamp`` arrays because the address layout depends on the camera (see
    :func:`dvs128_address`).
    """
    with open(path, "rb") as fh:
        data = fh.read()
    version, offset = sniff_aedat(data, path)
    if version.startswith("2"):
        address, timestamp = decode_aedat2(data, offset, path)
        return AedatRecording(version, address=address, timestamp=timestamp)
    if version.startswith("3"):
        return AedatRecording(version, events=decode_aedat31_polarity(data, offset, path, width=width, height=height))
    from .aedat4 import decode_aedat4

    return AedatRecording(version, events=decode_aedat4(data, path, width=width, height=height))
