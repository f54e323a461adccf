"""Ingest one uploaded (or removed) object: sync it, write a report the uploader can find.

Uploads live under `uploads/`; reports are written under `reports/`, which the bucket notification
does not watch, so a report can never trigger another ingest (and should it be widened, an event
outside uploads/ writes nothing back).
`uploads/tenants/<name>/...` selects namespace `<name>`, keeping tenants' knowledge bases apart.
Each object owns its items (their `source` is `s3://<bucket>/<key>`). Events of one namespace are
applied one at a time and, per key, only when newer than the last one applied (`sync_state`).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from ragfood.errors import FoodFileError, VectorError, VectorQuotaExceeded
from ragfood.foods import MAX_FILE_BYTES
from ragfood.log import logger
from ragfood.sync import SyncReport, remove_source, sync_foods
from ragfood.sync_state import (
    NamespaceLock,
    applied_sequencer,
    record_applied,
    sequencer_is_older,
)
from ragfood.vector import VectorGateway

UPLOAD_PREFIX = "uploads/"
REPORT_PREFIX = "reports/"
TENANT_KEY = re.compile(r"^tenants/([^/]+)/")
TENANT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class UnusableKey(ValueError):
    """The object key cannot be ingested (wrong prefix, bad tenant name)."""


class UnusableEvent(ValueError):
    """The function was invoked with something other than an S3 event notification."""


def check_s3_event(event: Any) -> bool:
    """Whether the event carries records to apply: False for the s3:TestEvent S3 sends when
    notifications are set up. Refuses, by name, an event this function cannot read (instead of
    a bare KeyError)."""
    if isinstance(event, dict) and event.get("Event") == "s3:TestEvent":
        return False
    if problem := _not_an_s3_notification(event):
        raise UnusableEvent(
            f"not an S3 event notification: {problem}; see events/s3-put-foods.json"
        )
    return True


def _not_an_s3_notification(event: Any) -> str | None:
    """Why `event` is not an S3 event notification, if it is not."""
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        keys = ", ".join(map(str, event)) if isinstance(event, dict) else type(event).__name__
        problem = f"it has no 'Records' list (got: {keys[:200]})"
        if isinstance(event, dict) and event.get("source") == "aws.s3":
            problem += "; EventBridge events are not supported, use S3 notifications"
        return problem
    for position, record in enumerate(event["Records"]):
        if not isinstance(record, dict) or not isinstance(record.get("s3"), dict):
            return f"record {position} is not an S3 record (no 's3' object)"
    return None


def namespace_for_key(key: str, default: str = "") -> str:
    """`uploads/tenants/acme/foods.json` -> "acme"; any other upload -> the default namespace."""
    if not key.startswith(UPLOAD_PREFIX):
        raise UnusableKey(f"{key!r} is not under {UPLOAD_PREFIX!r}; only uploads are ingested")
    relative = key[len(UPLOAD_PREFIX) :]
    match = TENANT_KEY.match(relative)
    if not match:
        return default
    tenant = match.group(1)
    if not TENANT_NAME.match(tenant):
        raise UnusableKey(
            f"tenant name {tenant!r} in {key!r} must be 1-64 letters, digits, '-' or '_'"
        )
    return tenant


def report_key_for(key: str) -> str:
    return f"{REPORT_PREFIX}{key.removeprefix(UPLOAD_PREFIX)}.report.json"


def ingest_object(
    s3: Any,
    gateway: VectorGateway,
    *,
    bucket: str,
    key: str,
    version_id: str | None = None,
    sequencer: str | None = None,
    removed: bool = False,
    default_namespace: str = "",
    max_delete_fraction: float = 0.5,
    time_left_s: float = 240.0,
) -> SyncReport:
    """Apply one S3 event (object created, or `removed`) to its namespace; store the report.

    Returns a 'rejected' report (and raises nothing) for uploads that can never succeed, and a
    'skipped' one (no report written) for an event older than one already applied; lets vector and
    S3 errors propagate so that Lambda retries the invocation (a vector error first writes a
    'failed' report saying so). A used-up quota writes its report and raises
    `VectorQuotaExceeded`, so the event reaches the failure queue saying why.
    """
    source = f"s3://{bucket}/{key}"
    if key.endswith("/"):
        # What the S3 console's "Create folder" writes (or its removal): it owns no items.
        return SyncReport(
            source=source,
            namespace="",
            status="skipped",
            error=f"{key} is a folder marker, not a file; nothing to ingest",
        )
    try:
        namespace = namespace_for_key(key, default_namespace)
    except UnusableKey as exc:
        report = SyncReport(source=source, namespace="", status="rejected", error=str(exc))
        if key.startswith(UPLOAD_PREFIX):
            # Outside uploads/ (a report, a lock, should the notification be widened to the
            # whole bucket) a report written here would fire the function again, without end.
            _write_report(s3, bucket, key, report)
        else:
            logger.warning("event for an object outside uploads/ ignored", extra={"key": key})
        return report
    started = time.monotonic()
    # Wait for another sync of the namespace for at most half our time; hold the lock until our
    # own end (plus a margin), after which a waiter may take it over.
    with NamespaceLock(s3, bucket, namespace, hold_s=time_left_s + 30, wait_s=time_left_s / 2):
        if sequencer is not None:
            applied = applied_sequencer(s3, bucket, key)
            if sequencer_is_older(sequencer, applied):
                logger.warning(
                    "older event skipped",
                    extra={"key": key, "sequencer": sequencer, "applied": applied},
                )
                return SyncReport(
                    source=source,
                    namespace=namespace,
                    status="skipped",
                    error=f"a newer event for {key} (sequencer {applied}) was already applied",
                )
        budget_s = max(1.0, time_left_s - (time.monotonic() - started) - 10)
        try:
            if removed:
                report = _remove(s3, gateway, bucket, key, namespace, max_delete_fraction, budget_s)
            else:
                report = _sync(
                    s3, gateway, bucket, key, version_id, namespace, max_delete_fraction, budget_s
                )
        except VectorError as exc:
            # Raised for Lambda to retry; meanwhile the uploader's report says why (and what was
            # written before it stopped), rather than still showing the previous upload's outcome.
            failed = (  # sync_foods hands on its report, already 'failed'
                exc.report
                if isinstance(exc.report, SyncReport)
                else SyncReport(source=source, namespace=namespace, status="failed")
            )
            failed.error = (
                f"{exc}. Not fully applied: Lambda retries this event (items already written "
                "stay; the retry skips them), then sends it to the failure queue"
            )
            _write_report(s3, bucket, key, failed)
            raise
        _write_report(s3, bucket, key, report)
        if report.status != "failed" and sequencer is not None:
            record_applied(
                s3,
                bucket,
                key,
                sequencer=sequencer,
                version_id=version_id,
                event="removed" if removed else "created",
            )
    if report.status == "failed":
        raise VectorQuotaExceeded(report.error or "quota used up")
    return report


def _sync(
    s3: Any,
    gateway: VectorGateway,
    bucket: str,
    key: str,
    version_id: str | None,
    namespace: str,
    max_delete_fraction: float,
    budget_s: float,
) -> SyncReport:
    source = f"s3://{bucket}/{key}"
    try:
        raw = _read_object(s3, bucket, key, version_id)
    except FoodFileError as exc:
        return SyncReport(source=source, namespace=namespace, status="rejected", error=str(exc))
    return sync_foods(
        raw,
        gateway,
        namespace=namespace,
        source=source,
        max_delete_fraction=max_delete_fraction,
        budget_s=budget_s,
    )


def _remove(
    s3: Any,
    gateway: VectorGateway,
    bucket: str,
    key: str,
    namespace: str,
    max_delete_fraction: float,
    budget_s: float,
) -> SyncReport:
    source = f"s3://{bucket}/{key}"
    if _exists(s3, bucket, key):
        # Only a noncurrent version was deleted; the object (and its items) stay.
        return SyncReport(
            source=source,
            namespace=namespace,
            status="skipped",
            error=f"{key} still exists (an older version was removed); its items are kept",
        )
    return remove_source(
        gateway,
        namespace=namespace,
        source=source,
        max_delete_fraction=max_delete_fraction,
        budget_s=budget_s,
    )


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        if code in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise
    return True


def _read_object(s3: Any, bucket: str, key: str, version_id: str | None) -> bytes:
    source = f"s3://{bucket}/{key}"
    args: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        args["VersionId"] = version_id  # the version that fired this event, not a later overwrite
    try:
        obj = s3.get_object(**args)
    except (s3.exceptions.NoSuchKey, s3.exceptions.ClientError) as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in {"NoSuchKey", "NoSuchVersion", "404"}:
            raise
        raise FoodFileError(source, "the object (this version of it) no longer exists") from None
    size = int(obj.get("ContentLength") or 0)
    if size > MAX_FILE_BYTES:
        obj["Body"].close()
        raise FoodFileError(source, f"file is {size} bytes; the limit is {MAX_FILE_BYTES}")
    return obj["Body"].read()


def _write_report(s3: Any, bucket: str, key: str, report: SyncReport) -> None:
    s3.put_object(
        Bucket=bucket,
        Key=report_key_for(key),
        Body=json.dumps(report.as_dict(), indent=2).encode(),
        ContentType="application/json",
    )
