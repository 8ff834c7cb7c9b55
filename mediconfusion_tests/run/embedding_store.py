"""Embeddings kept on disk per (image content hash, encoder fingerprint), so a rerun, another threshold or a
second encoder reuses what was computed.

One SQLite file per encoder fingerprint under ``CACHE/embeddings/`` (the fingerprint is also stored inside
and checked); rows are the float32 vector's bytes keyed by the image's sha256. Shards of one run may write
the same file at once (SQLite's locking, a generous timeout); ``merge_caches`` copies other machines' files in.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import TYPE_CHECKING

import numpy as np

from mediconfusion_tests.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from numpy.typing import NDArray

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vectors (digest TEXT PRIMARY KEY, dim INTEGER NOT NULL, data BLOB NOT NULL);
"""


def cache_file(folder: Path, fingerprint: str) -> Path:
    return folder / f"{hashlib.sha256(fingerprint.encode()).hexdigest()[:24]}.sqlite"


class EmbeddingCache:
    def __init__(self, path: Path, fingerprint: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fingerprint = fingerprint
        self._db = sqlite3.connect(path, timeout=120)
        self._db.executescript(SCHEMA)
        found = self._db.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
        if found is None:
            with self._db:
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('fingerprint', ?)", (fingerprint,))
        elif found[0] != fingerprint:
            raise DataError(f"{path}: an embedding cache of {found[0]!r}, not {fingerprint!r}")

    @classmethod
    def open(cls, folder: Path, fingerprint: str) -> EmbeddingCache:
        return cls(cache_file(folder, fingerprint), fingerprint)

    def get(self, digests: Sequence[str]) -> dict[str, NDArray[np.float32]]:
        found: dict[str, NDArray[np.float32]] = {}
        for start in range(0, len(digests), 500):
            chunk = list(digests[start : start + 500])
            marks = ",".join("?" * len(chunk))
            query = f"SELECT digest, dim, data FROM vectors WHERE digest IN ({marks})"  # noqa: S608 - only marks
            for digest, dim, data in self._db.execute(query, chunk):
                vector = np.frombuffer(data, dtype=np.float32)
                if vector.shape != (dim,):
                    raise DataError(f"{self.path}: the vector of {digest} is damaged")
                found[digest] = vector
        return found

    def put(self, rows: Iterable[tuple[str, NDArray[np.float32]]]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                [(d, int(v.shape[0]), np.ascontiguousarray(v, dtype=np.float32).tobytes()) for d, v in rows],
            )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        self._db.close()


def merge_caches(into: Path, sources: Iterable[Path]) -> tuple[int, int]:
    """Copy the vectors of other cache files into the folder ``into`` (each to the file of its fingerprint).
    Returns (files read, vectors added)."""
    files = added = 0
    for source in sources:
        try:
            db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            found = db.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise DataError(f"{source}: not an embedding cache ({exc})") from None
        if found is None:
            raise DataError(f"{source}: not an embedding cache (no fingerprint)")
        target = EmbeddingCache.open(into, found[0])
        before = len(target)
        target.put((d, np.frombuffer(data, dtype=np.float32)) for d, _dim, data in db.execute("SELECT * FROM vectors"))
        added += len(target) - before
        target.close()
        db.close()
        files += 1
    return files, added
