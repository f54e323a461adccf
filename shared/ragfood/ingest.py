"""Ingest one uploaded object: read it from S3, sync it, write a report the uploader can find.

Uploads live under `uploads/`; reports are written under `reports/`, which the bucket notification
does not watch, so a report can never trigger another ingest.
`uploads/tenants/<name>/...` selects namespace `<name>`, keeping tenants' knowledge bases apart.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ragfood.errors import FoodFileError
from ragfood.foods import MAX_FILE_BYTES
from ragfood.sync import SyncReport, sync_foods
from ragfood.vector import VectorGateway

UPLOAD_PREFIX = "uploads/"
REPORT_PREFIX = "reports/"
TENANT_KEY = re.compile(r"^tenants/([^/]+)/")
TENANT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class UnusableKey(ValueError):
    """The object key cannot be ingested (wrong prefix, bad tenant name)."""


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
    relative = key[len(UPLOAD_PREFIX) :] if key.startswith(UPLOAD_PREFIX) else key
    return f"{REPORT_PREFIX}{relative}.report.json"


def ingest_object(
    s3: Any,
    gateway: VectorGateway,
    *,
    bucket: str,
    key: str,
    version_id: str | None = None,
    default_namespace: str = "",
    max_delete_fraction: float = 0.5,
) -> SyncReport:
    """Sync one S3 object into its namespace and store the report beside it.

    Returns a 'rejected' report (and raises nothing) for uploads that can never succeed; lets
    vector and S3 errors propagate so that Lambda retries the invocation.
    """
    source = f"s3://{bucket}/{key}"
    namespace = ""
    try:
        namespace = namespace_for_key(key, default_namespace)
        raw = _read_object(s3, bucket, key, version_id)
    except (UnusableKey, FoodFileError) as exc:
        report = SyncReport(source=source, namespace=namespace, status="rejected", error=str(exc))
    else:
        report = sync_foods(
            raw,
            gateway,
            namespace=namespace,
            source=source,
            max_delete_fraction=max_delete_fraction,
        )
    _write_report(s3, bucket, key, report)
    return report


def _read_object(s3: Any, bucket: str, key: str, version_id: str | None) -> bytes:
    source = f"s3://{bucket}/{key}"
    args: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        args["VersionId"] = version_id  # the version that fired this event, not a later overwrite
    try:
        obj = s3.get_object(**args)
    except s3.exceptions.NoSuchKey:
        raise FoodFileError(source, "the object no longer exists") from None
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
