"""Vector storage: SQLite (WAL) is the source of truth, a numpy matrix per namespace the cache.

Writes take one lock and run in one transaction each, so a crash mid-request leaves the previous
state and concurrent writers never interleave. Every write drops the cache of the namespaces it
touched; the next search rebuilds it from SQLite, so a query is one matrix-vector product plus
``argpartition`` however many vectors the namespace holds.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ragfood_vector.filters import Predicate, is_match_all
from ragfood_vector.protocol import VectorItem, encode_metadata

SCHEMA_VERSION = "1"
DB_FILENAME = "vectors.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS namespaces (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS vectors (
    namespace TEXT NOT NULL,
    id TEXT NOT NULL,
    vector BLOB NOT NULL,
    metadata TEXT,
    data TEXT,
    PRIMARY KEY (namespace, id)
);
"""


class StoreMismatchError(RuntimeError):
    """The data directory was created for vectors of another dimension."""


@dataclass(frozen=True)
class StoredVector:
    id: str
    vector: np.ndarray | None = None
    metadata: dict[str, Any] | None = None
    data: str | None = None


@dataclass(frozen=True)
class Hit:
    id: str
    cosine: float


@dataclass
class _Snapshot:
    """Search cache of one namespace; ids sorted so equal scores come back in id order."""

    ids: list[str]
    matrix: np.ndarray  # (n, dimension) float32, rows L2-normalised (zero rows stay zero)
    metadata_json: list[str | None]
    _metadata: list[dict[str, Any] | None] | None = field(default=None, repr=False)

    def metadata(self) -> list[dict[str, Any] | None]:
        # Parsed only when a filter needs it: unfiltered search never pays for json.loads.
        if self._metadata is None:
            self._metadata = [json.loads(m) if m else None for m in self.metadata_json]
        return self._metadata


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch: null removes a key, objects merge recursively, else replace."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _prefix_bounds(prefix: str) -> tuple[str, str | None]:
    """``lo <= id < hi`` selects the ids starting with ``prefix`` (SQLite compares UTF-8 bytes,
    which orders like code points)."""
    last = ord(prefix[-1])
    if last == 0x10FFFF:
        return prefix, None
    following = last + 1 if last + 1 not in range(0xD800, 0xE000) else 0xE000
    return prefix, prefix[:-1] + chr(following)


