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
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.errors import ConfigError
from mediconfusion_tests.models.base import Answer, Query, check_answer
from mediconfusion_tests.redaction import scrub

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

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


#: Bumped whenever what a key covers changes, so old rows are never read under a new meaning.
KEY_VERSION = 2
_COLUMNS = {"key", "fingerprint", "mode", "pair_id", "image_index", "answer", "created"}


def answer_key(fingerprint: str, query: Query, settings: dict[str, Any]) -> str:
    """Everything that identifies the question asked: the pair and image (its content, and its identity
    for models that never read pixels), the prompt, mode, options, model and generation settings."""
    material = json.dumps(
        [
            KEY_VERSION,
            fingerprint,
            query.mode,
            query.pair_id,
            query.image_index,
            query.image_id,
            query.image_sha256,
            query.prompt,
            query.options,
            settings,
            # Only when set, so the keys of every answer stored before system messages existed still match.
            *([query.system] if query.system else []),
        ],
        sort_keys=True,
        ensure_ascii=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()


def check_store_file(path: Path) -> None:
    """Refuse, before any model loads, a store that is a folder or not a readable answer store."""
    if path.is_dir():
        raise ConfigError(f"--answer-store {path} is a folder; give a file path, e.g. {path / 'answers.sqlite'}")
    if not path.exists():
        return
    fix = f"delete it (rm {path}) or run with --no-cache"
    try:
        connection = sqlite3.connect(path, timeout=60)
        try:
            verdict = connection.execute("PRAGMA quick_check").fetchone()
            columns = {row[1] for row in connection.execute("PRAGMA table_info(answers)")}
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise ConfigError(f"answer store {path} cannot be read ({exc}): {fix}") from None
    if verdict is None or verdict[0] != "ok":
        raise ConfigError(f"answer store {path} is damaged ({verdict[0] if verdict else 'no answer'}): {fix}")
    if columns and not columns >= _COLUMNS:
        raise ConfigError(f"answer store {path} is not a mediconfusion-tests answer store (its columns differ): {fix}")


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
        #: Rows found but not readable (damaged by hand or by another tool); they are answered again.
        self.unreadable = 0

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            _initialise(connection)
            self._connection = connection
        return self._connection

    def get_many(self, keys: Sequence[str]) -> dict[str, Answer]:
        """Stored answers by key; a row that cannot be read counts as missing (recomputed and overwritten)."""
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        # Only placeholders are formatted in; the keys themselves are bound parameters.
        query = f"SELECT key, answer FROM answers WHERE key IN ({marks})"  # noqa: S608
        rows = self._db().execute(query, list(keys))
        found = {}
        for key, text in rows:
            try:
                found[key] = check_answer(Answer.from_dict(json.loads(text)))
            except (TypeError, ValueError, AttributeError, RecursionError):
                self.unreadable += 1
        return found

    def put_many(self, fingerprint: str, items: Sequence[tuple[str, Query, Answer]]) -> None:
        if not items:
            return
        now = time.time()
        rows = [
            (key, fingerprint, q.mode, q.pair_id, q.image_index, scrub(json.dumps(a.to_dict(), allow_nan=False)), now)
            for key, q, a in items
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


def merge_stores(target: Path, sources: Sequence[Path]) -> dict[str, int]:
    """Copy every answer of ``sources`` into ``target`` (created when missing); new rows per source.

    Keys cover everything that identifies a question, so a key found in both holds the same question:
    the target's row is kept. Each source is checked first, and copied in one transaction.
    """
    for source in sources:
        if not source.is_file():
            raise ConfigError(f"answer store {source} does not exist")
        check_store_file(source)
        if target.exists() and source.resolve() == target.resolve():
            raise ConfigError(f"answer store {source} is the target itself")
    check_store_file(target)
    store = AnswerStore(target)
    added: dict[str, int] = {}
    try:
        db = store._db()
        for source in sources:
            before = store.count()
            db.execute("ATTACH DATABASE ? AS source", (str(source),))
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    db.execute(
                        "INSERT OR IGNORE INTO answers (key, fingerprint, mode, pair_id, image_index, answer, created) "
                        "SELECT key, fingerprint, mode, pair_id, image_index, answer, created FROM source.answers"
                    )
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            finally:
                db.execute("DETACH DATABASE source")
            added[str(source)] = store.count() - before
    except sqlite3.Error as exc:
        raise ConfigError(f"merging answer stores into {target} failed: {exc}") from None
    finally:
        store.close()
    return added
