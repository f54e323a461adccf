"""Read a ChromaDB persistent directory without changing a byte of it.

Opening a directory with `chromadb.PersistentClient` rewrites it (the sqlite file and the HNSW
segment files are touched even by a read-only session), so we never open the user's directory:
we copy it to a temporary directory and open the copy. Telemetry is off and no embedding function
is ever attached, so nothing here reaches the network (Chroma's default one downloads a model).

`chromadb` is imported inside the functions: it is local tooling, heavy to import, and absent
from the Lambda layer.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PAGE_SIZE = 500  # documents per `collection.get`; bounded memory per page, few round trips
CHROMA_DB_FILE = "chroma.sqlite3"
COPY_PREFIX = "ragfood-chroma-"  # + pid: a copy whose process is gone is removed by the next run
LEGACY_MARK = "chroma-"  # chroma-collections.parquet, chroma-embeddings.parquet (chromadb < 0.4)

ReadProgress = Callable[[int, int], None]  # (documents read so far, total)


class ChromaSourceError(Exception):
    """The directory or collection cannot be migrated; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class ChromaRow:
    id: str
    document: str | None
    metadata: dict[str, Any]


@dataclass
class ChromaCollection:
    """Everything read from one collection (documents and metadata; never its embeddings)."""

    name: str
    rows: list[ChromaRow] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    handle: Any = None  # the chromadb Collection of the private copy, for queries (--compare)

    @property
    def id(self) -> str | None:
        """Chroma's id of the collection (a UUID): tells apart collections of the same name."""
        collection_id = getattr(self.handle, "id", None)
        return None if collection_id is None else str(collection_id)

    @property
    def space(self) -> str:
        """The distance the collection was built with (Chroma's default is l2)."""
        configuration = getattr(self.handle, "configuration_json", None) or {}
        hnsw = configuration.get("hnsw") or {}
        return str(hnsw.get("space") or self.metadata.get("hnsw:space") or "l2")


def check_chroma_dir(path: Path) -> None:
    if not path.exists():
        raise ChromaSourceError(f"{path} does not exist")
    if not path.is_dir():
        raise ChromaSourceError(
            f"{path} is a file, not a ChromaDB directory; pass the directory that holds "
            f"{CHROMA_DB_FILE} (the `path` given to chromadb.PersistentClient)"
        )
    if (path / CHROMA_DB_FILE).is_file():
        return
    if any(path.glob(f"{LEGACY_MARK}*.parquet")):
        raise ChromaSourceError(
            f"{path} is a ChromaDB directory from before 0.4 (DuckDB + Parquet files, no "
            f"{CHROMA_DB_FILE}), which chromadb no longer reads: convert it first with Chroma's "
            "tool (`pip install chroma-migrate && chroma-migrate`), then migrate the new directory"
        )
    # The app's folder rather than its store (./chroma_db inside it): name the stores found.
    inside = sorted(str(p.parent) for p in path.glob(f"*/{CHROMA_DB_FILE}"))[:5]
    hint = f"; did you mean {' or '.join(inside)}?" if inside else ""
    raise ChromaSourceError(
        f"{path} is not a ChromaDB persistent directory (no {CHROMA_DB_FILE} in it); pass "
        f"the directory given to chromadb.PersistentClient(path=...){hint}"
    )


def _dir_size(path: Path) -> int:
    return sum(
        (Path(root) / name).stat().st_size for root, _, names in os.walk(path) for name in names
    )


def _remove_stale_copies() -> None:
    """Copies left in TMPDIR by migrations that were killed (SIGKILL, out of memory), whose
    process is gone: each is as large as the directory it copied."""
    for stale in Path(tempfile.gettempdir()).glob(f"{COPY_PREFIX}*-*"):
        pid = stale.name.removeprefix(COPY_PREFIX).partition("-")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(stale, ignore_errors=True)
        except OSError:  # alive, or another user's: not ours to remove
            continue


@contextmanager
def open_snapshot(path: Path) -> Iterator[Any]:
    """A chromadb client on a private copy of `path`; the copy is removed afterwards."""
    check_chroma_dir(path)
    _remove_stale_copies()
    with tempfile.TemporaryDirectory(prefix=f"{COPY_PREFIX}{os.getpid()}-") as tmp:
        needed, free = _dir_size(path), shutil.disk_usage(tmp).free
        if needed > free:
            raise ChromaSourceError(
                f"{path} holds {needed} bytes but {tmp} has only {free} free; the directory is "
                "read from a copy (so that it is never modified): set TMPDIR to a larger disk"
            )
        copy = Path(tmp) / "chroma"
        try:
            shutil.copytree(path, copy)
        except OSError as exc:
            raise ChromaSourceError(f"cannot copy {path} to read it: {exc}") from None
        client = _client(copy, path)
        try:
            yield client
        finally:
            _close(client)


