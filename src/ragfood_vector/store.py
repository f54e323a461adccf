"""Vector storage: SQLite (WAL) is the source of truth, an in-memory snapshot per namespace the
cache (a numpy matrix for the dense side, flat postings for the sparse side: see ``search``).

Writes take one lock and run in one transaction each, so a crash mid-request leaves the previous
state and concurrent writers never interleave. Every write drops the cache of the namespaces it
touched; the next search rebuilds it from SQLite, so a query is one matrix-vector product plus
``argpartition`` however many vectors the namespace holds. Sparse vectors live in the same rows
as the dense ones, so deletes, resets and namespaces cover both sides by construction, and the
sparse side's IDF statistics are those of the current snapshot.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragfood_vector.filters import Predicate
from ragfood_vector.protocol import VectorItem, encode_metadata
from ragfood_vector.search import Hit, Snapshot, SparsePostings, dense_search
from ragfood_vector.sparse import SparseVector

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
    sparse_indices BLOB,
    sparse_values BLOB,
    PRIMARY KEY (namespace, id)
);
"""
# Columns added after the first schema: (name, type), added to older databases on open.
_ADDED_COLUMNS = (("sparse_indices", "BLOB"), ("sparse_values", "BLOB"))


class StoreMismatchError(RuntimeError):
    """The data directory was created for vectors of another dimension."""


