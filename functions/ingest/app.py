"""Ingest function: S3 ObjectCreated/ObjectRemoved -> sync each foods.json with Upstash Vector.

Thin by design: parse the event, hand each object to `ragfood.ingest`, emit metrics, shape the
result. Uploads that can never succeed are reported (in the bucket, under reports/) and do not
raise; transient failures raise so that Lambda retries and, finally, the on-failure destination
receives the event.
"""

from __future__ import annotations

# First: no garbage collection while the function initializes (initialized() at the end).
from ragfood import startup  # isort: skip

import os
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from ragfood import aws, services
from ragfood.ingest import check_s3_event, ingest_object

logger = Logger()
# The template sets POWERTOOLS_METRICS_NAMESPACE; the default keeps local runs from failing.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "RAGFood"))
s3 = aws.client("s3")  # once per container, in the session the SSM read shares


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
@event_source(data_class=S3Event)
def handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    if not check_s3_event(event.raw_event):  # S3's test event: nothing to apply
        return {"reports": []}
    settings = services.settings()
    gateway = services.vector_gateway(write=True)
    reports = []
    for record in event.records:  # one notification may carry several objects
        bucket = record.s3.bucket.name
        key = unquote_plus(record.s3.get_object.key)  # keys arrive URL-encoded ("my+file.json")
        logger.append_keys(bucket=bucket, key=key)
        report = ingest_object(
            s3,
            gateway,
            bucket=bucket,
            key=key,
            version_id=record.s3.get_object.version_id,
            sequencer=record.s3.get_object.sequencer,
            removed=record.event_name.startswith("ObjectRemoved"),
            default_namespace=settings.namespace,
            max_delete_fraction=settings.max_delete_fraction,
            # Leave time to write the report (and to release the namespace's lock).
            time_left_s=max(5.0, context.get_remaining_time_in_millis() / 1000 - 15),
        )
        _emit_metrics(report.as_dict())
        reports.append(report.as_dict())
    return {"reports": reports}


def _emit_metrics(report: dict[str, Any]) -> None:
    for name in ("upserted", "unchanged", "deleted"):
        metrics.add_metric(
            name=f"Items{name.capitalize()}", unit=MetricUnit.Count, value=report[name]
        )
    metrics.add_metric(name="ItemsRejected", unit=MetricUnit.Count, value=len(report["rejected"]))
    metrics.add_metric(name="ItemConflicts", unit=MetricUnit.Count, value=len(report["conflicts"]))
    for status in ("rejected", "skipped", "failed"):  # skipped: older than an applied event
        metrics.add_metric(
            name=f"Uploads{status.capitalize()}",
            unit=MetricUnit.Count,
            value=int(report["status"] == status),
        )
    metrics.add_metric(
        name="IngestDuration",
        unit=MetricUnit.Milliseconds,
        value=report["timings_ms"].get("total", 0.0),
    )


startup.initialized()  # last: initialization is over
