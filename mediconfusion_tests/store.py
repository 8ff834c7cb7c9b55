"""The answer store: raw answers kept in SQLite so an interrupted run resumes.

Keyed by model fingerprint, mode, prompt text, image content hash and
generation settings; parsing happens after the store, so changing the answer
parser never invalidates it. Each pair's answers are committed together, so a
run killed with SIGKILL loses at most the pair in flight. Several xdist
workers share one file (WAL mode, busy timeout).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mediconfusion_tests.models.base import Answer, Query

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    mode TEXT NOT NULL,
    pair_id TEXT NOT NULL,
    image_index INTEGER NOT NULL,
    answer TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def answer_key(fingerprint: str, query: Query, settings: dict[str, Any]) -> str:
    material = json.dumps(
        [fingerprint, query.mode, query.prompt, query.image_sha256, query.options, settings],
        sort_keys=True,
        ensure_ascii=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()


def _initialise(connection: sqlite3.Connection, deadline_s: float = 60.0) -> None:
    """WAL mode and the table, retried: switching journal mode while another worker
    opens the same new file fails at once with "database is locked" (no busy wait)."""
    waited, pause = 0.0, 0.02
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(_SCHEMA)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or waited > deadline_s:
                raise
            time.sleep(pause)
            waited += pause
            pause = min(pause * 2, 0.5)


class AnswerStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            _initialise(connection)
            self._connection = connection
        return self._connection

    def get_many(self, keys: Sequence[str]) -> dict[str, Answer]:
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        rows = self._db().execute(f"SELECT key, answer FROM answers WHERE key IN ({marks})", list(keys))
        return {key: Answer.from_dict(json.loads(text)) for key, text in rows}

    def put_many(self, fingerprint: str, items: Sequence[tuple[str, Query, Answer]]) -> None:
        if not items:
            return
        now = time.time()
        rows = [
            (key, fingerprint, q.mode, q.pair_id, q.image_index, json.dumps(a.to_dict()), now) for key, q, a in items
        ]
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def count(self) -> int:
        return int(self._db().execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
