"""Sync an upload with its namespace: each file (its `source`) owns the items it lists.

Several files may share a namespace. Every stored item remembers the source it came from; an
upload writes its new and changed items, and deletes only the items of its own source that it no
longer lists. An id that another file already owns is reported as a conflict and left alone, never
silently overwritten. Items written before sources were tracked (legacy vectors) are adopted by the
first file that lists them.

Unchanged items (same content hash) are not re-upserted: each upsert is billed and re-embedded.
Deletions happen only when every item parsed and never remove more than a configured share of the
namespace without an explicit override: a truncated or mostly broken upload must not wipe what is
indexed. The same guard applies when an object is removed (`remove_source`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ragfood.errors import FoodFileError, VectorError, VectorQuotaExceeded
from ragfood.foods import MAX_FILE_BYTES, FoodRecord, ParsedFoods, Reject, parse_foods
from ragfood.log import logger
from ragfood.retry_budget import DEFAULT_STALL_S, RetryBudget
from ragfood.vector import StoredItem, VectorGateway

# failed: stopped by a used-up quota (or, in the bucket's report, by an index error Lambda
# retries); skipped: an older version than one already applied.
Status = Literal["ok", "partial", "rejected", "failed", "skipped"]
DEFAULT_BUDGET_S = 600.0
# progress(stage, done, total); stages: "upsert", "delete"
SyncProgress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class Conflict:
    """An id this file lists that another file already owns: reported, not written."""

    id: str
    owner: str


@dataclass(frozen=True)
class SyncPlan:
    to_upsert: list[FoodRecord]
    unchanged: int
    to_delete: list[str]
    deletions_skipped: str | None = None
    conflicts: list[Conflict] = field(default_factory=list)
    adopted: int = 0


@dataclass
class SyncReport:
    source: str
    namespace: str
    status: Status
    items: int = 0
    upserted: int = 0
    unchanged: int = 0
    deleted: int = 0
    adopted: int = 0
    rejected: list[Reject] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    deletions_skipped: str | None = None
    error: str | None = None
    # Whole requests (a batch, a page) retried after their own attempts ran out (the ingest's
    # retry budget): how hard the index pushed back.
    retried: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rejected"] = [
            {"index": r.index, "id": r.id, "reason": r.reason} for r in self.rejected
        ]
        data["conflicts"] = [{"id": c.id, "owner": c.owner} for c in self.conflicts]
        return data


def plan_sync(
    records: Sequence[FoodRecord],
    stored: Mapping[str, StoredItem],
    *,
    source: str,
    namespace_size: int | None = None,
    rejected: int = 0,
    max_delete_fraction: float = 0.5,
    allow_mass_delete: bool = False,
    take_over: bool = False,
) -> SyncPlan:
    """Decide what to write and delete. Pure: the index is only read before and written after.

    `take_over`: ids other files own are adopted by this one instead of reported as conflicts
    (an explicit hand-over, e.g. from a CLI-ingested file to its upload in the bucket).

    `stored` holds at least every stored item this file lists or owns; `namespace_size` is the
    number of vectors in the namespace (the base of the mass-delete guard), len(stored) if unknown.
    """
    to_upsert: list[FoodRecord] = []
    conflicts: list[Conflict] = []
    unchanged = adopted = 0
    for record in records:
        item = stored.get(record.id)
        if item is None or item.source == source:
            # A legacy vector of this very source keeps its layout until its content changes:
            # rewriting it only to drop metadata.text would bill one update per item.
            if item is not None and item.hash == record.hash:
                unchanged += 1
            else:
                to_upsert.append(record)
        elif item.legacy or take_over:
            to_upsert.append(record)  # written before sources were tracked: this file adopts it
            adopted += 1
        else:
            conflicts.append(Conflict(record.id, item.source or "another file"))
    wanted = {r.id for r in records}
    to_delete = sorted(i for i, item in stored.items() if item.source == source and i not in wanted)
    skipped = _deletion_guard(
        len(to_delete),
        len(stored) if namespace_size is None else namespace_size,
        rejected=rejected,
        empty=not records,
        max_delete_fraction=max_delete_fraction,
        allow_mass_delete=allow_mass_delete,
    )
    if skipped:
        to_delete = []
    return SyncPlan(to_upsert, unchanged, to_delete, skipped, conflicts, adopted)


def _deletion_guard(
    count: int,
    namespace_size: int,
    *,
    rejected: int = 0,
    empty: bool = False,
    max_delete_fraction: float,
    allow_mass_delete: bool,
) -> str | None:
    """Why these deletions must not happen, or None when they may."""
    if not count:
        return None
    if rejected:
        return (
            f"{count} indexed items are missing from the file, but {rejected} items "
            "were rejected, so nothing is deleted until the file is clean"
        )
    if empty:
        return (
            f"the file lists no items, so it would delete {count} of {namespace_size} indexed "
            "items; nothing is deleted (delete the object to remove its items)"
        )
    if not allow_mass_delete and count > max_delete_fraction * namespace_size:
        return (
            f"this would delete {count} of {namespace_size} indexed items, more than "
            f"{max_delete_fraction:.0%}; nothing is deleted (override: RAGFOOD_MAX_DELETE_FRACTION "
            "or --allow-mass-delete)"
        )
    return None


def stored_for(
    gateway: VectorGateway, namespace: str, ids: Sequence[str], retry: RetryBudget
) -> tuple[dict[str, StoredItem], int]:
    """The stored items a sync of these ids must see, and the namespace's size.

    When the namespace holds no more vectors than the file lists, fetching the file's ids (in
    parallel) may account for all of them: then nothing else exists and no listing is needed.
    Otherwise every vector's metadata is listed, page after page (the range cursor is sequential).
    """
    info = retry(gateway.info)
    size, pending = info.namespaces.get(namespace, 0), info.pending.get(namespace, 0)
    if pending == 0 and size <= len(ids):
        found = gateway.fetch_items(ids, namespace, retry=retry) if size else {}
        if len(found) == size:
            return found, size
    items = gateway.stored_items(namespace, retry=retry)
    return items, max(size, len(items))


def sync_foods(
    raw: bytes,
    gateway: VectorGateway,
    *,
    namespace: str = "",
    source: str = "foods.json",
    max_delete_fraction: float = 0.5,
    allow_mass_delete: bool = False,
    progress: SyncProgress | None = None,
    budget_s: float = DEFAULT_BUDGET_S,
    max_bytes: int = MAX_FILE_BYTES,
    take_over: bool = False,
    parsed: ParsedFoods | None = None,
    stall_s: float = DEFAULT_STALL_S,
) -> SyncReport:
    """Parse, plan and apply one upload as `source`.

    `parsed`: records the caller parsed itself (a ChromaDB migration keeps ids exactly as they
    are, surrounding spaces included, where an upload strips them); `raw` is then not read.

    Transient vector errors are retried within `budget_s` for the whole sync (unless none
    succeeds for `stall_s` in a row: the index is down, not busy), then propagate (the
    caller decides to retry); a used-up quota stops at once with a 'failed' report. `max_bytes`
    bounds uploads; a local migration (not a Lambda's memory) may allow more.
    """
    started = time.perf_counter()
    report = SyncReport(source=source, namespace=namespace, status="ok")
    try:
        if parsed is None:
            parsed = parse_foods(raw, source, max_bytes=max_bytes)
    except FoodFileError as exc:
        report.status, report.error = "rejected", str(exc)
        report.timings_ms["total"] = _ms(started)
        logger.warning("upload rejected", extra={"source": source, "reason": exc.reason})
        return report
    report.items, report.rejected, report.warnings = parsed.total, parsed.rejects, parsed.warnings
    report.timings_ms["parse"] = _ms(started)
    retry = RetryBudget(budget_s, stall_s=stall_s)
    try:
        _apply(
            parsed.records,
            len(parsed.rejects),
            gateway,
            report,
            retry,
            progress,
            max_delete_fraction=max_delete_fraction,
            allow_mass_delete=allow_mass_delete,
            take_over=take_over,
        )
    except VectorError as exc:
        report.status, report.error = "failed", str(exc)
        report.timings_ms["total"] = _ms(started)
        report.retried = retry.retries
        if not isinstance(exc, VectorQuotaExceeded):
            # Raised on for the caller to retry, with what was written before it stopped.
            exc.report = report
            raise
        logger.error(
            "upload stopped by a used-up quota", extra={"source": source, "error": str(exc)}
        )
        return report
    report.timings_ms["total"] = _ms(started)
    report.retried = retry.retries
    if report.rejected and not parsed.records:
        # Nothing usable at all: as much a failed upload as one that is not JSON.
        report.status = "rejected"
        report.error = f"{source}: none of the {report.items} items is valid"
    elif report.rejected or report.deletions_skipped or report.conflicts:
        report.status = "partial"
    _log(report, retry)
    return report


def _apply(
    records: Sequence[FoodRecord],
    rejected: int,
    gateway: VectorGateway,
    report: SyncReport,
    retry: RetryBudget,
    progress: SyncProgress | None,
    **planning: Any,
) -> None:
    namespace, source = report.namespace, report.source
    mark = time.perf_counter()
    stored, size = stored_for(gateway, namespace, [r.id for r in records], retry)
    report.timings_ms["list"] = _ms(mark)
    plan = plan_sync(
        records, stored, source=source, namespace_size=size, rejected=rejected, **planning
    )
    report.unchanged, report.deletions_skipped = plan.unchanged, plan.deletions_skipped
    report.conflicts, report.adopted = plan.conflicts, plan.adopted

    # report.upserted/deleted are counted by _tally as batches land (so a sync stopped midway
    # still says what it wrote), not taken from the calls' return values as well.
    mark = time.perf_counter()
    gateway.upsert(
        plan.to_upsert,
        namespace=namespace,
        source=source,
        progress=_tally(report, "upserted", _stage(progress, "upsert", len(plan.to_upsert))),
        retry=retry,
    )
    report.timings_ms["upsert"] = _ms(mark)
    mark = time.perf_counter()
    gateway.delete(
        plan.to_delete,
        namespace=namespace,
        progress=_tally(report, "deleted", _stage(progress, "delete", len(plan.to_delete))),
        retry=retry,
    )
    report.timings_ms["delete"] = _ms(mark)


def remove_source(
    gateway: VectorGateway,
    *,
    namespace: str,
    source: str,
    max_delete_fraction: float = 0.5,
    allow_mass_delete: bool = False,
    budget_s: float = DEFAULT_BUDGET_S,
) -> SyncReport:
    """The file `source` was removed: delete the items it owns, under the mass-delete guard."""
    started = time.perf_counter()
    report = SyncReport(source=source, namespace=namespace, status="ok")
    retry = RetryBudget(budget_s)
    try:
        stored = gateway.stored_items(namespace, retry=retry)
        owned = sorted(i for i, item in stored.items() if item.source == source)
        report.items = len(owned)
        report.deletions_skipped = _deletion_guard(
            len(owned),
            len(stored),
            max_delete_fraction=max_delete_fraction,
            allow_mass_delete=allow_mass_delete,
        )
        if not report.deletions_skipped:
            report.deleted = gateway.delete(owned, namespace=namespace, retry=retry)
        else:
            report.status = "partial"
    except VectorQuotaExceeded as exc:
        report.status, report.error = "failed", str(exc)
    report.timings_ms["total"] = _ms(started)
    report.retried = retry.retries
    _log(report, retry)
    return report


def _log(report: SyncReport, retry: RetryBudget) -> None:
    logger.info(
        "upload synced",
        extra={
            "source": report.source,
            "namespace": report.namespace,
            "status": report.status,
            "items": report.items,
            "upserted": report.upserted,
            "unchanged": report.unchanged,
            "deleted": report.deleted,
            "adopted": report.adopted,
            "conflicts": len(report.conflicts),
            "rejected": len(report.rejected),
            "retried_operations": retry.retries,
            "timings_ms": report.timings_ms,
        },
    )


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


def _tally(
    report: SyncReport,
    counter: Literal["upserted", "deleted"],
    advance: Callable[[int], None] | None,
) -> Callable[[int], None]:
    """Counts batches as they land, so that a sync stopped midway (a used-up quota) reports what
    the index now holds rather than 0."""

    def landed(count: int) -> None:
        setattr(report, counter, getattr(report, counter) + count)
        if advance:
            advance(count)

    return landed


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
