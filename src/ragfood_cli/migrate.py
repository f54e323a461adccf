"""Migrate a ChromaDB collection into the index: map, validate, sync, verify.

A Chroma document becomes a food item: its id unchanged, `text` = the document, `region` and
`type` from its metadata, every other metadata field kept as an extra field. The items go through
exactly what an upload goes through: they are serialised as a foods.json array and handed to
`parse_foods` (same rules, same report of rejects) and `sync_foods` (content hashes, batches,
retries, the mass-delete guard), under the source name `chroma:<collection>`, which owns them.
Afterwards every accepted id is read back from the index: an item the index does not hold with
the content we wrote is reported as lost.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragfood.foods import (
    MAX_ID_CHARS,
    RESERVED_KEYS,
    FoodRecord,
    ParsedFoods,
    Reject,
    parse_foods,
)
from ragfood.retry_budget import RetryBudget
from ragfood.sync import DEFAULT_BUDGET_S, SyncProgress, plan_sync, stored_for, sync_foods
from ragfood.vector import VectorGateway
from ragfood_cli.chroma_source import ChromaCollection, ChromaRow

# The upload limit (foods.MAX_FILE_BYTES) protects a Lambda's memory; a migration runs locally,
# so a collection may be larger (the limit on items per source still applies).
MAX_MIGRATION_BYTES = 2 * 1024**3
# Metadata keys that would clash with the document's own id/text or with what the index writes
# itself (LangChain, for one, stores a `source` per document): kept under a `chroma_` prefix.
_RENAMED = (RESERVED_KEYS - {"region", "type"}) | {"id"}
PREFIX = "chroma_"
COLLECTION_ID = "chroma_collection_id"
_STAND_IN_PREFIX = "ragfood-padded-id-"
_STAND_IN = re.compile(rf"'({_STAND_IN_PREFIX}\d+-[0-9a-f]{{32}})'")


def source_name(collection: str) -> str:
    """The owner of a collection's items in the index (delete them by this name to roll back)."""
    return f"chroma:{collection}"


def to_items(
    rows: Iterable[ChromaRow], collection_id: str | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Food items in a foods.json layout, and warnings for metadata kept under another name.

    Each item also records the collection's id (`chroma_collection_id`): another directory's
    collection of the same name has another, and must not take these items for its own.
    """
    items: list[dict[str, Any]] = []
    renamed: Counter[str] = Counter()
    for row in rows:
        item: dict[str, Any] = {"id": row.id, "text": row.document}
        clashing = {}
        for key, value in row.metadata.items():
            if key in _RENAMED:
                clashing[PREFIX + key] = value
                renamed[key] += 1
            else:
                item[key] = value
        for key, value in clashing.items():
            item.setdefault(key, value)  # a document's own `chroma_x` wins over its renamed `x`
        if collection_id is not None:
            item[COLLECTION_ID] = collection_id
        items.append(item)
    warnings = [
        f"metadata field {key!r} ({count} document{'s' if count > 1 else ''}) is reserved in "
        f"the index; kept as {PREFIX + key!r}"
        for key, count in sorted(renamed.items())
    ]
    return items, warnings


def to_upload(
    rows: Sequence[ChromaRow], collection_id: str | None = None
) -> tuple[bytes, list[str]]:
    """The collection as the bytes of a foods.json upload (what `parse_foods` validates)."""
    items, warnings = to_items(rows, collection_id)
    # allow_nan: a NaN in metadata is written as NaN so that the validator rejects it by name.
    raw = json.dumps(items, ensure_ascii=False, allow_nan=True, default=_jsonable).encode()
    return raw, warnings


def _jsonable(value: Any) -> Any:
    # Chroma 1.x metadata may hold arrays (or numpy values); lists are reported by the
    # validator as "only strings, numbers and booleans are kept", anything else by its text.
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return list(value)
    return str(value)


def _stand_ins(rows: Sequence[ChromaRow]) -> tuple[list[ChromaRow], dict[str, str]]:
    """Rows whose id has surrounding whitespace get a stand-in id for validation.

    In ChromaDB an id is an exact key (" pho " and "pho" are two documents), but the validator
    strips ids, as a typo in a hand-written foods.json: " pho " would be stored as "pho" and the
    real "pho" rejected as a duplicate. Returns the rows and {stand-in: original id}.
    """
    padded: dict[str, str] = {}
    result = []
    for row in rows:
        id_ = row.id
        if id_ != id_.strip() and id_.strip() and len(id_) <= MAX_ID_CHARS:
            stand_in = f"{_STAND_IN_PREFIX}{len(padded)}-{uuid.uuid4().hex}"
            padded[stand_in] = id_
            row = ChromaRow(stand_in, row.document, row.metadata)
        result.append(row)
    return result, padded


def _in_chroma_terms(reject: Reject, rows: Sequence[ChromaRow]) -> Reject:
    """A record without a document is what ChromaDB calls it, not an upload's null 'text'."""
    if rows[reject.index].document is None:
        return Reject(
            reject.index,
            reject.id,
            "no document: ChromaDB kept only its embedding, so there is no text to index",
        )
    return reject


def _restore_ids(parsed: ParsedFoods, padded: dict[str, str]) -> ParsedFoods:
    if not padded:
        return parsed
    for record in parsed.records:
        record.id = padded.get(record.id, record.id)
    parsed.rejects = [
        Reject(r.index, padded.get(r.id, r.id) if r.id else r.id, r.reason) for r in parsed.rejects
    ]

    def original(match: re.Match[str]) -> str:
        return repr(padded.get(match[1], match[1]))

    parsed.warnings = [_STAND_IN.sub(original, w) for w in parsed.warnings]
    return parsed


@dataclass
class Verification:
    """Every accepted item read back from the index."""

    checked: int = 0
    lost: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.changed

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "lost": self.lost, "changed": self.changed}


