"""Request bodies of the Upstash Vector REST API, validated against Upstash's documented limits.

Each ``parse_*`` function takes the decoded JSON body of one endpoint and returns plain typed
values, or raises :class:`ApiError` (HTTP 400) with a message that names the offending item.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ragfood_vector.errors import bad_request, unprocessable
from ragfood_vector.filters import FilterError, Predicate, compile_filter
from ragfood_vector.jsonarrays import NOT_FINITE, float32_array
from ragfood_vector.sparse import SparseVector, parse_sparse_vector

MAX_VECTORS_PER_WRITE = 1000
MAX_READS_PER_REQUEST = 1000  # top_k, fetch ids, range limit
MAX_METADATA_BYTES = 48 * 1024
MAX_DATA_BYTES = 1024 * 1024
MAX_QUERIES_PER_BATCH = 1000
DEFAULT_TOP_K = 10
DEFAULT_MAX_IDLE_S = 3600  # a resumable query's, as on Upstash
MAX_IDLE_S = 2**31 - 1
QUERY_MODES = ("HYBRID", "DENSE", "SPARSE")
FUSION_ALGORITHMS = ("RRF", "DBSF")
WEIGHTING_STRATEGIES = ("IDF",)

NO_EMBEDDING_MODEL = (
    "Embedding data for this index is not allowed. "
    "The index must be created with an embedding model to use it."
)


@dataclass(frozen=True)
class VectorItem:
    """One item of an upsert: ``vector`` (and ``sparse``) are None for /upsert-data until it is
    embedded; ``sparse`` stays None on a dense-only index."""

    id: str
    vector: np.ndarray | None
    metadata_json: str | None
    data: str | None
    sparse: SparseVector | None = None


@dataclass(frozen=True)
class QuerySpec:
    vector: np.ndarray | None
    data: str | None
    top_k: int
    include_vectors: bool
    include_metadata: bool
    include_data: bool
    predicate: Predicate
    # Which sides to search: HYBRID (both, fused), DENSE or SPARSE. A dense-only index: DENSE.
    mode: str = "DENSE"
    sparse: SparseVector | None = None
    fusion: str = "RRF"
    weight_idf: bool = False


@dataclass(frozen=True)
class Includes:
    vectors: bool
    metadata: bool
    data: bool


@dataclass(frozen=True)
class FetchRequest:
    ids: list[str] | None
    prefix: str | None
    includes: Includes


@dataclass(frozen=True)
class RangeRequest:
    start_id: str | None  # None: from the first id
    limit: int
    prefix: str | None
    includes: Includes


@dataclass(frozen=True)
class DeleteRequest:
    ids: list[str] | None = None
    prefix: str | None = None
    predicate: Predicate | None = None


@dataclass(frozen=True)
class UpdateRequest:
    id: str
    vector: np.ndarray | None
    data: str | None
    metadata: dict[str, Any] | None
    patch: bool
    sparse: SparseVector | None = None


# ---------------------------------------------------------------------------------------------
# Field helpers


def parse_json_body(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise bad_request(f"Malformed JSON body: {exc}") from exc


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity, which are not JSON and could not be answered back.
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    # 1e400 is JSON text no double holds: as infinity it could never be answered back.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is too large")
    return value


def _utf8_size(text: str, what: str) -> int:
    try:
        return len(text.encode())
    except UnicodeEncodeError as exc:  # a lone surrogate such as "\ud800"
        raise bad_request(f"{what} is not valid Unicode") from exc


def _object(body: Any, endpoint: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request(f"The body of {endpoint} must be a JSON object")
    return body


def _items(body: Any, endpoint: str, what: str, maximum: int) -> list[Any]:
    if isinstance(body, dict):
        items = [body]
    elif isinstance(body, list):
        items = body
    else:
        raise bad_request(f"The body of {endpoint} must be a JSON object or a list of them")
    if not items:
        raise bad_request(f"{endpoint} needs at least one {what}")
    if len(items) > maximum:
        raise bad_request(
            f"Too many {what}s in one request: {len(items)}, the maximum is {maximum}"
        )
    return items


def parse_id(value: Any, where: str = "") -> str:
    # Upstash ids are strings; the SDK also allows ints, which the service stores as text.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise bad_request(f"Vector id{where} must be a string, got {json.dumps(value)}")
    text = str(value)
    if not text:
        raise bad_request(f"Vector id{where} must not be empty")
    _utf8_size(text, f"Vector id{where}")
    return text


def _ids(value: Any, endpoint: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if len(values) > MAX_READS_PER_REQUEST:
        raise bad_request(
            f"Too many ids in one {endpoint} request: {len(values)}, "
            f"the maximum is {MAX_READS_PER_REQUEST}"
        )
    return [parse_id(v, f" at index {i}") for i, v in enumerate(values)]


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"{name} must be true or false, got {json.dumps(value)}")
    return value


def _includes(body: dict[str, Any]) -> Includes:
    return Includes(
        vectors=_flag(body, "includeVectors"),
        metadata=_flag(body, "includeMetadata"),
        data=_flag(body, "includeData"),
    )


def _int(body: dict[str, Any], name: str, default: int | None, low: int, high: int) -> int:
    value = body.get(name, default)
    if value is None:
        raise bad_request(f"{name} is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"{name} must be an integer, got {json.dumps(value)}")
    if not low <= value <= high:
        raise bad_request(f"{name} must be between {low} and {high}, got {value}")
    return value


def _prefix(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise bad_request("prefix must be a non-empty string")
    return value


def parse_vector(value: Any, dimension: int, where: str) -> np.ndarray:
    vector = float32_array(value)
    if vector is None:
        raise bad_request(f"The vector of {where} must be a list of numbers")
    if len(vector) != dimension:
        # Same wording as Upstash, which callers may match on.
        raise unprocessable(f"Invalid vector dimension: {len(vector)}, expected: {dimension}")
    if not np.all(np.isfinite(vector)):
        raise bad_request(f"The vector of {where} contains {NOT_FINITE}")
    return vector


def _reject_sparse(item: dict[str, Any], where: str) -> None:
    if item.get("sparseVector") is not None:
        raise bad_request(f"Sparse vectors are not supported by this dense index ({where})")


def _sparse(item: dict[str, Any], where: str, hybrid: bool) -> SparseVector | None:
    """The item's sparseVector on a hybrid index; on a dense-only one, an error if it has one."""
    if not hybrid:
        _reject_sparse(item, where)
        return None
    value = item.get("sparseVector")
    return None if value is None else parse_sparse_vector(value, where)


