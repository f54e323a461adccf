"""One boto3 session per container for every AWS client the core builds (SSM, DynamoDB, S3).

Each boto3 session loads botocore's shared data (endpoints, partitions, defaults) for itself:
Powertools Parameters' own session plus boto3's default one cost ~45 ms more CPU on the first
invocation than one shared session (docs/performance.md). boto3 comes from the Lambda runtime and
is imported only when a client is needed.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def session() -> Any:
    import boto3

    return boto3.session.Session()


def client(service: str, **options: Any) -> Any:
    return session().client(service, **options)
