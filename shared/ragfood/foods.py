"""Food records: parse and validate a foods.json upload, enrich each item for embedding.

`parse_foods` is pure: bytes in, records and per-item rejects out. A problem with one item never
loses the others; only a file that cannot be read at all raises `FoodFileError`.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Annotated, Any, NotRequired

from pydantic import ConfigDict, StringConstraints, TypeAdapter, ValidationError
from typing_extensions import TypedDict

# They live apart so that the ask path recovers texts without importing this validator.
from ragfood.enrichment import enrich
from ragfood.enrichment import recover_text as recover_text  # re-exported
from ragfood.errors import FoodFileError

# Bump when the enrichment text changes: every content hash changes with it, so a redeploy
# re-embeds items whose indexed text would otherwise be stale.
ENRICHMENT_VERSION = "1"
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ITEMS = 200_000
MAX_ID_CHARS = 256
# The text travels as the vector's data (Upstash: up to 1 MB); the cap keeps each item a
# reasonable passage to embed and to show as a source.
MAX_TEXT_BYTES = 40_000
MAX_FIELD_CHARS = 200
# Upstash keeps up to 48 KB of metadata per vector and refuses a whole write request (up to 1,000
# items) for one item over it; an item's extra fields get what the product's own keys (hash,
# source, region, type and their *_key copies) leave.
MAX_METADATA_BYTES = 48 * 1024
MAX_EXTRA_BYTES = MAX_METADATA_BYTES - 4 * 1024
# Metadata keys the product writes itself; an item's extra fields may not shadow them.
RESERVED_KEYS = frozenset(
    {"text", "region", "type", "region_key", "type_key", "hash", "source", "extra"}
)

_KNOWN_FIELDS = frozenset({"id", "text", "region", "type"})
_NAN = object()  # marks NaN/Infinity literals, which JSON does not allow


NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
# Blank region/type mean "not given"; only native constraints here, Python checks are 10x slower.
Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_FIELD_CHARS)]


class FoodItem(TypedDict):
    """The shape of one item; strict so that an id of 42 is reported, not coerced to "42"."""

    # A TypedDict validates ~2x faster than a BaseModel, which matters at 50,000 items.
    __pydantic_config__ = ConfigDict(strict=True, extra="allow")  # type: ignore[misc]

    id: Annotated[NonEmpty, StringConstraints(max_length=MAX_ID_CHARS)]
    text: NonEmpty
    region: NotRequired[Label | None]
    type: NotRequired[Label | None]


_validate_food_item = TypeAdapter(FoodItem).validate_python
# A whole upload in one call: ~2x faster than item by item; used when every item is valid.
_validate_food_items = TypeAdapter(list[FoodItem]).validate_python


@dataclass(slots=True)  # not frozen: frozen dataclasses construct ~3x slower, and we make 50k
class FoodRecord:
    """A validated item, ready to index."""

    id: str
    text: str
    region: str | None
    type: str | None
    extra: dict[str, str | int | float | bool]
    enriched: str
    hash: str

    def metadata(self, source: str) -> dict[str, Any]:
        """What is stored beside the data: never the text (it is the data, see `recover_text`)."""
        # Built as literals (not dict.update calls): this runs for every item written.
        meta: dict[str, Any] = {**self.extra, "hash": self.hash, "source": source}
        # *_key copies are lower-cased so that filters match "thailand" and "Thailand" alike.
        if self.region:
            meta["region"], meta["region_key"] = self.region, self.region.casefold()
        if self.type:
            meta["type"], meta["type_key"] = self.type, self.type.casefold()
        return meta


@dataclass(frozen=True, slots=True)
class Reject:
    """One item that was not indexed, and why."""

    index: int
    id: str | None
    reason: str

    def __str__(self) -> str:
        who = f"item {self.index}" + (f" (id {self.id!r})" if self.id is not None else "")
        return f"{who}: {self.reason}"


@dataclass
class ParsedFoods:
    records: list[FoodRecord] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.records) + len(self.rejects)


def content_hash(enriched: str, extra: dict[str, Any]) -> str:
    """Changes whenever what we would index changes; unchanged items are not re-upserted."""
    extras = json.dumps(extra, sort_keys=True, ensure_ascii=False) if extra else ""
    payload = f"{ENRICHMENT_VERSION}\x1f{enriched}\x1f{extras}"
    return hashlib.blake2b(payload.encode("utf-8"), digest_size=16).hexdigest()


def parse_foods(
    raw: bytes, source: str = "foods.json", max_bytes: int = MAX_FILE_BYTES
) -> ParsedFoods:
    """Validate a whole upload. Raises FoodFileError only when no item can be read at all."""
    items, has_nan = _load_array(raw, source, max_bytes)
    warnings: list[str] = []
    valid_items = None if has_nan else _validate_all(items)
    if valid_items is None:
        results = (_validate_item(item, i, warnings) for i, item in enumerate(items))
    else:
        del items  # pydantic made copies: the parsed JSON can go before the records are built
        results = (_record(valid, i, warnings) for i, valid in enumerate(valid_items))
    parsed = ParsedFoods(warnings=warnings)
    first_seen: dict[str, int] = {}
    for index, record_or_reason in enumerate(results):
        if isinstance(record_or_reason, Reject):
            parsed.rejects.append(record_or_reason)
            continue
        record = record_or_reason
        if record.id in first_seen:
            parsed.rejects.append(
                Reject(
                    index, record.id, f"duplicate id (first seen at item {first_seen[record.id]})"
                )
            )
            continue
        first_seen[record.id] = index
        parsed.records.append(record)
    return parsed


def _validate_all(items: list[Any]) -> list[FoodItem] | None:
    """Every item validated in one call, or None when any is invalid: the caller then checks
    them one by one, so that each bad item gets its own reject and the rest still go in."""
    try:
        return _validate_food_items(items)
    except ValidationError:
        return None


def _load_array(raw: bytes, source: str, max_bytes: int) -> tuple[list[Any], bool]:
    """The upload's items, and whether NaN/Infinity literals appear anywhere in it."""
    if len(raw) > max_bytes:
        raise FoodFileError(source, f"file is {len(raw)} bytes; the limit is {max_bytes}")
    if raw[:2] == b"\x1f\x8b":
        raise FoodFileError(source, "file is gzip-compressed; upload the uncompressed JSON array")
    if raw[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        raise FoodFileError(source, "file is UTF-32; save it as UTF-8")
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise FoodFileError(source, "file is UTF-16; save it as UTF-8")
    if 0 in raw[:4]:
        # JSON starts with ASCII; in UTF-16/32 without a byte-order mark, it comes with NUL bytes.
        width = "UTF-32" if raw[:4].count(0) == 3 else "UTF-16"
        raise FoodFileError(source, f"file looks like {width} (NUL bytes); save it as UTF-8")
    try:
        # utf-8-sig drops a byte-order mark that editors on Windows like to add.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FoodFileError(
            source, f"not valid UTF-8 (byte {exc.start}); save the file as UTF-8"
        ) from None
    if not text.strip():
        raise FoodFileError(source, "file is empty; expected a JSON array of food items")
    constants: list[str] = []  # NaN/Infinity literals seen; usually none, sparing a check per item

    def constant(name: str) -> object:
        constants.append(name)
        return _NAN

    try:
        data = json.loads(text, parse_constant=constant)
    except RecursionError:
        raise FoodFileError(source, "JSON is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise FoodFileError(source, _describe_json_error(text, exc)) from None
    if not isinstance(data, list):
        kind = "NaN" if data is _NAN else _json_kind(data)
        raise FoodFileError(source, f"expected a JSON array of food items, got {kind}")
    if len(data) > MAX_ITEMS:
        raise FoodFileError(source, f"{len(data)} items; the limit is {MAX_ITEMS}")
    return data, bool(constants)


def _describe_json_error(text: str, exc: json.JSONDecodeError) -> str:
    where = f"line {exc.lineno}, column {exc.colno}"
    if exc.msg == "Extra data" and text.lstrip().startswith("{"):
        return (
            f"looks like JSON Lines (one object per line, {where}); wrap the items in a JSON array"
        )
    stripped = text.strip()
    # exc.pos counts from the start of `text`, leading whitespace included.
    if exc.pos >= len(text.rstrip()) or (stripped[:1] == "[" and not stripped.endswith("]")):
        return f"invalid JSON: the file ends early ({exc.msg}, {where}); was the upload truncated?"
    before = text[: exc.pos].rstrip()
    if before.endswith(",") and text[exc.pos] in "]}":
        comma = len(before) - 1
        line = text.count("\n", 0, comma) + 1
        column = comma - text.rfind("\n", 0, comma)
        return (
            f"invalid JSON: a trailing comma (line {line}, column {column}) before "
            f"'{text[exc.pos]}'; JSON allows none there"
        )
    return f"invalid JSON: {exc.msg} ({where})"


def _validate_item(item: Any, index: int, warnings: list[str]) -> FoodRecord | Reject:
    if not isinstance(item, dict):
        return Reject(index, None, f"expected an object, got {_json_kind(item)}")
    raw_id = item.get("id")
    item_id = (raw_id.strip() or None) if isinstance(raw_id, str) else None
    if _NAN in item.values():
        key = next(key for key, value in item.items() if value is _NAN)
        return Reject(index, item_id, f"field {key!r} is NaN or Infinity, not allowed in JSON")
    try:
        valid = _validate_food_item(item)
    except ValidationError as exc:
        return Reject(index, item_id, _describe_item_errors(exc))
    return _record(valid, index, warnings)


def _record(valid: FoodItem, index: int, warnings: list[str]) -> FoodRecord | Reject:
    """The record of an item that passed validation (or why it still cannot be indexed)."""
    item_id, text = valid["id"], valid["text"]
    extra: dict[str, str | int | float | bool] = {}
    # Most items have only the known fields: spare them the loop.
    if not _KNOWN_FIELDS.issuperset(valid):
        extra = _extra_fields(valid, index, warnings)
        if problem := _unwritable(extra):
            return Reject(index, item_id, problem)
    # Cheap length test first: a str can never take more than 4 bytes per character.
    if len(text) * 4 > MAX_TEXT_BYTES and len(text.encode()) > MAX_TEXT_BYTES:
        size = len(text.encode())
        return Reject(index, item_id, f"field 'text' is {size} bytes; limit {MAX_TEXT_BYTES}")
    region, type_ = valid.get("region") or None, valid.get("type") or None
    enriched = enrich(text, region, type_)
    # Positional: ~15 % faster than by keyword, for every item of every upload (field order).
    return FoodRecord(item_id, text, region, type_, extra, enriched, content_hash(enriched, extra))


def _extra_fields(
    valid: FoodItem, index: int, warnings: list[str]
) -> dict[str, str | int | float | bool]:
    """The item's own fields beyond id/text/region/type that are kept (scalars), with a warning
    for each one that is not."""
    item_id = valid["id"]
    extra: dict[str, str | int | float | bool] = {}
    for key, value in valid.items():
        if key in _KNOWN_FIELDS:
            continue
        if key in RESERVED_KEYS:
            warnings.append(f"item {index} (id {item_id!r}): field {key!r} is reserved; ignored")
        elif isinstance(value, str | int | float | bool):
            extra[key] = value
        elif value is not None:
            warnings.append(
                f"item {index} (id {item_id!r}): field {key!r} is {_json_kind(value)}; "
                "only strings, numbers and booleans are kept"
            )
    return extra


def _unwritable(extra: dict[str, str | int | float | bool]) -> str | None:
    """Why a kept field cannot be stored, if it cannot: a number beyond float range (1e999 reads
    as infinity, which JSON cannot carry; the write would fail every time it is retried) or text
    with a lone surrogate (not encodable as UTF-8), or more metadata than an index item holds."""
    chars = 0
    for key, value in extra.items():
        if isinstance(value, float) and not math.isfinite(value):
            return f"field {key!r} is out of range ({value}), not allowed in JSON"
        chars += len(key) + (len(value) if isinstance(value, str) else 24)
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                return f"field {key!r} is not valid Unicode (it holds a lone surrogate)"
    # A JSON-escaped character takes at most 6 bytes: only large fields pay for the exact size.
    if chars * 6 > MAX_EXTRA_BYTES:
        size = len(json.dumps(extra, ensure_ascii=False, separators=(",", ":")).encode())
        if size > MAX_EXTRA_BYTES:
            largest = max(extra, key=lambda k: len(str(extra[k])))
            return (
                f"extra fields take {size} bytes of metadata; the index keeps at most "
                f"{MAX_METADATA_BYTES} bytes per item, {MAX_EXTRA_BYTES} for extra fields "
                f"(the largest is {largest!r})"
            )
    return None


def _describe_item_errors(exc: ValidationError) -> str:
    reasons = []
    for err in exc.errors(include_url=False):
        name = ".".join(str(part) for part in err["loc"]) or "item"
        if err["type"] == "missing":
            reasons.append(f"missing field {name!r}")
        elif err["type"] == "string_unicode":  # "\ud83c" alone: half of an emoji's escape
            reasons.append(f"field {name!r} is not valid Unicode (it holds a lone surrogate)")
        elif err["type"] in {"string_type", "string_too_short"}:
            got = _json_kind(err.get("input"))
            wanted = "a non-empty string" if name in ("id", "text") else "a string"
            reasons.append(f"field {name!r} must be {wanted}, got {got}")
        else:
            reasons.append(f"field {name!r} {err['msg'].lower()}")
    return "; ".join(reasons)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return "an empty string" if not value.strip() else "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
