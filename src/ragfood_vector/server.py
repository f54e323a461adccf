"""The HTTP face of the service: Upstash Vector's REST endpoints on Starlette + uvicorn.

Every answer is ``{"result": ...}`` or ``{"error": "...", "status": N}`` with that HTTP status,
because the SDK calls ``response.json()`` on every answer whatever its status.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ragfood_vector import bm25
from ragfood_vector.auth import READ_OPERATIONS, WRITE_OPERATIONS, authorize
from ragfood_vector.config import ServiceConfig
from ragfood_vector.embedders import Embedder, make_embedder, model_name_for
from ragfood_vector.errors import ApiError, bad_request, unprocessable
from ragfood_vector.faults import FaultInjector
from ragfood_vector.fusion import fuse
from ragfood_vector.protocol import (
    NO_EMBEDDING_MODEL,
    QuerySpec,
    VectorItem,
    encode_cursor,
    parse_delete,
    parse_fetch,
    parse_json_body,
    parse_queries,
    parse_range,
    parse_resumable_end,
    parse_resumable_next,
    parse_resumable_start,
    parse_update,
    parse_upsert,
    parse_upsert_data,
    score_to_json,
    vector_to_json,
)
from ragfood_vector.resumable import ResumableQueries
from ragfood_vector.search import Hit, dense_search, sparse_search
from ragfood_vector.sparse import SparseVector
from ragfood_vector.store import StoredVector, VectorStore

logger = logging.getLogger("ragfood_vector")

PARENT_PID_ENV = "RAGFOOD_VECTOR_PARENT_PID"

# Operations that take no namespace suffix in their path (a resumable query keeps its own).
GLOBAL_OPERATIONS = frozenset(
    {"info", "list-namespaces", "resumable-query-next", "resumable-query-end"}
)

API_METHODS = ["GET", "POST", "DELETE"]

Handler = Callable[["VectorService", str, Any, Mapping[str, str]], Any]


def _stored_to_json(row: StoredVector) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": row.id}
    if row.vector is not None:
        entry["vector"] = vector_to_json(row.vector)
    if row.sparse is not None:
        entry["sparseVector"] = row.sparse.to_json()
    if row.metadata is not None:
        entry["metadata"] = row.metadata
    if row.data is not None:
        entry["data"] = row.data
    return entry


class VectorService:
    """The endpoints' logic, free of HTTP: each method takes a namespace and a decoded body."""

    def __init__(
        self, config: ServiceConfig, embedder: Embedder | None, store: VectorStore
    ) -> None:
        self.config = config
        self.embedder = embedder
        self.store = store
        self.dimension = embedder.dimension if embedder is not None else config.dimension
        self.embedding_model = embedder.model_name if embedder is not None else ""
        # A hybrid index: every vector also has a sparse vector (BM25 of its data, or given).
        self.hybrid = config.hybrid
        self.resumable = ResumableQueries()

    def _embedder(self) -> Embedder:
        """The embedding model; on an index without one, what Upstash answers a text request."""
        if self.embedder is None:
            raise unprocessable(NO_EMBEDDING_MODEL)
        return self.embedder

    def _embed(self, texts: list[str]) -> np.ndarray:
        return self._embedder().embed(texts)

    def _sparse_documents(self, texts: list[str]) -> list[SparseVector | None]:
        if not self.hybrid:
            return [None] * len(texts)
        return [bm25.document_vector(text) for text in texts]

    # -- writes ------------------------------------------------------------------------------

    def upsert(self, namespace: str, body: Any, params: Mapping[str, str]) -> str:
        self.store.upsert(namespace, parse_upsert(body, self.dimension, self.hybrid))
        return "Success"

    def upsert_data(self, namespace: str, body: Any, params: Mapping[str, str]) -> str:
        self._embedder()  # no model: 422 before the body is parsed
        items = parse_upsert_data(body)
        texts = [item.data or "" for item in items]
        vectors = self._embed(texts)
        embedded = [
            VectorItem(
                id=item.id,
                vector=vector,
                metadata_json=item.metadata_json,
                data=item.data,
                sparse=sparse,
            )
            for item, vector, sparse in zip(
                items, vectors, self._sparse_documents(texts), strict=True
            )
        ]
        self.store.upsert(namespace, embedded)
        return "Success"

    def update(self, namespace: str, body: Any, params: Mapping[str, str]) -> dict[str, int]:
        request = parse_update(body, self.dimension, self.hybrid)
        vector, sparse = request.vector, request.sparse
        stale_sparse = False
        if request.data is not None and self.embedder is not None:
            # New data on an index with embedding models means new vectors, as on Upstash.
            if vector is None:
                vector = self._embed([request.data])[0]
            if sparse is None:
                sparse = self._sparse_documents([request.data])[0]
                # A dense-only service computes none: drop the BM25 vector of the old data, so
                # a hybrid service on this data dir recomputes it rather than match old words.
                stale_sparse = sparse is None
        updated = self.store.update(
            namespace,
            request.id,
            vector=vector,
            data=request.data,
            metadata=request.metadata,
            patch=request.patch,
            sparse=sparse,
            drop_sparse=stale_sparse,
        )
        return {"updated": int(updated)}

    def delete(self, namespace: str, body: Any, params: Mapping[str, str]) -> dict[str, int]:
        request = parse_delete(body)
        if request.ids is not None:
            deleted = self.store.delete_ids(namespace, request.ids)
        elif request.prefix is not None:
            deleted = self.store.delete_prefix(namespace, request.prefix)
        else:
            assert request.predicate is not None
            deleted = self.store.delete_matching(namespace, request.predicate)
        return {"deleted": deleted}

    def reset(self, namespace: str, body: Any, params: Mapping[str, str]) -> str:
        if "all" in params:
            self.store.reset_all()
        else:
            self.store.reset(namespace)
        return "Success"

    def delete_namespace(self, namespace: str, body: Any, params: Mapping[str, str]) -> str:
        if namespace == "":
            raise bad_request("The default namespace cannot be deleted")
        if not self.store.delete_namespace(namespace):
            raise ApiError(404, f"Namespace '{namespace}' does not exist")
        return "Success"

    # -- reads -------------------------------------------------------------------------------

    def query(self, namespace: str, body: Any, params: Mapping[str, str]) -> list[Any]:
        specs, is_batch = parse_queries(body, self.dimension, by_data=False, hybrid=self.hybrid)
        return self._search(namespace, specs, is_batch)

    def query_data(self, namespace: str, body: Any, params: Mapping[str, str]) -> list[Any]:
        self._embedder()  # no model: 422 before the body is parsed
        specs, is_batch = parse_queries(body, self.dimension, by_data=True, hybrid=self.hybrid)
        return self._search(namespace, self._embed_queries(specs), is_batch)

    def _embed_queries(self, specs: list[QuerySpec]) -> list[QuerySpec]:
        """Text queries with their vectors: only what each query's mode searches is computed
        (DENSE never pays for BM25 and vice versa)."""
        dense = [i for i, spec in enumerate(specs) if spec.mode != "SPARSE"]
        vectors = self._embed([specs[i].data or "" for i in dense]) if dense else []
        embedded = dict(zip(dense, vectors, strict=True))
        return [
            replace(
                spec,
                vector=embedded.get(i),
                sparse=bm25.query_vector(spec.data or "") if spec.mode != "DENSE" else None,
            )
            for i, spec in enumerate(specs)
        ]

    def _search(self, namespace: str, specs: list[QuerySpec], is_batch: bool) -> list[Any]:
        answers = [
            self._hits_to_json(namespace, spec, hits)
            for spec, hits in zip(specs, self._rank(namespace, specs), strict=True)
        ]
        # Upstash answers a one-element batch with a plain result list (the SDK relies on it).
        if is_batch and len(specs) > 1:
            return answers
        return answers[0]

    def _rank(self, namespace: str, specs: list[QuerySpec]) -> list[list[Hit]]:
        """Each query's ``top_k`` best hits, with the scores Upstash gives them."""
        # One snapshot for the whole request: both sides of every query see the same state.
        snapshot = self.store.snapshot(namespace)
        dense = [i for i, spec in enumerate(specs) if spec.mode != "SPARSE"]
        dense_hits: dict[int, list[Hit]] = {}
        if dense:
            found = dense_search(
                snapshot,
                np.stack([specs[i].vector for i in dense]),  # type: ignore[misc]
                [specs[i].top_k for i in dense],
                [specs[i].predicate for i in dense],
            )
            # Upstash's dense scores: (1 + cos) / 2.
            dense_hits = {
                i: [Hit(hit.id, score_to_json(hit.score)) for hit in hits]
                for i, hits in zip(dense, found, strict=True)
            }
        ranked = []
        for i, spec in enumerate(specs):
            if spec.mode == "DENSE":
                ranked.append(dense_hits[i])
                continue
            assert spec.sparse is not None
            sparse_hits = sparse_search(
                snapshot, spec.sparse, spec.top_k, spec.predicate, spec.weight_idf
            )
            if spec.mode == "SPARSE":
                ranked.append(sparse_hits)
            else:
                ranked.append(fuse(dense_hits[i], sparse_hits, spec.fusion, spec.top_k))
        return ranked

    def _hits_to_json(
        self, namespace: str, spec: QuerySpec, hits: list[Hit]
    ) -> list[dict[str, Any]]:
        if not (spec.include_vectors or spec.include_metadata or spec.include_data):
            return [{"id": hit.id, "score": hit.score} for hit in hits]
        rows = self.store.fetch(
            namespace,
            [hit.id for hit in hits],
            vectors=spec.include_vectors,
            metadata=spec.include_metadata,
            data=spec.include_data,
        )
        answer = []
        for hit, row in zip(hits, rows, strict=True):
            if row is None:  # deleted by a concurrent request since the search
                continue
            answer.append({"id": hit.id, "score": hit.score, **_stored_to_json(row)})
        return answer

    def fetch(self, namespace: str, body: Any, params: Mapping[str, str]) -> list[Any]:
        request = parse_fetch(body)
        flags = {
            "vectors": request.includes.vectors,
            "metadata": request.includes.metadata,
            "data": request.includes.data,
        }
        if request.ids is not None:
            rows = self.store.fetch(namespace, request.ids, **flags)
            return [None if row is None else _stored_to_json(row) for row in rows]
        found, _ = self.store.scan(
            namespace, start_id=None, prefix=request.prefix, limit=1000, **flags
        )
        return [_stored_to_json(row) for row in found]

    def range(self, namespace: str, body: Any, params: Mapping[str, str]) -> dict[str, Any]:
        request = parse_range(body)
        rows, next_id = self.store.scan(
            namespace,
            start_id=request.start_id,
            prefix=request.prefix,
            limit=request.limit,
            vectors=request.includes.vectors,
            metadata=request.includes.metadata,
            data=request.includes.data,
        )
        return {
            "nextCursor": "" if next_id is None else encode_cursor(next_id),
            "vectors": [_stored_to_json(row) for row in rows],
        }

    def info(self, namespace: str, body: Any, params: Mapping[str, str]) -> dict[str, Any]:
        counts = self.store.namespace_counts()
        return {
            "vectorCount": sum(counts.values()),
            "pendingVectorCount": 0,
            "indexSize": self.store.size_bytes(),
            "dimension": self.dimension,
            "similarityFunction": "COSINE",
            "indexType": "HYBRID" if self.hybrid else "DENSE",
            "denseIndex": {
                "dimension": self.dimension,
                "similarityFunction": "COSINE",
                "embeddingModel": self.embedding_model,
            },
            **({"sparseIndex": {"embeddingModel": bm25.MODEL_NAME}} if self.hybrid else {}),
            "namespaces": {
                name: {"vectorCount": count, "pendingVectorCount": 0}
                for name, count in counts.items()
            },
        }

    def list_namespaces(self, namespace: str, body: Any, params: Mapping[str, str]) -> list[str]:
        return self.store.namespaces()

    # -- resumable queries -------------------------------------------------------------------

    def resumable_query(self, namespace: str, body: Any, params: Mapping[str, str]) -> Any:
        spec, max_idle = parse_resumable_start(body, self.dimension, False, self.hybrid)
        return self._start_resumable(namespace, spec, max_idle)

    def resumable_query_data(self, namespace: str, body: Any, params: Mapping[str, str]) -> Any:
        self._embedder()  # no model: 422 before the body is parsed
        spec, max_idle = parse_resumable_start(body, self.dimension, True, self.hybrid)
        return self._start_resumable(namespace, self._embed_queries([spec])[0], max_idle)

    def _start_resumable(self, namespace: str, spec: QuerySpec, max_idle: int) -> dict[str, Any]:
        # The first batch is what the same query returns; then the whole ranking (everything the
        # query can reach), so later batches just read on. The two differ only for hybrid
        # queries, whose fusion depends on how many candidates each side contributes.
        everything = max(1, len(self.store.snapshot(namespace).ids))
        # Two searches rather than one batch: a batch's matrix product rounds scores differently
        # in the last bits from the single query the first batch must equal.
        (first,) = self._rank(namespace, [spec])
        (ranking,) = self._rank(namespace, [replace(spec, top_k=everything)])
        returned = {hit.id for hit in first}
        ranking = first + [hit for hit in ranking if hit.id not in returned]
        query_id, first = self.resumable.start(namespace, spec, ranking, max_idle)
        return {"uuid": query_id, "scores": self._hits_to_json(namespace, spec, first)}

    def resumable_query_next(self, namespace: str, body: Any, params: Mapping[str, str]) -> Any:
        query_id, additional_k = parse_resumable_next(body)
        query_namespace, spec, batch = self.resumable.next(query_id, additional_k, self._alive)
        return self._hits_to_json(query_namespace, spec, batch)

    def _alive(self, namespace: str, ids: list[str]) -> list[bool]:
        rows = self.store.fetch(namespace, ids, vectors=False, metadata=False, data=False)
        return [row is not None for row in rows]

    def resumable_query_end(self, namespace: str, body: Any, params: Mapping[str, str]) -> str:
        self.resumable.end(parse_resumable_end(body))
        return "Success"


