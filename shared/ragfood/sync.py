"""Sync an upload with its namespace: the file is the whole knowledge base of that namespace.

Unchanged items (same content hash) are not re-upserted: each upsert is billed and re-embedded.
Items missing from the file are deleted, but only when every item parsed and never more than a
configured share of the index without an explicit override: a truncated or mostly broken upload
must not wipe what is indexed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ragfood.errors import FoodFileError
from ragfood.foods import FoodRecord, Reject, parse_foods
from ragfood.log import logger
from ragfood.vector import VectorGateway

Status = Literal["ok", "partial", "rejected"]
# progress(stage, done, total); stages: "upsert", "delete"
SyncProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SyncPlan:
    to_upsert: list[FoodRecord]
    unchanged: int
    to_delete: list[str]
    deletions_skipped: str | None = None


@dataclass
class SyncReport:
    source: str
    namespace: str
    status: Status
    items: int = 0
    upserted: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: list[Reject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    deletions_skipped: str | None = None
    error: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rejected"] = [
            {"index": r.index, "id": r.id, "reason": r.reason} for r in self.rejected
        ]
        return data


def plan_sync(
    records: Sequence[FoodRecord],
    stored: Mapping[str, str | None],
    *,
    rejected: int = 0,
    max_delete_fraction: float = 0.5,
    allow_mass_delete: bool = False,
) -> SyncPlan:
    """Decide what to write and delete. Pure: the index is only read before and written after."""
    to_upsert = [r for r in records if stored.get(r.id, "\0") != r.hash]
    unchanged = len(records) - len(to_upsert)
    wanted = {r.id for r in records}
    to_delete = sorted(set(stored) - wanted)
    skipped = None
    if to_delete and rejected:
        skipped = (
            f"{len(to_delete)} indexed items are missing from the file, but {rejected} items "
            "were rejected, so nothing is deleted until the file is clean"
        )
    elif to_delete and not allow_mass_delete and len(to_delete) > max_delete_fraction * len(stored):
        skipped = (
            f"the file would delete {len(to_delete)} of {len(stored)} indexed items, more than "
            f"{max_delete_fraction:.0%}; nothing is deleted (override: RAGFOOD_MAX_DELETE_FRACTION "
            "or --allow-mass-delete)"
        )
    if skipped:
        to_delete = []
    return SyncPlan(to_upsert, unchanged, to_delete, skipped)


def sync_foods(
    raw: bytes,
    gateway: VectorGateway,
    *,
    namespace: str = "",
    source: str = "foods.json",
    max_delete_fraction: float = 0.5,
    allow_mass_delete: bool = False,
    progress: SyncProgress | None = None,
) -> SyncReport:
    """Parse, plan and apply one upload. Vector errors propagate: the caller decides to retry."""
    started = time.perf_counter()
    report = SyncReport(source=source, namespace=namespace, status="ok")
    try:
        parsed = parse_foods(raw, source)
    except FoodFileError as exc:
        report.status, report.error = "rejected", str(exc)
        report.timings_ms["total"] = _ms(started)
        logger.warning("upload rejected", extra={"source": source, "reason": exc.reason})
        return report
    report.items, report.rejected, report.warnings = parsed.total, parsed.rejects, parsed.warnings
    report.timings_ms["parse"] = _ms(started)

    mark = time.perf_counter()
    stored = gateway.stored_hashes(namespace)
    report.timings_ms["list"] = _ms(mark)
    plan = plan_sync(
        parsed.records,
        stored,
        rejected=len(parsed.rejects),
        max_delete_fraction=max_delete_fraction,
        allow_mass_delete=allow_mass_delete,
    )
    report.unchanged, report.deletions_skipped = plan.unchanged, plan.deletions_skipped

    mark = time.perf_counter()
    report.upserted = gateway.upsert(
        plan.to_upsert,
        namespace=namespace,
        source=source,
        progress=_stage(progress, "upsert", len(plan.to_upsert)),
    )
    report.timings_ms["upsert"] = _ms(mark)
    mark = time.perf_counter()
    report.deleted = gateway.delete(
        plan.to_delete,
        namespace=namespace,
        progress=_stage(progress, "delete", len(plan.to_delete)),
    )
    report.timings_ms["delete"] = _ms(mark)
    report.timings_ms["total"] = _ms(started)
    if report.rejected and not parsed.records:
        # Nothing usable at all: as much a failed upload as one that is not JSON.
        report.status = "rejected"
        report.error = f"{source}: none of the {report.items} items is valid"
    elif report.rejected or report.deletions_skipped:
        report.status = "partial"
    logger.info(
        "upload synced",
        extra={
            "source": source,
            "namespace": namespace,
            "status": report.status,
            "items": report.items,
            "upserted": report.upserted,
            "unchanged": report.unchanged,
            "deleted": report.deleted,
            "rejected": len(report.rejected),
            "timings_ms": report.timings_ms,
        },
    )
    return report


def _stage(progress: SyncProgress | None, stage: str, total: int) -> Callable[[int], None] | None:
    if progress is None:
        return None
    done = 0
    progress(stage, 0, total)

    def advance(count: int) -> None:
        nonlocal done
        done += count
        progress(stage, done, total)

    return advance


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