@dataclass(frozen=True)
class StoredVector:
    id: str
    vector: np.ndarray | None = None
    metadata: dict[str, Any] | None = None
    data: str | None = None
    sparse: SparseVector | None = None


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
        self,
        data_dir: Path,
        *,
        dimension: int,
        embedder: str,
        embedding_model: str,
        sparse: bool = False,
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_FILENAME
        self.dimension = dimension
        # Whether snapshots carry the sparse side (a hybrid index); stored rows keep theirs anyway.
        self.sparse = sparse
        self._lock = threading.RLock()
        self._snapshots: dict[str, Snapshot] = {}
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._writer = self._connect()
        self._writer.executescript(_SCHEMA)
        self._add_missing_columns()
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

    def _add_missing_columns(self) -> None:
        present = {row[1] for row in self._writer.execute("PRAGMA table_info(vectors)")}
        for name, kind in _ADDED_COLUMNS:
            if name not in present:
                self._writer.execute(f"ALTER TABLE vectors ADD COLUMN {name} {kind}")

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
                    *_sparse_columns(item.sparse),
                )
            )
        with self._transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO namespaces(name) VALUES (?)", (namespace,))
            conn.executemany(
                "INSERT INTO vectors(namespace, id, vector, metadata, data,"
                " sparse_indices, sparse_values) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(namespace, id) DO UPDATE SET"
                " vector = excluded.vector, metadata = excluded.metadata, data = excluded.data,"
                " sparse_indices = excluded.sparse_indices, sparse_values = excluded.sparse_values",
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
        sparse: SparseVector | None = None,
        drop_sparse: bool = False,
    ) -> bool:
        """Change what is given (None: unchanged); ``drop_sparse`` clears the sparse vector."""
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
            if sparse is not None or drop_sparse:
                assignments.append("sparse_indices = ?, sparse_values = ?")
                params.extend(_sparse_columns(sparse))
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
            snapshot = self.snapshot(namespace)
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
        sparse = vectors and self.sparse
        return ", ".join(
            [
                "id",
                "vector" if vectors else "NULL",
                "metadata" if metadata else "NULL",
                "data" if data else "NULL",
                "sparse_indices" if sparse else "NULL",
                "sparse_values" if sparse else "NULL",
            ]
        )

    def _row(self, row: Sequence[Any]) -> StoredVector:
        vector_id, blob, metadata, data, sparse_indices, sparse_values = row
        return StoredVector(
            id=vector_id,
            vector=None if blob is None else np.frombuffer(blob, dtype=np.float32),
            metadata=None if metadata is None else json.loads(metadata),
            data=data,
            sparse=None
            if sparse_indices is None
            else SparseVector(
                np.frombuffer(sparse_indices, dtype=np.int32),
                np.frombuffer(sparse_values, dtype=np.float32),
            ),
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

    def snapshot(self, namespace: str) -> Snapshot:
        """The search cache of ``namespace`` (built from SQLite if a write dropped it)."""
        snapshot = self._snapshots.get(namespace)
        if snapshot is not None:
            return snapshot
        with self._lock:
            snapshot = self._snapshots.get(namespace)
            if snapshot is None:
                snapshot = self._load(namespace)
                self._snapshots[namespace] = snapshot
            return snapshot

    def _load(self, namespace: str) -> Snapshot:
        # Called under the lock, through the writer connection, so no write can slip in between
        # the count and the rows.
        (count,) = self._writer.execute(
            "SELECT COUNT(*) FROM vectors WHERE namespace = ?", (namespace,)
        ).fetchone()
        matrix = np.empty((count, self.dimension), dtype=np.float32)
        ids: list[str] = []
        metadata: list[str | None] = []
        sparse = _SparseBuilder() if self.sparse else None
        columns = "sparse_indices, sparse_values" if sparse else "NULL, NULL"
        cursor = self._writer.execute(
            f"SELECT id, vector, metadata, {columns} FROM vectors WHERE namespace = ? ORDER BY id",
            (namespace,),
        )
        filled = 0
        # In chunks: one numpy copy per chunk is fast, and memory stays near the matrix size.
        while chunk := cursor.fetchmany(8192):
            vector_ids, blobs, metas, sparse_indices, sparse_values = zip(*chunk, strict=True)
            block = np.frombuffer(b"".join(blobs), dtype=np.float32)
            matrix[filled : filled + len(chunk)] = block.reshape(len(chunk), self.dimension)
            if sparse is not None:
                sparse.add(filled, sparse_indices, sparse_values)
            ids.extend(vector_ids)
            metadata.extend(metas)
            filled += len(chunk)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        np.divide(matrix, norms, out=matrix, where=norms > 0)
        snapshot = Snapshot(ids=ids, matrix=matrix, metadata_json=metadata)
        if sparse is not None:
            snapshot.sparse = sparse.build()
        return snapshot

    def warm(self, namespace: str) -> None:
        """Build the search cache of ``namespace`` now rather than on its first query."""
        self.snapshot(namespace)

    def search(
        self,
        namespace: str,
        queries: np.ndarray,
        top_k: Sequence[int],
        predicates: Sequence[Predicate],
    ) -> list[list[Hit]]:
        """The ``top_k[i]`` nearest vectors to ``queries[i]`` (cosine) passing ``predicates[i]``."""
        return dense_search(self.snapshot(namespace), queries, list(top_k), list(predicates))

    def backfill_sparse(self, embed: Callable[[str], SparseVector]) -> int:
        """Give rows stored without a sparse vector (by a dense-only service) one from their data.

        Lets a data directory filled by ``--sparse none`` be served as a hybrid index. Rows
        without data stay without a sparse vector: they never match on the sparse side.
        """
        with self._lock:
            rows = self._writer.execute(
                "SELECT namespace, id, data FROM vectors"
                " WHERE sparse_indices IS NULL AND data IS NOT NULL"
            ).fetchall()
            if not rows:
                return 0
            with self._transaction() as conn:
                conn.executemany(
                    "UPDATE vectors SET sparse_indices = ?, sparse_values = ?"
                    " WHERE namespace = ? AND id = ?",
                    [(*_sparse_columns(embed(data)), ns, vid) for ns, vid, data in rows],
                )
                self._invalidate()
            return len(rows)


def _sparse_columns(sparse: SparseVector | None) -> tuple[bytes | None, bytes | None]:
    if sparse is None:
        return None, None
    return sparse.indices.astype(np.int32).tobytes(), sparse.values.astype(np.float32).tobytes()


class _SparseBuilder:
    """Collects the sparse columns of a namespace's rows, chunk by chunk, into postings."""

    def __init__(self) -> None:
        self._dims: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        self._values: list[np.ndarray] = []
        self.documents = 0

    def add(
        self, first_row: int, indices: Sequence[bytes | None], values: Sequence[bytes | None]
    ) -> None:
        lengths = np.array([0 if b is None else len(b) // 4 for b in indices], dtype=np.int64)
        self.documents += sum(b is not None for b in indices)
        if not lengths.any():
            return
        self._dims.append(np.frombuffer(b"".join(b for b in indices if b), dtype=np.int32))
        self._values.append(np.frombuffer(b"".join(b for b in values if b), dtype=np.float32))
        rows = np.arange(first_row, first_row + len(lengths), dtype=np.int32)
        self._rows.append(np.repeat(rows, lengths))

    def build(self) -> SparsePostings:
        if not self._dims:
            postings = SparsePostings.empty()
            postings.documents = self.documents
            return postings
        return SparsePostings.build(
            np.concatenate(self._dims),
            np.concatenate(self._rows),
            np.concatenate(self._values),
            self.documents,
        )
