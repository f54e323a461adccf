"""What an operator sees of each answer without the X-Ray SDK: per-stage latency as CloudWatch
metrics, written as Embedded Metric Format log lines (Powertools Metrics; no API call, no extra
import: Powertools loads Metrics with Logger).

The Lambda handler flushes them once per invocation (`@publish_metrics`; unlike Powertools'
`log_metrics` it stays quiet for invocations that recorded nothing, such as /health). Outside
Lambda (CLI, local server, tests) nothing is recorded, so nothing piles up unflushed.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

# Namespace from POWERTOOLS_METRICS_NAMESPACE (the template sets it); the default keeps local
# runs without it from failing.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "RAGFood"))

Handler = TypeVar("Handler", bound=Callable[..., Any])


def publish_metrics(handler: Handler) -> Handler:
    """Flush what the invocation recorded, once, when it ends (also when it raises)."""

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            if metrics.metric_set:
                metrics.flush_metrics()

    return wrapper  # type: ignore[return-value]


def record_answer(answer: Any) -> None:
    """Ask{Retrieve,Generate,Total}Ms, AskDegraded and AskCacheHit for one answer."""
    if "AWS_LAMBDA_FUNCTION_NAME" not in os.environ:
        return
    for stage, ms in answer.timings_ms.items():
        name = f"Ask{stage.capitalize()}Ms"
        metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=ms)
    metrics.add_metric(name="AskDegraded", unit=MetricUnit.Count, value=int(answer.degraded))
    metrics.add_metric(name="AskCacheHit", unit=MetricUnit.Count, value=int(answer.cached))