HANDLERS: dict[str, Handler] = {
    "upsert": VectorService.upsert,
    "upsert-data": VectorService.upsert_data,
    "query": VectorService.query,
    "query-data": VectorService.query_data,
    "fetch": VectorService.fetch,
    "range": VectorService.range,
    "delete": VectorService.delete,
    "update": VectorService.update,
    "reset": VectorService.reset,
    "info": VectorService.info,
    "list-namespaces": VectorService.list_namespaces,
    "delete-namespace": VectorService.delete_namespace,
    "resumable-query": VectorService.resumable_query,
    "resumable-query-data": VectorService.resumable_query_data,
    "resumable-query-next": VectorService.resumable_query_next,
    "resumable-query-end": VectorService.resumable_query_end,
}
assert set(HANDLERS) == READ_OPERATIONS | WRITE_OPERATIONS


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


def build_app(config: ServiceConfig) -> Starlette:
    """Open the store (raising on a dimension mismatch), load the embedder, then the app."""
    # The store first: a mismatching data dir should fail before a model takes seconds to load.
    # (ServiceConfig guarantees config.dimension is the embedder's dimension.)
    store = VectorStore(
        config.data_dir,
        dimension=config.dimension,
        embedder=config.embedder,
        embedding_model=model_name_for(config.embedder, config.dimension),
        sparse=config.hybrid,
    )
    if config.hybrid:
        filled = store.backfill_sparse(bm25.document_vector)
        if filled:
            print(
                f"{config.data_dir}: gave {filled} vectors stored by a dense-only service their "
                "BM25 sparse vectors (from their data)",
                file=sys.stderr,
            )
    if store.created_by != config.embedder and "none" not in (store.created_by, config.embedder):
        print(
            f"warning: {config.data_dir} was filled by the {store.created_by} embedder; "
            f"vectors from the {config.embedder} embedder will not be comparable with them",
            file=sys.stderr,
        )
    embedder = make_embedder(config.embedder, config.dimension)
    service = VectorService(config, embedder, store)
    faults = FaultInjector(config.fail_rate, config.seed, config.retry_after_s, config.write_quota)
    latency = config.latency_ms / 1000.0

    async def api(request: Request) -> Response:
        operation = request.path_params["operation"]
        namespace = request.path_params.get("namespace", "")
        try:
            handler = HANDLERS.get(operation)
            if handler is None or (
                "namespace" in request.path_params and operation in GLOBAL_OPERATIONS
            ):
                raise ApiError(404, f"Not found: {request.url.path}")
            if latency:
                # asyncio.sleep, not time.sleep: other requests keep being served meanwhile.
                await asyncio.sleep(latency)
            authorize(
                request.headers.get("authorization"),
                operation,
                token=config.token,
                readonly_token=config.readonly_token,
            )
            # Before the body is even read, so an injected failure never changes anything.
            fault = faults.draw()
            if fault is None and operation in WRITE_OPERATIONS:
                fault = faults.charge_write()
            if fault is not None:
                raise fault
            body = parse_json_body(await request.body())
            result = await run_in_threadpool(
                handler, service, namespace, body, request.query_params
            )
        except ApiError as exc:
            return error_response(exc.status, exc.message, exc.headers)
        except Exception as exc:  # the SDK cannot parse a non-JSON 500, so always answer JSON
            logger.exception("internal error in %s", operation)
            return error_response(500, f"Internal error: {type(exc).__name__}: {exc}")
        return JSONResponse({"result": result})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return error_response(404, f"Not found: {request.url.path}")
        return error_response(exc.status_code, str(exc.detail))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        store.close()

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            # The SDK always POSTs; Upstash's REST reference also gives GET (info, fetch, range)
            # and DELETE (delete, reset, delete-namespace), which curl users copy.
            Route("/{operation}", api, methods=API_METHODS),
            Route("/{operation}/{namespace:path}", api, methods=API_METHODS),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.service = service
    return app