def verify(
    records: Sequence[FoodRecord], gateway: VectorGateway, *, namespace: str, source: str
) -> Verification:
    """Fetch every record's id back: absent (lost) or not with our content and owner (changed)."""
    stored = gateway.fetch_items(
        [r.id for r in records], namespace, retry=RetryBudget(DEFAULT_BUDGET_S)
    )
    result = Verification(checked=len(records))
    for record in records:
        item = stored.get(record.id)
        if item is None:
            result.lost.append(record.id)
        elif item.hash != record.hash or item.source != source:
            result.changed.append(record.id)
    return result


def wait_until_indexed(
    gateway: VectorGateway,
    namespace: str,
    *,
    timeout_s: float = 120.0,
    poll_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Wait until Upstash has indexed what was written (writes are eventually consistent).

    Returns the vectors still pending when `timeout_s` ran out (0 when everything is indexed).
    """
    waited = 0.0
    while True:
        pending = gateway.info().pending.get(namespace, 0)
        if pending == 0 or waited >= timeout_s:
            return pending
        sleep(poll_s)
        waited += poll_s


@dataclass
class Migration:
    """A collection mapped and validated, ready to sync (or to plan, for --dry-run)."""

    collection: ChromaCollection
    source: str
    parsed: ParsedFoods
    warnings: list[str]
    parse_ms: float = 0.0  # mapping and validating, done here rather than in the sync

    @classmethod
    def of(cls, collection: ChromaCollection) -> Migration:
        started = time.perf_counter()
        source = source_name(collection.name)
        rows, padded = _stand_ins(collection.rows)
        raw, warnings = to_upload(rows, collection.id)
        parsed = parse_foods(raw, source, max_bytes=MAX_MIGRATION_BYTES)
        parsed.rejects = [_in_chroma_terms(r, rows) for r in parsed.rejects]
        # The records hold everything from here on: the rows and the upload's bytes (each about
        # the collection's size) need not live through the sync.
        del rows, raw
        collection.rows = []
        parsed = _restore_ids(parsed, padded)
        parse_ms = round((time.perf_counter() - started) * 1000, 1)
        return cls(collection, source, parsed, warnings, parse_ms)

    def other_collection(self, gateway: VectorGateway, namespace: str) -> str | None:
        """The id of another collection of the same name (from another directory, or deleted and
        re-created) whose items this source already owns in the namespace, if any.

        Items migrated before ids were recorded carry none: they are taken as this collection's.
        """
        mine = self.collection.id
        if mine is None:
            return None
        retry = RetryBudget(DEFAULT_BUDGET_S)
        for _, metadata in gateway.stored_metadata(namespace, retry=retry):
            if metadata and metadata.get("source") == self.source:
                theirs = metadata.get(COLLECTION_ID)
                if isinstance(theirs, str) and theirs != mine:
                    return theirs
        return None

    def run(
        self,
        gateway: VectorGateway,
        *,
        namespace: str,
        max_delete_fraction: float,
        allow_mass_delete: bool = False,
        progress: SyncProgress | None = None,
    ) -> dict[str, Any]:
        """Sync through the ingest core; its report (same keys as `ragfood ingest --json`)."""
        report = sync_foods(
            b"",
            gateway,
            parsed=self.parsed,
            namespace=namespace,
            source=self.source,
            max_delete_fraction=max_delete_fraction,
            allow_mass_delete=allow_mass_delete,
            progress=progress,
        )
        summary = report.as_dict()
        summary["warnings"] = self.warnings + summary["warnings"]
        summary["dry_run"] = False
        timings = summary["timings_ms"]
        timings["parse"] = self.parse_ms
        timings["total"] = round(timings.get("total", 0.0) + self.parse_ms, 1)
        return summary

    def plan(
        self,
        gateway: VectorGateway,
        *,
        namespace: str,
        max_delete_fraction: float,
        allow_mass_delete: bool = False,
    ) -> dict[str, Any]:
        """What `run` would write, from the same planner, without writing anything."""
        records = self.parsed.records
        stored, size = stored_for(
            gateway, namespace, [r.id for r in records], RetryBudget(DEFAULT_BUDGET_S)
        )
        plan = plan_sync(
            records,
            stored,
            source=self.source,
            namespace_size=size,
            rejected=len(self.parsed.rejects),
            max_delete_fraction=max_delete_fraction,
            allow_mass_delete=allow_mass_delete,
        )
        rejected = self.parsed.rejects
        status = "rejected" if rejected and not records else "ok"
        if status == "ok" and (rejected or plan.deletions_skipped or plan.conflicts):
            status = "partial"
        return {
            "source": self.source,
            "namespace": namespace,
            "status": status,
            "items": self.parsed.total,
            "upserted": 0,
            "unchanged": plan.unchanged,
            "deleted": 0,
            "adopted": plan.adopted,
            "rejected": [{"index": r.index, "id": r.id, "reason": r.reason} for r in rejected],
            "conflicts": [{"id": c.id, "owner": c.owner} for c in plan.conflicts],
            "warnings": self.warnings + self.parsed.warnings,
            "deletions_skipped": plan.deletions_skipped,
            "error": None,
            "dry_run": True,
            "would_upsert": len(plan.to_upsert),
            "would_delete": len(plan.to_delete),
            "would_upsert_ids": [r.id for r in plan.to_upsert[:20]],
            "would_delete_ids": plan.to_delete[:20],
        }