class VectorStore:
    def __init__(
        self, data_dir: Path, *, dimension: int, embedder: str, embedding_model: str
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_FILENAME
        self.dimension = dimension
        self._lock = threading.RLock()
        self._snapshots: dict[str, _Snapshot] = {}
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._writer = self._connect()
        self._writer.executescript(_SCHEMA)
        self._check_meta(embedder, embedding_model)
        self._writer.execute("INSERT OR IGNORE INTO namespaces(name) VALUES ('')")
        self.created_by: str = self._meta("embedder") or embedder

    # -- connections -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are opened explicitly, so each request is exactly
        # one. check_same_thread=False only so close() can run from the shutdown thread.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _reader(self) -> sqlite3.Connection:
        # A connection per thread: WAL lets readers proceed while a write is in progress.
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in [*self._readers, self._writer]:
                conn.close()
            self._readers.clear()

    def _meta(self, key: str) -> str | None:
        row = self._writer.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _check_meta(self, embedder: str, embedding_model: str) -> None:
        stored = self._meta("dimension")
        if stored is None:
            with self._transaction() as conn:
                conn.executemany(
                    "INSERT INTO meta(key, value) VALUES (?, ?)",
                    [
                        ("schema_version", SCHEMA_VERSION),
                        ("dimension", str(self.dimension)),
                        ("embedder", embedder),
                        ("embedding_model", embedding_model),
                    ],
                )
            return
        if int(stored) != self.dimension:
            raise StoreMismatchError(
                f"The data directory {self.path.parent} holds {stored}-dimensional vectors "
                f"(created with the {self._meta('embedder')} embedder), but this service is "
                f"configured for dimension {self.dimension}. Use the same --embedder/--dimension "
                f"or another --data-dir."
            )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")

    def _invalidate(self, namespace: str | None = None) -> None:
        if namespace is None:
            self._snapshots.clear()
        else:
            self._snapshots.pop(namespace, None)

    # -- writes ------------------------------------------------------------------------------

    def upsert(self, namespace: str, items: Sequence[VectorItem]) -> None:
        rows = []
        for item in items:
            assert item.vector is not None, "items must be embedded before they are stored"
            rows.append(
                (
                    namespace,
                    item.id,
                    item.vector.astype(np.float32).tobytes(),
                    item.metadata_json,
                    item.data,
                )
            )
        with self._transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO namespaces(name) VALUES (?)", (namespace,))
            conn.executemany(
                "INSERT INTO vectors(namespace, id, vector, metadata, data) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(namespace, id) DO UPDATE SET"
                " vector = excluded.vector, metadata = excluded.metadata, data = excluded.data",
                rows,
            )
            self._invalidate(namespace)

    def update(
        self,
        namespace: str,
        vector_id: str,
        *,
        vector: np.ndarray | None,
        data: str | None,
        metadata: dict[str, Any] | None,
        patch: bool,
    ) -> bool:
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT metadata FROM vectors WHERE namespace = ? AND id = ?",
                (namespace, vector_id),
            ).fetchone()
            if row is None:
                return False
            assignments: list[str] = []
            params: list[Any] = []
            if vector is not None:
                assignments.append("vector = ?")
                params.append(vector.astype(np.float32).tobytes())
            if data is not None:
                assignments.append("data = ?")
                params.append(data)
            if metadata is not None:
                current = json.loads(row[0]) if row[0] else {}
                merged = merge_patch(current, metadata) if patch else metadata
                assignments.append("metadata = ?")
                params.append(encode_metadata(merged, f"vector {vector_id!r}"))
            conn.execute(
                f"UPDATE vectors SET {', '.join(assignments)} WHERE namespace = ? AND id = ?",
                (*params, namespace, vector_id),
            )
            self._invalidate(namespace)
            return True

    def delete_ids(self, namespace: str, ids: Sequence[str]) -> int:
        unique = list(dict.fromkeys(ids))
        if not unique:
            return 0
        with self._transaction() as conn:
            placeholders = ",".join("?" * len(unique))
            deleted = conn.execute(
                f"DELETE FROM vectors WHERE namespace = ? AND id IN ({placeholders})",
                (namespace, *unique),
            ).rowcount
            self._invalidate(namespace)
            return int(deleted)

    def delete_prefix(self, namespace: str, prefix: str) -> int:
        low, high = _prefix_bounds(prefix)
        with self._transaction() as conn:
            if high is None:
                cursor = conn.execute(
                    "DELETE FROM vectors WHERE namespace = ? AND id >= ?", (namespace, low)
                )
            else:
                cursor = conn.execute(
                    "DELETE FROM vectors WHERE namespace = ? AND id >= ? AND id < ?",
                    (namespace, low, high),
                )
            self._invalidate(namespace)
            return int(cursor.rowcount)

    def delete_matching(self, namespace: str, predicate: Predicate) -> int:
        with self._lock:
            snapshot = self._snapshot(namespace)
            metadata = snapshot.metadata()
            ids = [vid for vid, meta in zip(snapshot.ids, metadata, strict=True) if predicate(meta)]
            if not ids:
                return 0
            deleted = 0
            # Chunked to stay under SQLite's limit on bound parameters.
            with self._transaction() as conn:
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    placeholders = ",".join("?" * len(chunk))
                    deleted += conn.execute(
                        f"DELETE FROM vectors WHERE namespace = ? AND id IN ({placeholders})",
                        (namespace, *chunk),
                    ).rowcount
                self._invalidate(namespace)
            return deleted

    def reset(self, namespace: str) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM vectors WHERE namespace = ?", (namespace,))
            self._invalidate(namespace)

    def reset_all(self) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM vectors")
            self._invalidate()

    def delete_namespace(self, namespace: str) -> bool:
        with self._transaction() as conn:
            if conn.execute("DELETE FROM namespaces WHERE name = ?", (namespace,)).rowcount == 0:
                return False
            conn.execute("DELETE FROM vectors WHERE namespace = ?", (namespace,))
            self._invalidate(namespace)
            return True

    # -- reads -------------------------------------------------------------------------------

    def _columns(self, vectors: bool, metadata: bool, data: bool) -> str:
        # Only read the blobs and texts that the answer will include.
        return ", ".join(
            [
                "id",
                "vector" if vectors else "NULL",
                "metadata" if metadata else "NULL",
                "data" if data else "NULL",
            ]
        )

    def _row(self, row: Sequence[Any]) -> StoredVector:
        vector_id, blob, metadata, data = row
        return StoredVector(
            id=vector_id,
            vector=None if blob is None else np.frombuffer(blob, dtype=np.float32),
            metadata=None if metadata is None else json.loads(metadata),
            data=data,
        )

    def fetch(
        self, namespace: str, ids: Sequence[str], *, vectors: bool, metadata: bool, data: bool
    ) -> list[StoredVector | None]:
        if not ids:
            return []
        unique = list(dict.fromkeys(ids))
        rows = self._reader().execute(
            f"SELECT {self._columns(vectors, metadata, data)} FROM vectors"
            f" WHERE namespace = ? AND id IN ({','.join('?' * len(unique))})",
            (namespace, *unique),
        )
        found = {row[0]: self._row(row) for row in rows}
        return [found.get(vector_id) for vector_id in ids]

    def scan(
        self,
        namespace: str,
        *,
        start_id: str | None,
        prefix: str | None,
        limit: int,
        vectors: bool,
        metadata: bool,
        data: bool,
    ) -> tuple[list[StoredVector], str | None]:
        """Up to ``limit`` vectors in id order from ``start_id`` (inclusive), and the next id."""
        conditions = ["namespace = ?"]
        params: list[Any] = [namespace]
        if prefix is not None:
            low, high = _prefix_bounds(prefix)
            conditions.append("id >= ?")
            params.append(low)
            if high is not None:
                conditions.append("id < ?")
                params.append(high)
        if start_id is not None:
            conditions.append("id >= ?")
            params.append(start_id)
        rows = (
            self._reader()
            .execute(
                f"SELECT {self._columns(vectors, metadata, data)} FROM vectors"
                f" WHERE {' AND '.join(conditions)} ORDER BY id LIMIT ?",
                (*params, limit + 1),
            )
            .fetchall()
        )
        next_id = rows[limit][0] if len(rows) > limit else None
        return [self._row(row) for row in rows[:limit]], next_id

    def namespace_counts(self) -> dict[str, int]:
        rows = self._reader().execute(
            "SELECT n.name, COUNT(v.id) FROM namespaces n"
            " LEFT JOIN vectors v ON v.namespace = n.name GROUP BY n.name ORDER BY n.name"
        )
        return {name: int(count) for name, count in rows}

    def namespaces(self) -> list[str]:
        rows = self._reader().execute("SELECT name FROM namespaces ORDER BY name")
        return [name for (name,) in rows]

    def size_bytes(self) -> int:
        conn = self._reader()
        page_count = conn.execute("PRAGMA page_count").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        return int(page_count) * int(page_size)

    # -- search ------------------------------------------------------------------------------

    def _snapshot(self, namespace: str) -> _Snapshot:
        snapshot = self._snapshots.get(namespace)
        if snapshot is not None:
            return snapshot
        with self._lock:
            snapshot = self._snapshots.get(namespace)
            if snapshot is None:
                snapshot = self._load(namespace)
                self._snapshots[namespace] = snapshot
            return snapshot

    def _load(self, namespace: str) -> _Snapshot:
        # Called under the lock, through the writer connection, so no write can slip in between
        # the count and the rows.
        (count,) = self._writer.execute(
            "SELECT COUNT(*) FROM vectors WHERE namespace = ?", (namespace,)
        ).fetchone()
        matrix = np.empty((count, self.dimension), dtype=np.float32)
        ids: list[str] = []
        metadata: list[str | None] = []
        cursor = self._writer.execute(
            "SELECT id, vector, metadata FROM vectors WHERE namespace = ? ORDER BY id",
            (namespace,),
        )
        filled = 0
        # In chunks: one numpy copy per chunk is fast, and memory stays near the matrix size.
        while chunk := cursor.fetchmany(8192):
            vector_ids, blobs, metas = zip(*chunk, strict=True)
            block = np.frombuffer(b"".join(blobs), dtype=np.float32)
            matrix[filled : filled + len(chunk)] = block.reshape(len(chunk), self.dimension)
            ids.extend(vector_ids)
            metadata.extend(metas)
            filled += len(chunk)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        np.divide(matrix, norms, out=matrix, where=norms > 0)
        return _Snapshot(ids=ids, matrix=matrix, metadata_json=metadata)

    def warm(self, namespace: str) -> None:
        """Build the search cache of ``namespace`` now rather than on its first query."""
        self._snapshot(namespace)

    def search(
        self,
        namespace: str,
        queries: np.ndarray,
        top_k: Sequence[int],
        predicates: Sequence[Predicate],
    ) -> list[list[Hit]]:
        """The ``top_k[i]`` nearest vectors to ``queries[i]`` (cosine) passing ``predicates[i]``."""
        snapshot = self._snapshot(namespace)
        if not snapshot.ids:
            return [[] for _ in range(len(queries))]
        norms = np.linalg.norm(queries, axis=1, keepdims=True)
        unit = np.divide(queries, norms, out=np.zeros_like(queries), where=norms > 0)
        unit = unit.astype(np.float32)
        if len(unit) == 1:
            # A matrix-vector product (gemv) is markedly faster than a one-column gemm here.
            cosines = (snapshot.matrix @ unit[0])[:, np.newaxis]
        else:
            cosines = snapshot.matrix @ unit.T  # (n, number of queries)
        return [
            self._top(snapshot, cosines[:, column], k, predicate)
            for column, (k, predicate) in enumerate(zip(top_k, predicates, strict=True))
        ]

    @staticmethod
    def _top(snapshot: _Snapshot, cosines: np.ndarray, k: int, predicate: Predicate) -> list[Hit]:
        n = len(cosines)
        if is_match_all(predicate):
            # argpartition finds the k best in O(n) without sorting the rest.
            candidates = np.argpartition(-cosines, k - 1)[:k] if k < n else np.arange(n)
            # Best first; ties by row, i.e. by id.
            order = candidates[np.lexsort((candidates, -cosines[candidates]))]
            return [Hit(snapshot.ids[i], float(cosines[i])) for i in order]
        metadata = snapshot.metadata()
        # Check candidates best first, in growing windows: a common filter is satisfied within the
        # first few windows, so a full sort of n scores is only paid for by very selective ones.
        window = min(n, max(64, 8 * k))
        # A mask rather than a position: with tied scores at a window's edge, a wider window may
        # order the tied rows differently.
        checked = np.zeros(n, dtype=bool)
        hits: list[Hit] = []
        while True:
            if window < n:
                candidates = np.argpartition(-cosines, window - 1)[:window]
            else:
                candidates = np.arange(n)
            ordered = candidates[np.lexsort((candidates, -cosines[candidates]))]
            for i in ordered[~checked[ordered]]:
                if predicate(metadata[i]):
                    hits.append(Hit(snapshot.ids[i], float(cosines[i])))
                    if len(hits) == k:
                        return hits
            if window == n:
                return hits
            checked[ordered] = True
            window = min(n, window * 8)
