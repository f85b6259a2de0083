"""Label cache: teacher answers keyed by sha256(audio) + teacher id + label-set id (SQLite, WAL).

Several processes (``--shard i/n``) may write one cache at once; rows from other machines are
merged with :meth:`LabelCache.merge`. Each batch commits on its own, so a killed run loses at most
the batch in flight and a rerun skips everything committed.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from assistant.errors import AssistantError

SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    audio_sha TEXT NOT NULL, teacher TEXT NOT NULL, labelset TEXT NOT NULL,
    labels TEXT NOT NULL, probs TEXT NOT NULL, transcript TEXT NOT NULL, raw TEXT NOT NULL,
    seconds REAL NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (audio_sha, teacher, labelset))
"""


@dataclass(frozen=True)
class CachedLabel:
    """One cached teacher answer."""

    labels: tuple[str, ...]
    probs: np.ndarray
    """(len(labels),) soft labels."""
    transcript: dict
    raw: dict
    seconds: float

    @property
    def top(self) -> str:
        """Most probable label."""
        return self.labels[int(np.argmax(self.probs))]


class LabelCache:
    """SQLite-backed store of teacher labels."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=60)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(SCHEMA)
            self.db.commit()
        except sqlite3.DatabaseError as e:
            raise AssistantError(f"{self.path}: not a usable label cache ({e}); move it away and rerun") from e

    def get_many(self, shas: Iterable[str], teacher: str, labelset: str) -> dict[str, CachedLabel]:
        """Cached answers for the given audio hashes (missing ones are absent)."""
        shas = list(shas)
        out: dict[str, CachedLabel] = {}
        for i in range(0, len(shas), 500):
            chunk = shas[i:i + 500]
            rows = self.db.execute(
                f"SELECT audio_sha, labels, probs, transcript, raw, seconds FROM labels WHERE teacher=? "
                f"AND labelset=? AND audio_sha IN ({','.join('?' * len(chunk))})", (teacher, labelset, *chunk))
            for sha, labels, probs, transcript, raw, seconds in rows:
                out[sha] = CachedLabel(tuple(json.loads(labels)), np.array(json.loads(probs)),
                                       json.loads(transcript), json.loads(raw), seconds)
        return out

    def put_many(self, rows: list[tuple[str, CachedLabel]], teacher: str, labelset: str) -> None:
        """Store answers and commit (one transaction)."""
        now = time.time()
        try:
            with self.db:  # all or nothing: a full disk leaves the rows stored before this batch, readable
                self.db.executemany(
                    "INSERT OR REPLACE INTO labels VALUES (?,?,?,?,?,?,?,?,?)",
                    [(sha, teacher, labelset, json.dumps(list(c.labels)), json.dumps([round(float(p), 6) for p in c.probs]),
                      json.dumps(c.transcript), json.dumps(c.raw), c.seconds, now) for sha, c in rows])
        except sqlite3.Error as e:
            raise AssistantError(f"{self.path}: cannot store labels ({e}); free disk space and rerun the same "
                                 "command: the labels stored so far are kept") from e

    def count(self, teacher: str | None = None) -> int:
        """Rows in the cache (for one teacher, if given)."""
        if teacher is None:
            return self.db.execute("SELECT COUNT(*) FROM labels").fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM labels WHERE teacher=?", (teacher,)).fetchone()[0]

    def merge(self, other: str | Path) -> int:
        """Copy rows from another cache file (e.g. a shard labelled on another machine); returns rows added."""
        before = self.count()
        with self.db:
            self.db.execute("ATTACH DATABASE ? AS other", (str(other),))
            self.db.execute("INSERT OR IGNORE INTO labels SELECT * FROM other.labels")
        self.db.execute("DETACH DATABASE other")
        return self.count() - before

    def close(self) -> None:
        """Close the database."""
        self.db.close()