def _choice(item: dict[str, Any], name: str, choices: tuple[str, ...], default: str) -> str:
    value = item.get(name)
    if value is None:
        return default
    if value not in choices:
        raise bad_request(f"{name} must be one of {', '.join(choices)}, got {json.dumps(value)}")
    return str(value)


def encode_metadata(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request(f"The metadata of {where} must be a JSON object")
    encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    size = _utf8_size(encoded, f"The metadata of {where}")
    if size > MAX_METADATA_BYTES:
        raise bad_request(
            f"The metadata of {where} is too large: {size} bytes, "
            f"the maximum is {MAX_METADATA_BYTES} bytes (48 KB)"
        )
    return encoded


def _data(value: Any, where: str, required: bool) -> str | None:
    if value is None:
        if required:
            raise bad_request(f"{where} has no 'data' to embed")
        return None
    if not isinstance(value, str):
        raise bad_request(f"The data of {where} must be a string")
    size = _utf8_size(value, f"The data of {where}")
    if size > MAX_DATA_BYTES:
        raise bad_request(
            f"The data of {where} is too large: {size} bytes, "
            f"the maximum is {MAX_DATA_BYTES} bytes (1 MB)"
        )
    return value


def _predicate(value: Any, required: bool = False) -> Predicate:
    if value is None or value == "":
        if required:
            raise bad_request("filter must be a non-empty string")
        return compile_filter("")
    if not isinstance(value, str):
        raise bad_request("filter must be a string")
    try:
        return compile_filter(value)
    except FilterError as exc:
        raise bad_request(f"Invalid filter: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# Endpoints


def parse_upsert(body: Any, dimension: int, hybrid: bool = False) -> list[VectorItem]:
    items = _items(body, "upsert", "vector", MAX_VECTORS_PER_WRITE)
    parsed = []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise bad_request(f"The vector at index {position} must be a JSON object")
        vector_id = parse_id(item.get("id"), f" at index {position}")
        where = f"vector {vector_id!r}"
        sparse = _sparse(item, where, hybrid)
        if item.get("vector") is None:
            if sparse is not None:
                raise bad_request(
                    f"{where} has a 'sparseVector' but no dense 'vector': a hybrid index needs both"
                )
            raise bad_request(f"{where} has no 'vector'; to embed text use /upsert-data")
        if hybrid and sparse is None:
            # Upstash: "for hybrid indexes, you have to provide both dense and sparse vectors".
            raise bad_request(
                f"{where} has no 'sparseVector': a hybrid index needs both a dense 'vector' "
                "and a 'sparseVector' (or upsert text with /upsert-data)"
            )
        parsed.append(
            VectorItem(
                id=vector_id,
                vector=parse_vector(item["vector"], dimension, where),
                metadata_json=encode_metadata(item.get("metadata"), where),
                data=_data(item.get("data"), where, required=False),
                sparse=sparse,
            )
        )
    return parsed


def parse_upsert_data(body: Any) -> list[VectorItem]:
    items = _items(body, "upsert-data", "item", MAX_VECTORS_PER_WRITE)
    parsed = []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise bad_request(f"The item at index {position} must be a JSON object")
        vector_id = parse_id(item.get("id"), f" at index {position}")
        where = f"item {vector_id!r}"
        parsed.append(
            VectorItem(
                id=vector_id,
                vector=None,
                metadata_json=encode_metadata(item.get("metadata"), where),
                data=_data(item.get("data"), where, required=True),
            )
        )
    return parsed


def parse_queries(
    body: Any, dimension: int, by_data: bool, hybrid: bool = False
) -> tuple[list[QuerySpec], bool]:
    """Return the queries and whether the body was a batch (a JSON list).

    Each query's mode says which sides of the index it searches: on /query-data its
    ``queryMode`` (HYBRID by default on a hybrid index); on /query the vectors it carries (a
    dense vector, a sparse vector, or both for a fused query), whatever its ``queryMode``.
    """
    endpoint = "query-data" if by_data else "query"
    items = _items(body, endpoint, "query", MAX_QUERIES_PER_BATCH)
    specs = []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise bad_request(f"The query at index {position} must be a JSON object")
        where = f"the query at index {position}" if isinstance(body, list) else "the query"
        mode = _choice(item, "queryMode", QUERY_MODES, "HYBRID" if hybrid else "DENSE")
        fusion = _choice(item, "fusionAlgorithm", FUSION_ALGORITHMS, "RRF")
        weighting = _choice(item, "weightingStrategy", WEIGHTING_STRATEGIES, "")
        sparse = _sparse(item, where, hybrid)
        vector = data = None
        if by_data:
            if item.get("vector") is not None or sparse is not None:
                raise bad_request(
                    f"/query-data takes 'data', not 'vector' or 'sparseVector' ({where})"
                )
            data = _data(item.get("data"), where, required=True)
            if not hybrid:
                if mode == "SPARSE":
                    raise bad_request(
                        f"queryMode SPARSE needs a hybrid index; this index is dense-only ({where})"
                    )
                mode = "DENSE"
        else:
            if item.get("data") is not None:
                raise bad_request(
                    f"/query takes a 'vector'; to query with text use /query-data ({where})"
                )
            if item.get("vector") is None and sparse is None:
                raise bad_request(
                    f"{where} has no 'vector'" + (" or 'sparseVector'" if hybrid else "")
                )
            if item.get("vector") is not None:
                vector = parse_vector(item["vector"], dimension, where)
            mode = "DENSE" if sparse is None else ("SPARSE" if vector is None else "HYBRID")
        includes = _includes(item)
        specs.append(
            QuerySpec(
                vector=vector,
                data=data,
                top_k=_int(item, "topK", DEFAULT_TOP_K, 1, MAX_READS_PER_REQUEST),
                include_vectors=includes.vectors,
                include_metadata=includes.metadata,
                include_data=includes.data,
                predicate=_predicate(item.get("filter")),
                mode=mode,
                sparse=sparse,
                fusion=fusion,
                weight_idf=weighting == "IDF",
            )
        )
    return specs, isinstance(body, list)


def parse_resumable_start(
    body: Any, dimension: int, by_data: bool, hybrid: bool = False
) -> tuple[QuerySpec, int]:
    """A resumable query: one query, as /query or /query-data takes it, and its ``maxIdle``."""
    endpoint = "resumable-query-data" if by_data else "resumable-query"
    body = _object(body, endpoint)
    max_idle = _int(body, "maxIdle", DEFAULT_MAX_IDLE_S, 1, MAX_IDLE_S)
    specs, _ = parse_queries(body, dimension, by_data=by_data, hybrid=hybrid)
    return specs[0], max_idle


def _query_uuid(body: dict[str, Any]) -> str:
    value = body.get("uuid")
    if not isinstance(value, str) or not value:
        raise bad_request("uuid must be the non-empty string a resumable query started with")
    return value


def parse_resumable_next(body: Any) -> tuple[str, int]:
    body = _object(body, "resumable-query-next")
    return _query_uuid(body), _int(body, "additionalK", None, 1, MAX_READS_PER_REQUEST)


def parse_resumable_end(body: Any) -> str:
    return _query_uuid(_object(body, "resumable-query-end"))


def parse_fetch(body: Any) -> FetchRequest:
    if isinstance(body, list):
        body = {"ids": body}
    body = _object(body, "fetch")
    ids = None if body.get("ids") is None else _ids(body["ids"], "fetch")
    prefix = _prefix(body.get("prefix"))
    if ids is None and prefix is None:
        raise bad_request("fetch needs 'ids' or 'prefix'")
    if ids is not None and prefix is not None:
        raise bad_request("fetch takes either 'ids' or 'prefix', not both")
    return FetchRequest(ids=ids, prefix=prefix, includes=_includes(body))


def encode_cursor(vector_id: str) -> str:
    # Opaque, like Upstash's: it cannot be mistaken for "0", which some clients send to start.
    return base64.urlsafe_b64encode(vector_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str | None:
    if cursor in ("", "0"):
        return None
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise bad_request(f"Invalid cursor: {cursor!r}") from exc


def parse_range(body: Any) -> RangeRequest:
    body = _object(body, "range")
    cursor = body.get("cursor", "")
    if isinstance(cursor, int) and not isinstance(cursor, bool):
        cursor = str(cursor)
    if not isinstance(cursor, str):
        raise bad_request("cursor must be a string")
    return RangeRequest(
        start_id=decode_cursor(cursor),
        limit=_int(body, "limit", None, 1, MAX_READS_PER_REQUEST),
        prefix=_prefix(body.get("prefix")),
        includes=_includes(body),
    )


def parse_delete(body: Any) -> DeleteRequest:
    if isinstance(body, list | str | int) and not isinstance(body, bool):
        body = {"ids": body}
    body = _object(body, "delete")
    given = [name for name in ("ids", "prefix", "filter") if body.get(name) is not None]
    if len(given) != 1:
        raise bad_request(
            "delete takes exactly one of 'ids', 'prefix' or 'filter'"
            + (f", got {', '.join(given)}" if given else "")
        )
    if given[0] == "ids":
        return DeleteRequest(ids=_ids(body["ids"], "delete"))
    if given[0] == "prefix":
        return DeleteRequest(prefix=_prefix(body["prefix"]))
    return DeleteRequest(predicate=_predicate(body["filter"], required=True))


def parse_update(body: Any, dimension: int, hybrid: bool = False) -> UpdateRequest:
    body = _object(body, "update")
    vector_id = parse_id(body.get("id"))
    where = f"vector {vector_id!r}"
    sparse = _sparse(body, where, hybrid)
    mode = body.get("metadataUpdateMode", "OVERWRITE")
    if mode not in ("OVERWRITE", "PATCH"):
        raise bad_request(f"metadataUpdateMode must be OVERWRITE or PATCH, got {json.dumps(mode)}")
    vector = None
    if body.get("vector") is not None:
        vector = parse_vector(body["vector"], dimension, where)
    if hybrid and (vector is None) != (sparse is None):
        # Upstash: "It is not allowed to update only vector or sparseVector" of a hybrid index.
        raise bad_request(
            f"An update of {where} on a hybrid index takes both 'vector' and 'sparseVector' "
            "or neither"
        )
    metadata = body.get("metadata")
    if metadata is not None:
        encode_metadata(metadata, where)  # the size of a patch result is checked again later
    data = _data(body.get("data"), where, required=False)
    if vector is None and data is None and metadata is None and sparse is None:
        raise bad_request(
            "update needs at least one of 'vector', "
            + ("'sparseVector', " if hybrid else "")
            + "'data' or 'metadata'"
        )
    return UpdateRequest(
        id=vector_id,
        vector=vector,
        data=data,
        metadata=metadata,
        patch=mode == "PATCH",
        sparse=sparse,
    )


def vector_to_json(vector: np.ndarray) -> list[float]:
    """The float32 values as their shortest decimal form, so 0.1 comes back as 0.1."""
    return [float(text) for text in vector.astype(str)]


def score_to_json(cosine: float) -> float:
    # Upstash normalises cosine similarity to 0..1.
    return (1.0 + max(-1.0, min(1.0, cosine))) / 2.0
