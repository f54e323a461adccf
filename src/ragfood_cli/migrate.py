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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragfood.foods import FoodRecord, ParsedFoods, parse_foods
from ragfood.retry_budget import RetryBudget
from ragfood.sync import DEFAULT_BUDGET_S, SyncProgress, plan_sync, stored_for, sync_foods
from ragfood.vector import VectorGateway
from ragfood_cli.chroma_source import ChromaCollection, ChromaRow

# Fields a document's metadata cannot set: the id and the text are the document's own.
_OWN_FIELDS = ("id", "text")


def source_name(collection: str) -> str:
    """The owner of a collection's items in the index (delete them by this name to roll back)."""
    return f"chroma:{collection}"


def to_items(rows: Iterable[ChromaRow]) -> tuple[list[dict[str, Any]], list[str]]:
    """Food items in a foods.json layout, and warnings for metadata that could not be kept."""
    items: list[dict[str, Any]] = []
    warnings: list[str] = []
    for index, row in enumerate(rows):
        item: dict[str, Any] = {"id": row.id, "text": row.document}
        for key, value in row.metadata.items():
            if key in _OWN_FIELDS:
                warnings.append(
                    f"item {index} (id {row.id!r}): metadata field {key!r} would replace the "
                    f"document's own {key}; ignored"
                )
                continue
            item[key] = value
        items.append(item)
    return items, warnings


def to_upload(rows: Sequence[ChromaRow]) -> tuple[bytes, list[str]]:
    """The collection as the bytes of a foods.json upload (what `parse_foods` validates)."""
    items, warnings = to_items(rows)
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


@dataclass
class Migration:
    """A collection mapped and validated, ready to sync (or to plan, for --dry-run)."""

    collection: ChromaCollection
    source: str
    raw: bytes
    parsed: ParsedFoods
    warnings: list[str]

    @classmethod
    def of(cls, collection: ChromaCollection) -> Migration:
        source = source_name(collection.name)
        raw, warnings = to_upload(collection.rows)
        return cls(collection, source, raw, parse_foods(raw, source), warnings)

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
            self.raw,
            gateway,
            namespace=namespace,
            source=self.source,
            max_delete_fraction=max_delete_fraction,
            allow_mass_delete=allow_mass_delete,
            progress=progress,
        )
        summary = report.as_dict()
        summary["warnings"] = self.warnings + summary["warnings"]
        summary["dry_run"] = False
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
