"""Split zip archives as Info-ZIP's ``zip -s`` writes them, built byte by byte from the zip specification.

The stream starts with the spanning signature; central directory entries name
the disk (part) each member's local header is on and the offset within it; the
end records name the disk of the directory and their own. ``zip64`` writes every
size and offset through the Zip64 extra field and end records, as an archive
holding a 53 GB member must. Parts are cut at ``part_size`` bytes wherever that
falls, so headers and data straddle parts, as they do in real split archives.
"""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

FULL32, FULL16 = 0xFFFFFFFF, 0xFFFF


def write_split_zip(
    folder: Path, stem: str, members: dict[str, bytes], part_size: int, zip64: bool = False, stored: bool = False
) -> list[Path]:
    stream = bytearray(b"PK\x07\x08")
    entries = []
    for name, data in members.items():
        if stored:
            packed, method = data, 0
        else:
            deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
            packed, method = deflate.compress(data) + deflate.flush(), 8
        crc, encoded = zlib.crc32(data), name.encode()
        extra = struct.pack("<2H2Q", 1, 16, len(data), len(packed)) if zip64 else b""
        sizes = (FULL32, FULL32) if zip64 else (len(packed), len(data))
        offset = len(stream)
        stream += struct.pack("<4s5H3L2H", b"PK\x03\x04", 45, 0, method, 0, 0, crc, *sizes, len(encoded), len(extra))
        stream += encoded + extra + packed
        entries.append((encoded, method, crc, len(packed), len(data), offset))

    def where(position: int) -> tuple[int, int]:
        return position // part_size, position % part_size

    directory_start = len(stream)
    for encoded, method, crc, packed_size, size, offset in entries:
        disk, relative = where(offset)
        if zip64:
            extra = struct.pack("<2H3QL", 1, 28, size, packed_size, relative, disk)
            fields = (FULL32, FULL32, len(encoded), len(extra), 0, FULL16, 0, 0, FULL32)
        else:
            extra = b""
            fields = (packed_size, size, len(encoded), 0, 0, disk, 0, 0, relative)
        stream += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 45, 45, 0, method, 0, 0, crc, *fields) + encoded + extra
    directory_size = len(stream) - directory_start
    directory_disk, directory_offset = where(directory_start)
    tail = (56 + 20 if zip64 else 0) + 22
    last_disk = (len(stream) + tail - 1) // part_size
    if zip64:
        record_disk, record_offset = where(len(stream))
        stream += struct.pack(
            "<4sQ2H2L4Q",
            b"PK\x06\x06",
            44,
            45,
            45,
            last_disk,
            directory_disk,
            len(entries),
            len(entries),
            directory_size,
            directory_offset,
        )
        stream += struct.pack("<4sLQL", b"PK\x06\x07", record_disk, record_offset, last_disk + 1)
        stream += struct.pack("<4s4H2LH", b"PK\x05\x06", FULL16, FULL16, FULL16, FULL16, FULL32, FULL32, 0)
    else:
        stream += struct.pack(
            "<4s4H2LH",
            b"PK\x05\x06",
            last_disk,
            directory_disk,
            len(entries),
            len(entries),
            directory_size,
            directory_offset,
            0,
        )
    parts = []
    count = (len(stream) + part_size - 1) // part_size
    for index in range(count):
        suffix = "zip" if index == count - 1 else f"z{index + 1:02d}"
        path = folder / f"{stem}.{suffix}"
        path.write_bytes(bytes(stream[index * part_size : (index + 1) * part_size]))
        parts.append(path)
    return parts