def describe(config: ServiceConfig, service: VectorService) -> str:
    """The start-up line: where to connect and what answers there (never the tokens)."""
    model = service.embedding_model or "no embedding model"
    kind = f"hybrid index (dense + sparse {bm25.MODEL_NAME})" if service.hybrid else "dense index"
    return (
        f"ragfood vector service listening on {config.url} | {kind} | embedder "
        f"{config.embedder} ({model}) | dimension {service.dimension} | data dir "
        f"{config.data_dir.resolve()}"
    )


def _exit_with_parent() -> None:
    """Stop when the process that launched us is gone, so tests never leave a server behind."""
    parent = os.environ.get(PARENT_PID_ENV)
    if not parent:
        return

    def watch() -> None:
        while True:
            if os.getppid() != int(parent):
                os.kill(os.getpid(), signal.SIGTERM)
                return
            threading.Event().wait(1.0)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def serve(config: ServiceConfig) -> None:
    """Run the service in the foreground until interrupted (SIGINT/SIGTERM)."""
    import uvicorn

    from ragfood_vector.listen import listen

    sock = listen(config.host, config.port)  # ServeError before claiming to listen
    app = build_app(config)
    print(describe(config, app.state.service), flush=True)
    _exit_with_parent()
    settings = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(settings).run(sockets=[sock])
