"""Extract one member of a split zip (``NAME.z01``, ``NAME.z02``, ..., ``NAME.zip``) without joining the parts.

RadFM's checkpoint is published as such an archive (Info-ZIP ``zip -s``). Python's
zipfile refuses archives that span disks, and joining the parts first would need
the archive's size again on disk. Here the parts are read as one stream: the
central directory (Zip64 where sizes pass 4 GiB) gives each member's disk and
offset on that disk, and the member is inflated straight to its file, its CRC-32
checked, then renamed into place.

A damaged or hostile archive cannot make extraction use more than a few chunks
of memory or write more than the member declares: each inflate call returns at
most ``CHUNK`` bytes, the bytes written are checked against the declared size as
they go, and a declared size deflate could not reach from the compressed bytes
is refused before anything is written.
"""

from __future__ import annotations

import re
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from mediconfusion_tests.errors import ModelError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

CHUNK = 8 << 20
EOCD = b"PK\x05\x06"
ZIP64_LOCATOR = b"PK\x06\x07"
ZIP64_EOCD = b"PK\x06\x06"
CENTRAL = b"PK\x01\x02"
LOCAL = b"PK\x03\x04"
FULL32, FULL16 = 0xFFFFFFFF, 0xFFFF
#: Room kept free beyond the member's size when checking disk space.
MARGIN = 1 << 30
#: Deflate's largest output per input byte (1032:1, its theoretical limit); more is not a deflate stream.
DEFLATE_RATIO = 1032


def split_parts(files: Iterable[str | Path]) -> list[list[str]]:
    """Split archives among ``files``: per archive, its parts in reading order (.z01, .z02, ..., .zip)."""
    by_stem: dict[str, dict[int, str]] = {}
    for file in files:
        name = str(file)
        match = re.fullmatch(r"(.+)\.(?:z(\d{2,})|zip)", name, flags=re.IGNORECASE)
        if match:
            number = int(match.group(2)) if match.group(2) else 1 << 30  # the .zip part comes last
            by_stem.setdefault(match.group(1), {})[number] = name
    archives = []
    for parts in by_stem.values():
        numbers = sorted(parts)
        spans = [n for n in numbers if n != 1 << 30]
        if 1 << 30 in parts and spans == list(range(1, len(spans) + 1)):
            archives.append([parts[n] for n in numbers])
    return archives


@dataclass(frozen=True)
class Member:
    name: str
    method: int
    compressed: int
    size: int
    crc: int
    disk: int
    offset: int


