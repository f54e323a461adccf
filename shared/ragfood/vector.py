"""Vector gateway: the one place that talks to Upstash Vector, through the `upstash-vector` SDK.

The SDK's own httpx client is swapped for ours so every call gets bounded retries with backoff on
429/5xx/timeouts/refused connections (`RetryingTransport`) and errors that keep their HTTP status.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

import httpx
from pydantic import SecretStr
from pydantic_core import to_json
from upstash_vector import Index
from upstash_vector.core.index_operations import QUERY_DATA_PATH, UPSERT_DATA_PATH
from upstash_vector.errors import UpstashError
from upstash_vector.http import generate_headers
from upstash_vector.types import QueryResult

from ragfood.config import namespace_problem
from ragfood.enrichment import recover_text
from ragfood.errors import (
    VectorAuthError,
    VectorError,
    VectorIndexMisconfigured,
    VectorQuotaExceeded,
    VectorRequestError,
    VectorUnavailable,
    VectorUnreachable,
)
from ragfood.redact import redact_credentials, redact_text
from ragfood.retry import RETRYABLE_STATUSES, DeadlineReached, RetryPolicy, retrying_client

if TYPE_CHECKING:  # the ask path never parses food files; keep their validator out of its imports
    from ragfood.foods import FoodRecord
    from ragfood.relevance import Found  # imported where used: an ingest never loads the stemmer

MAX_BATCH = 1000  # Upstash: at most 1000 vectors per write and 1000 per read
MAX_FILTER_VALUE_CHARS = 100

Progress = Callable[[int], None]
# Runs one request-sized operation, retrying it as a whole if the caller's budget allows.
Retry = Callable[[Callable[[], Any]], Any]


# Immutable records: NamedTuples, cheaper to define than frozen dataclasses (ragfood.relevance).
class Hit(NamedTuple):
    """One retrieved source."""

    id: str
    score: float
    text: str
    region: str | None
    type: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "region": self.region,
            "type": self.type,
            "score": round(self.score, 4),
        }


class StoredItem(NamedTuple):
    """What a sync needs to know of a stored vector: its content hash and which file owns it.

    `legacy` marks vectors written before items stopped carrying their text in metadata: their
    `source` may be in another format, so any file that lists them may adopt them.
    """

    hash: str | None
    source: str | None
    legacy: bool = False

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any] | None) -> StoredItem:
        meta = metadata or {}
        source = meta.get("source")
        return cls(
            hash=meta.get("hash"),
            source=source if isinstance(source, str) else None,
            legacy="text" in meta or "hash" not in meta,
        )


class IndexInfo(NamedTuple):
    vector_count: int
    dimension: int
    similarity: str
    embedding_model: str | None
    namespaces: dict[str, int]
    pending: dict[str, int]
    sparse_model: str | None = None  # hybrid indexes: the sparse side's model (e.g. "BM25")

    @property
    def hybrid(self) -> bool:
        return self.sparse_model is not None


def build_filter(region: str | None = None, type_: str | None = None) -> str:
    """An Upstash filter matching region and type case-insensitively, safe for any user value.

    Raises ValueError naming the field when a value cannot be used.
    """
    clauses = []
    for name, value in (("region", region), ("type", type_)):
        if value:
            try:
                # Stored keys are stripped and case-folded (foods.FoodRecord.metadata); so is this.
                clauses.append(f"{name}_key = {quote_literal(value.strip().casefold())}")
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
    return " AND ".join(clauses)


def quote_literal(value: str) -> str:
    """Quote a user value as a filter string literal, or refuse it.

    We never rely on escape sequences (their handling is not documented by Upstash): the literal is
    delimited by a quote character the value does not contain, so it cannot end early.
    """
    if len(value) > MAX_FILTER_VALUE_CHARS:
        raise ValueError(f"must be at most {MAX_FILTER_VALUE_CHARS} characters")
    if "\\" in value or any(ord(ch) < 32 for ch in value):
        raise ValueError("must not contain backslashes or control characters")
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise ValueError("must not contain both single and double quotes")


class JsonBodyClient(httpx.Client):
    """The httpx client the SDK sends every request through (bodies are given as `json=`).

    httpx writes `json=` bodies with the standard library's encoder; pydantic-core (loaded with
    pydantic anyway) writes the same compact UTF-8 JSON 2.5x faster: ~13 ms of CPU per 10,000
    items upserted (docs/performance.md). One difference: NaN and infinities become JSON literals
    (the index refuses them) instead of an encoding error; uploads with them never get here
    (ragfood.foods rejects those items).
    """

    def build_request(  # type: ignore[override]
        self, method: str, url: httpx.URL | str, *, json: Any = None, **kwargs: Any
    ) -> httpx.Request:
        if json is None or any(kwargs.get(k) is not None for k in ("content", "data", "files")):
            return super().build_request(method, url, json=json, **kwargs)
        kwargs.pop("content", None)
        headers = httpx.Headers(kwargs.pop("headers", None))
        if "content-type" not in headers:
            headers["Content-Type"] = "application/json"
        return super().build_request(method, url, content=to_json(json), headers=headers, **kwargs)


def make_client(
    policy: RetryPolicy,
    timeout_s: float,
    on_retry: Callable[[int, str], None] | None = None,
    inner: httpx.BaseTransport | None = None,
    *,
    url: str | None = None,
) -> httpx.Client:
    """A retrying client whose failures become our typed vector errors; share one per container."""
    return retrying_client(
        policy,
        timeout_s,
        url=url,
        on_retry=on_retry,
        inner=inner,
        response_hooks=[_raise_for_status],
        give_up=is_quota_response,
        client_class=JsonBodyClient,
        whole_answers=True,  # the SDK reads every answer whole anyway; never streamed
    )


class _Index(Index):
    """The SDK's Index, using our httpx client.

    Index.__init__ would build an httpx client of its own (and its TLS context, ~50 ms of CPU on
    a cold start) only for us to throw it away, so its state is set here instead: the attributes
    its `_execute_request` reads (upstash-vector 0.8).
    """

    def __init__(self, url: str, token: SecretStr, client: httpx.Client) -> None:
        self._url = url
        self._client = client
        self._retries = 0  # ours happen in the transport; the SDK's would multiply them
        self._retry_interval = 0.0
        self._headers = generate_headers(token.get_secret_value(), False)  # no telemetry


class VectorGateway:
    """Upsert, query, list and delete food records in one index (any namespace)."""

    def __init__(
        self,
        url: str,
        token: SecretStr,
        client: httpx.Client,
        *,
        batch_size: int = 500,
        parallelism: int = 4,
    ) -> None:
        self.url = url
        self._index = _Index(url, token, client)
        self._batch_size = max(1, min(batch_size, MAX_BATCH))
        self._parallelism = max(1, parallelism)

    def query(
        self,
        text: str,
        *,
        namespace: str = "",
        top_k: int = 5,
        min_score: float = 0.0,
        filter_: str = "",
    ) -> list[Hit]:
        check_namespace(namespace)
        with _translated(self.url):
            results = self._dense(text, namespace=namespace, top_k=top_k, filter_=filter_)
        hits = []
        for result in results:
            if result.score < min_score:
                continue
            hits.append(_hit(result.id, float(result.score), result.metadata, result.data))
        return hits

    def _dense(self, text: str, *, namespace: str, top_k: int, filter_: str) -> list[QueryResult]:
        return self._index.query(
            data=text,
            top_k=top_k,
            include_metadata=True,
            include_data=True,
            filter=filter_,
            namespace=namespace,
        )

    def find(
        self,
        text: str,
        *,
        namespace: str = "",
        depth: int = 10,
        filter_: str = "",
        hybrid: bool = False,
    ) -> tuple[list[Found], list[Found]]:
        """The dense and the sparse candidates for a question, in ONE request (`find_each`)."""
        (found,) = self.find_each(
            text, filters=(filter_,), namespace=namespace, depth=depth, hybrid=hybrid
        )
        return found

    def find_each(
        self,
        text: str,
        *,
        filters: Sequence[str],
        namespace: str = "",
        depth: int = 10,
        hybrid: bool = False,
    ) -> list[tuple[list[Found], list[Found]]]:
        """The dense and the sparse candidates for a question under each filter, in ONE request.

        On a hybrid index every list comes from one batch request to /query-data (a JSON array,
        one query per filter and queryMode; the SDK's query_many cannot set queryMode in 0.8.x,
        so we build the body and send it through the SDK's own request path). Dense scores are
        normalised 0..1; sparse scores are not used. On a dense-only index the sparse lists are
        empty (one filter: the SDK's own query).
        """
        check_namespace(namespace)
        with _translated(self.url):
            if not hybrid and len(filters) == 1:
                dense_only = self._dense(text, namespace=namespace, top_k=depth, filter_=filters[0])
                return [(_found(dense_only), [])]
            query: dict[str, Any] = {
                "data": text,
                "topK": depth,
                "includeMetadata": True,
                "includeData": True,
                "includeVectors": False,
            }
            modes: list[dict[str, str]] = (
                [{"queryMode": "DENSE"}, {"queryMode": "SPARSE", "weightingStrategy": "IDF"}]
                if hybrid
                else [{}]
            )
            payload = [{**query, "filter": f, **mode} for f in filters for mode in modes]
            path = QUERY_DATA_PATH + (f"/{namespace}" if namespace else "")
            lists = [
                _found(QueryResult._from_json(obj) for obj in results)
                for results in self._index._execute_request(payload=payload, path=path)
            ]
            if not hybrid:
                return [(dense, []) for dense in lists]
            return list(zip(lists[::2], lists[1::2], strict=True))  # (DENSE, SPARSE) per filter

    def stored_hashes(self, namespace: str = "") -> dict[str, str | None]:
        """id -> content hash of everything in the namespace (None for vectors we did not write)."""
        return {id_: item.hash for id_, item in self.stored_items(namespace).items()}

    def stored_items(
        self, namespace: str = "", *, retry: Retry | None = None
    ) -> dict[str, StoredItem]:
        """Every vector of the namespace, metadata only (no data, so no item text since v2)."""
        return {
            id_: StoredItem.from_metadata(metadata)
            for id_, metadata in self.stored_metadata(namespace, retry=retry)
        }

    def stored_metadata(
        self, namespace: str = "", *, retry: Retry | None = None
    ) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """(id, metadata) of every vector of the namespace, page by page (no data).

        Pages are fetched one after another: the range cursor only comes with the previous page.
        """
        check_namespace(namespace)
        cursor = ""
        run = retry or _once
        while True:

            def page_at(cursor: str = cursor) -> Any:
                with _translated(self.url):
                    return self._index.range(
                        cursor=cursor,
                        limit=MAX_BATCH,
                        include_metadata=True,
                        include_data=False,
                        namespace=namespace,
                    )

            page = run(page_at)
            for vector in page.vectors:
                yield vector.id, vector.metadata
            cursor = page.next_cursor
            if not cursor:
                return

    def fetch_items(
        self, ids: Sequence[str], namespace: str = "", *, retry: Retry | None = None
    ) -> dict[str, StoredItem]:
        """The stored state of these ids (absent ones left out); pages fetched in parallel."""
        check_namespace(namespace)
        found: dict[str, StoredItem] = {}

        def send(batch: Sequence[str]) -> int:
            with _translated(self.url):
                vectors = self._index.fetch(
                    list(batch), include_metadata=True, include_data=False, namespace=namespace
                )
            for id_, vector in zip(batch, vectors, strict=True):
                if vector is not None:
                    found[id_] = StoredItem.from_metadata(vector.metadata)
            return len(batch)

        self._in_parallel(send, _chunks(ids, MAX_BATCH), None, retry)
        return found

    def upsert(
        self,
        records: Sequence[FoodRecord],
        *,
        namespace: str = "",
        source: str = "",
        progress: Progress | None = None,
        retry: Retry | None = None,
    ) -> int:
        """Upsert records as data (Upstash embeds them); several batches in flight at once."""
        check_namespace(namespace)

        # The JSON body the SDK's upsert() would build from Data objects, built directly and sent
        # through the SDK's own request path: ~8 ms of CPU less per 10,000 items.
        path = UPSERT_DATA_PATH + (f"/{namespace}" if namespace else "")

        def send(batch: Sequence[FoodRecord]) -> int:
            payload = [
                {"id": r.id, "data": r.enriched, "metadata": r.metadata(source)} for r in batch
            ]
            with _translated(self.url):
                self._index._execute_request(payload=payload, path=path)
            return len(batch)

        return self._in_parallel(send, _chunks(records, self._batch_size), progress, retry)

    def delete(
        self,
        ids: Sequence[str],
        *,
        namespace: str = "",
        progress: Progress | None = None,
        retry: Retry | None = None,
    ) -> int:
        check_namespace(namespace)

        def send(batch: Sequence[str]) -> int:
            with _translated(self.url):
                self._index.delete(list(batch), namespace=namespace)
            # Counted as sent, not as found: a retried batch may find some already deleted.
            return len(batch)

        return self._in_parallel(send, _chunks(ids, MAX_BATCH), progress, retry)

    def info(self) -> IndexInfo:
        with _translated(self.url):
            info = self._index.info()
        dense = info.dense_index
        return IndexInfo(
            vector_count=info.vector_count,
            dimension=info.dimension,
            similarity=info.similarity_function,
            embedding_model=dense.embedding_model if dense else None,
            namespaces={ns: n.vector_count for ns, n in info.namespaces.items()},
            pending={ns: n.pending_vector_count for ns, n in info.namespaces.items()},
            sparse_model=info.sparse_index.embedding_model if info.sparse_index else None,
        )

    def check_write_access(self, namespace: str = "") -> None:
        """A write that changes nothing: proves the token may write (used by `doctor`)."""
        check_namespace(namespace)
        with _translated(self.url):
            self._index.delete(["__ragfood_write_probe__"], namespace=namespace)

    def _in_parallel(
        self,
        send: Callable[[Any], int],
        batches: Iterable[Sequence[Any]],
        progress: Progress | None,
        retry: Retry | None = None,
    ) -> int:
        batches = list(batches)
        run = retry or _once

        def send_one(batch: Sequence[Any]) -> int:
            return run(lambda: send(batch))

        if len(batches) <= 1 or self._parallelism == 1:
            done = 0
            for batch in batches:
                count = send_one(batch)
                done += count
                if progress:
                    progress(count)
            return done
        # Imported here: only ingest needs threads; the ask function's cold start need not pay.
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        done = 0
        with ThreadPoolExecutor(self._parallelism, thread_name_prefix="vector") as pool:
            pending = {pool.submit(send_one, batch) for batch in batches}
            try:
                while pending:
                    # FIRST_COMPLETED: progress moves as each batch lands, not once all have.
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        if future.exception() is not None:
                            raise future.exception()  # type: ignore[misc]
                        count = future.result()
                        done += count
                        if progress:
                            progress(count)
            except BaseException:
                # A failed batch or Ctrl-C: stop sending more (leaving the pool would otherwise
                # wait for every queued batch); batches already in flight finish on their own.
                for other in pending:
                    other.cancel()
                raise
        return done


def check_namespace(namespace: str) -> None:
    """Refuse a namespace the SDK would send as a different URL (config.namespace_problem)."""
    if namespace and (problem := namespace_problem(namespace)):
        raise VectorRequestError(f"namespace {namespace!r} cannot be used: {problem}")


def _found(results: Iterable[QueryResult]) -> list[Found]:
    """Candidates: ``document`` is the indexed text (coverage is measured on it), ``text`` the
    item's own, recovered as `_hit` does."""
    # The query side only: ingests need not load the stemmer. Once per list, not per result.
    from ragfood.relevance import Found

    found = []
    for result in results:
        hit = _hit(result.id, float(result.score), result.metadata, result.data)
        found.append(
            Found(hit.id, hit.score, result.data or hit.text, hit.text, hit.region, hit.type)
        )
    return found


def _once(operation: Callable[[], Any]) -> Any:
    return operation()


def _hit(id_: str, score: float, metadata: dict[str, Any] | None, data: str | None) -> Hit:
    meta = metadata or {}
    region, type_ = meta.get("region"), meta.get("type")
    # Vectors written before the text moved to `data` still carry it in metadata: it wins.
    text = meta.get("text")
    if not isinstance(text, str):
        text = recover_text(data or "", region, type_)
    return Hit(id=id_, score=score, text=text, region=region, type=type_)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@contextmanager
def _translated(url: str) -> Iterator[None]:
    """Turn transport and SDK failures into our typed errors; never leak a token.

    The host is parsed from `url` only when a call fails, not on every request (~20 us each).
    """
    try:
        yield
    except VectorError:
        raise
    except DeadlineReached:
        raise VectorUnavailable(
            f"vector index at {_host(url)} timed out: no answer within the time budget (the ask's "
            "RAGFOOD_ASK_BUDGET_S, the ingest's run time, or RAGFOOD_VECTOR_TIMEOUT_S)"
        ) from None
    except httpx.TimeoutException:
        raise VectorUnavailable(f"vector index at {_host(url)} timed out (after retries)") from None
    except httpx.TransportError as exc:
        raise VectorUnreachable(
            f"cannot reach vector index at {_host(url)}: {_reason(exc)} (after retries)"
        ) from None
    except UpstashError as exc:
        raise VectorRequestError(
            f"vector index at {_host(url)} refused the request: {redact_text(str(exc))}"
        ) from None
    except (ValueError, KeyError, TypeError) as exc:  # the SDK could not parse the answer
        raise VectorUnavailable(
            f"vector index at {_host(url)} sent a malformed answer: {exc}"
        ) from None


def _host(url: str) -> str:
    return httpx.URL(url).host or url


def _reason(exc: httpx.TransportError) -> str:
    text = redact_text(str(exc)) or type(exc).__name__
    if "refused" in text.lower():
        return "connection refused"
    if "name or service not known" in text.lower() or "nodename" in text.lower():
        return "host name not found"
    return text


def _raise_for_status(response: httpx.Response) -> None:
    """httpx response hook: raise a typed error, keeping the status the SDK would discard."""
    if response.is_success:
        return
    response.read()
    status = response.status_code
    message, worded_by_index = _error_body(response)
    host = response.request.url.host
    lowered = message.lower()
    # Upstash words this two ways: "Embedding data for this index is not allowed..." and
    # "Forbidden: /upsert-data is not allowed".
    if ("embedding" in lowered and "not allowed" in lowered) or "-data is not allowed" in lowered:
        raise VectorIndexMisconfigured(
            f"the index at {host} has no embedding model, so it cannot embed text "
            "(upsert-data/query-data). Create the index with an embedding model "
            "(for example BAAI/bge-large-en-v1.5) and point UPSTASH_VECTOR_REST_URL at it. "
            f"Upstash said: {message}",
            status,
        )
    if "dimension" in lowered:
        raise VectorIndexMisconfigured(
            f"the index at {host} rejected the vector dimension: {message}", status
        )
    if is_quota_error(status, message):
        raise VectorQuotaExceeded(
            f"the vector index at {host} has used up a quota ({message}); retrying cannot help "
            "until it resets (daily quotas each day, monthly ones each month) or the plan's "
            "limits are raised in the Upstash console",
            status,
        )
    if status in (401, 403):
        hint = (
            "check UPSTASH_VECTOR_REST_TOKEN / UPSTASH_VECTOR_REST_READONLY_TOKEN"
            if status == 401
            else "this token may not do that; writes need the read-write token "
            "(UPSTASH_VECTOR_REST_TOKEN), not the read-only one"
        )
        raise VectorAuthError(
            f"vector index at {host} answered {status} ({message}): {hint}", status
        )
    if status in RETRYABLE_STATUSES:
        raise VectorUnavailable(
            f"vector index at {host} answered HTTP {status} after retries: {message}", status
        )
    # A web server or proxy where the index should be. Not when the index itself words the error
    # in its JSON: Upstash answers 404 so for things that do not exist ("Namespace ns for the
    # index ... does not exist"), which is then said as it is, below.
    if status in (404, 405, 501) and not worded_by_index:
        raise VectorRequestError(
            f"{host} answered HTTP {status} ({message}): is UPSTASH_VECTOR_REST_URL the "
            "index's REST URL (from the Upstash console)?",
            status,
        )
    raise VectorRequestError(f"vector index at {host} rejected the request: {message}", status)


# Upstash's wording ("ERR max daily request limit exceeded", "ERR max requests limit exceeded" for
# the monthly one, "... quota exceeded"): a 429 that says this is not a transient throttle.
# A pattern string: compiled (by `re`, once) only when an error is seen, not on every cold start.
_QUOTA_WORDS = r"(?i)\b(daily|monthly)\b.*\b(limit|quota)\b|max requests limit|\bquota\b"


def is_quota_error(status: int, message: str) -> bool:
    return status in (400, 403, 429) and re.search(_QUOTA_WORDS, message) is not None


def is_quota_response(response: httpx.Response) -> bool:
    """For the retrying transport: answers that must not be retried (read before calling)."""
    if response.status_code not in (400, 403, 429):
        return False
    response.read()
    return is_quota_error(response.status_code, _error_body(response)[0])


def _error_body(response: httpx.Response) -> tuple[str, bool]:
    """What an error answer says, fit to repeat, and whether the index itself worded it (its JSON
    error, {"error": "...", "status": ...}) rather than a proxy's or web server's page."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        # Not the index's JSON: the page's words, without markup.
        text = " ".join(re.sub(r"<[^>]*>", " ", response.text).split())
        return _without_secrets(text, response)[:200].strip() or response.reason_phrase, False
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return _without_secrets(body["error"], response)[:500], True
    return response.reason_phrase, False


def _without_secrets(text: str, response: httpx.Response) -> str:
    """An answer's text, fit to repeat in errors and logs (`redact_credentials`), the token we
    sent included, should the peer echo it back."""
    try:
        sent = response.request.headers.get("authorization", "")
    except RuntimeError:  # still inside the transport, not yet bound to its request
        sent = ""
    return redact_credentials(text, sent.partition(" ")[2].strip())