def _client(copy: Path, original: Path) -> Any:
    import chromadb
    from chromadb.config import Settings

    try:
        return chromadb.PersistentClient(
            path=str(copy), settings=Settings(anonymized_telemetry=False, allow_reset=False)
        )
    except Exception as exc:  # chromadb raises many kinds; all mean "cannot open this"
        raise ChromaSourceError(
            f"cannot open {original} as a ChromaDB directory ({type(exc).__name__}: {exc})"
        ) from None


def _close(client: Any) -> None:
    # Stops chromadb's system for the copy (its sqlite connection and segment files) before the
    # copy is removed.
    with contextlib.suppress(Exception):  # a failure here must not hide the real outcome
        client.close()


@contextmanager
def _reading(what: str) -> Iterator[None]:
    """chromadb's own errors (a store that opens but cannot be read: damaged, or copied while an
    app was writing to it) as a ChromaSourceError that says so, not a stack trace."""
    try:
        yield
    except ChromaSourceError:
        raise
    except Exception as exc:  # chromadb raises many kinds (InternalError, sqlite, Rust panics)
        raise ChromaSourceError(
            f"cannot read {what} ({type(exc).__name__}: {exc}). The directory may be damaged or "
            "was copied while an app was writing to it: stop that app (or copy the directory "
            "yourself while it is stopped) and run again"
        ) from None


def collection_names(client: Any) -> list[str]:
    # 1.x returns Collection objects, 0.6 returned names
    with _reading("the list of collections"):
        return sorted(getattr(c, "name", c) for c in client.list_collections())


def get_collection(client: Any, name: str) -> Any:
    names = collection_names(client)
    if name not in names:
        listing = ", ".join(repr(n) for n in names) if names else "none"
        raise ChromaSourceError(f"no collection {name!r} in this directory; it has: {listing}")
    # embedding_function=None: the collection's own (by default an ONNX model) would be
    # downloaded on first use; we only ever query with embeddings we computed.
    with _reading(f"collection {name!r}"):
        return client.get_collection(name, embedding_function=None)


def read_collection(
    client: Any,
    name: str,
    *,
    page_size: int = PAGE_SIZE,
    progress: ReadProgress | None = None,
) -> ChromaCollection:
    """Every id with its document and metadata, read page by page."""
    handle = get_collection(client, name)
    with _reading(f"collection {name!r}"):
        total = handle.count()
        metadata = dict(handle.metadata or {})
    collection = ChromaCollection(name, metadata=metadata, handle=handle)
    if progress:
        progress(0, total)
    offset = 0
    while True:
        with _reading(f"collection {name!r} (documents from {offset})"):
            page = handle.get(limit=page_size, offset=offset, include=["documents", "metadatas"])
        ids = page["ids"]
        documents = page.get("documents") or [None] * len(ids)
        metadatas = page.get("metadatas") or [None] * len(ids)
        for id_, document, metadata in zip(ids, documents, metadatas, strict=True):
            collection.rows.append(ChromaRow(id_, document, dict(metadata or {})))
        offset += len(ids)
        if progress:
            progress(offset, max(total, offset))
        if len(ids) < page_size:
            break
    if collection.rows and all(row.document is None for row in collection.rows):
        raise ChromaSourceError(
            f"collection {name!r} holds {len(collection.rows)} embeddings but no documents: "
            "ChromaDB kept only the vectors, so there is no text to index. Re-create the "
            "collection with its texts (collection.add(documents=...)) or ingest the original "
            "foods.json with `ragfood ingest`"
        )
    return collection


def stored_embeddings(collection: ChromaCollection, ids: Sequence[str]) -> dict[str, list[float]]:
    """The collection's own vectors for these ids (for --compare without --embed)."""
    with _reading(f"the embeddings of collection {collection.name!r}"):
        found = collection.handle.get(ids=list(ids), include=["embeddings"])
    embeddings = found.get("embeddings")
    if embeddings is None:
        return {}
    return {
        id_: [float(x) for x in vector]
        for id_, vector in zip(found["ids"], embeddings, strict=True)
    }


def embedding_dimension(collection: ChromaCollection) -> int | None:
    with _reading(f"the embeddings of collection {collection.name!r}"):
        first = collection.handle.get(limit=1, include=["embeddings"])
    embeddings = first.get("embeddings")
    if embeddings is None or len(embeddings) == 0:
        return None
    return len(embeddings[0])


def query(
    collection: ChromaCollection, embeddings: Sequence[Sequence[float]], k: int
) -> list[list[str]]:
    """The ids of the k nearest documents for each query embedding, best first."""
    if not embeddings:
        return []
    with _reading(f"collection {collection.name!r} (a query)"):
        result = collection.handle.query(
            query_embeddings=[list(map(float, e)) for e in embeddings],
            n_results=k,
            include=["distances"],
        )
    return [list(ids) for ids in result["ids"]]