class SplitZip:
    def __init__(self, parts: Sequence[Path]) -> None:
        if not parts:
            raise ModelError("a split zip needs at least its .zip part")
        self.parts = [Path(p) for p in parts]
        missing = [str(p) for p in self.parts if not p.is_file()]
        if missing:
            raise ModelError(f"split zip parts missing: {', '.join(missing)}")
        self.sizes = [p.stat().st_size for p in self.parts]
        self.starts = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        self.total = sum(self.sizes)
        self.members = self._central_directory()

    # -- reading across parts ----------------------------------------------------------
    def read(self, position: int, count: int) -> bytes:
        out = bytearray()
        while count > 0:
            disk = max(i for i, start in enumerate(self.starts) if start <= position)
            within = position - self.starts[disk]
            with self.parts[disk].open("rb") as handle:
                handle.seek(within)
                piece = handle.read(min(count, self.sizes[disk] - within))
            if not piece:
                raise ModelError(f"split zip {self.parts[-1]}: truncated at byte {position}")
            out += piece
            position += len(piece)
            count -= len(piece)
        return bytes(out)

    def absolute(self, disk: int, offset: int) -> int:
        if disk >= len(self.parts):
            raise ModelError(f"split zip {self.parts[-1]}: refers to part {disk + 1} of {len(self.parts)}")
        return self.starts[disk] + offset

    # -- the directory -------------------------------------------------------------------
    def _central_directory(self) -> list[Member]:
        tail_size = min(self.sizes[-1], 65536 + 22)
        tail = self.read(self.total - tail_size, tail_size)
        at = tail.rfind(EOCD)
        if at < 0:
            raise ModelError(f"{self.parts[-1]}: no end of central directory: not a zip, or parts missing")
        _, disk_now, cd_disk, _, entries, cd_size, cd_offset, _ = struct.unpack("<4s4H2LH", tail[at : at + 22])
        locator = tail.rfind(ZIP64_LOCATOR, 0, at)
        if locator >= 0:
            _, record_disk, record_offset, disks = struct.unpack("<4sLQL", tail[locator : locator + 20])
            self._check_count(disks)
            record = self.read(self.absolute(record_disk, record_offset), 56)
            if record[:4] != ZIP64_EOCD:
                raise ModelError(f"{self.parts[-1]}: damaged Zip64 end record")
            (_, _, _, _, disk_now, cd_disk, _, entries, cd_size, cd_offset) = struct.unpack("<4sQ2H2L4Q", record)
        self._check_count(disk_now + 1)
        directory = self.read(self.absolute(cd_disk, cd_offset), cd_size)
        members, position = [], 0
        for _ in range(entries):
            if directory[position : position + 4] != CENTRAL:
                raise ModelError(f"{self.parts[-1]}: damaged central directory")
            fields = struct.unpack("<4s6H3L5H2L", directory[position : position + 46])
            method, crc, compressed, size = fields[4], fields[7], fields[8], fields[9]
            name_len, extra_len, comment_len, disk, offset = fields[10], fields[11], fields[12], fields[13], fields[16]
            name = directory[position + 46 : position + 46 + name_len].decode("utf-8", "replace")
            extra = directory[position + 46 + name_len : position + 46 + name_len + extra_len]
            size, compressed, offset, disk = _zip64(extra, size, compressed, offset, disk)
            members.append(Member(name, method, compressed, size, crc, disk, offset))
            position += 46 + name_len + extra_len + comment_len
        return members

    def _check_count(self, disks: int) -> None:
        if disks != len(self.parts):
            raise ModelError(
                f"{self.parts[-1]}: the archive says it has {disks} parts, {len(self.parts)} were given "
                f"({', '.join(p.name for p in self.parts)}): download the missing ones"
            )

    def member(self, name: str) -> Member:
        for member in self.members:
            if member.name == name or member.name.rsplit("/", 1)[-1] == name:
                return member
        names = ", ".join(m.name for m in self.members[:10])
        raise ModelError(f"{self.parts[-1]}: no member {name!r} (it holds {names})")

    # -- extraction ------------------------------------------------------------------------
    def extract(self, name: str, target: Path, progress: Callable[[int, int], None] | None = None) -> Path:
        """Inflate ``name`` to ``target`` (via a temporary file beside it); the CRC-32 is checked."""
        member = self.member(name)
        if member.method not in (0, 8):
            raise ModelError(f"{self.parts[-1]}: {member.name} uses compression method {member.method}")
        most = member.compressed * DEFLATE_RATIO + 1024 if member.method == 8 else member.compressed
        if member.size > most:
            raise ModelError(
                f"{self.parts[-1]}: {member.name} declares {member.size} bytes from {member.compressed} compressed, "
                "more than its compression can produce: the archive is damaged or hostile"
            )
        needed = member.size + MARGIN
        target.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(target.parent).free
        if free < needed:
            raise ModelError(
                f"extracting {member.name} needs {needed / 1e9:.1f} GB free in {target.parent} "
                f"({member.size / 1e9:.1f} GB plus 1 GB of room); {free / 1e9:.1f} GB are free"
            )
        start = self.absolute(member.disk, member.offset)
        header = self.read(start, 30)
        if header[:4] != LOCAL:
            raise ModelError(f"{self.parts[-1]}: damaged local header of {member.name}")
        name_len, extra_len = struct.unpack("<2H", header[26:30])
        data = start + 30 + name_len + extra_len
        scratch = target.with_name(f".{target.name}.part")
        inflate = zlib.decompressobj(-15) if member.method == 8 else None
        crc, written = 0, 0
        try:
            with scratch.open("wb") as out:
                for piece in _pieces(self._stream(data, member.compressed), inflate):
                    if written + len(piece) > member.size:
                        raise ModelError(
                            f"{self.parts[-1]}: {member.name} inflates past the {member.size} bytes its directory "
                            "declares: the archive is damaged or hostile; nothing of it was kept"
                        )
                    crc, written = self._write(out, piece, crc, written)
                    if progress is not None:
                        progress(written, member.size)
        except BaseException:
            scratch.unlink(missing_ok=True)
            raise
        if written != member.size or crc != member.crc:
            scratch.unlink(missing_ok=True)
            raise ModelError(
                f"{self.parts[-1]}: {member.name} extracted to {written} bytes with CRC {crc:08x}, expected "
                f"{member.size} bytes with CRC {member.crc:08x}: a part is damaged; download it again"
            )
        scratch.replace(target)
        return target

    @staticmethod
    def _write(out: BinaryIO, piece: bytes, crc: int, written: int) -> tuple[int, int]:
        out.write(piece)
        return zlib.crc32(piece, crc), written + len(piece)

    def _stream(self, position: int, count: int) -> _Chunks:
        return _Chunks(self, position, count)


def _pieces(chunks: Iterable[bytes], inflate: Any) -> Iterator[bytes]:
    """The member's bytes, at most CHUNK at a time however far each compressed chunk inflates."""
    for chunk in chunks:
        if inflate is None:
            yield chunk
            continue
        pending = chunk
        while pending:
            yield inflate.decompress(pending, CHUNK)
            pending = inflate.unconsumed_tail
    if inflate is not None:
        yield inflate.flush()  # what zlib still holds: at most its 32 KiB window


class _Chunks:
    def __init__(self, archive: SplitZip, position: int, count: int) -> None:
        self.archive, self.position, self.count = archive, position, count

    def __iter__(self) -> _Chunks:
        return self

    def __next__(self) -> bytes:
        if self.count <= 0:
            raise StopIteration
        piece = self.archive.read(self.position, min(CHUNK, self.count))
        self.position += len(piece)
        self.count -= len(piece)
        return piece


def _zip64(extra: bytes, size: int, compressed: int, offset: int, disk: int) -> tuple[int, int, int, int]:
    """Sizes, offset and disk from the Zip64 extra field where the 32-bit fields say "see there"."""
    position = 0
    while position + 4 <= len(extra):
        tag, length = struct.unpack("<2H", extra[position : position + 4])
        body = extra[position + 4 : position + 4 + length]
        if tag == 1:
            # Only the fields whose 32/16-bit slot is full are here, in this order.
            values = [size, compressed, offset, disk]
            full = [value == limit for value, limit in zip(values, (FULL32, FULL32, FULL32, FULL16), strict=True)]
            cursor = 0
            for index, width in enumerate((8, 8, 8, 4)):
                if full[index]:
                    values[index] = int.from_bytes(body[cursor : cursor + width], "little")
                    cursor += width
            size, compressed, offset, disk = values
        position += 4 + length
    return size, compressed, offset, disk
