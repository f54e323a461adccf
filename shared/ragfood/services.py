"""Per-container singletons: settings, HTTP clients, the gateway, the generator and the pipeline.

Built on first use and reused by every invocation of a warm Lambda container (and by the CLI and
local server). Tests that change the environment call `reset()`.
"""

from __future__ import annotations

import math
import time
from functools import cache
from typing import TYPE_CHECKING

from ragfood import budget
from ragfood.config import Settings, load_settings
from ragfood.errors import ConfigError
from ragfood.log import logger
from ragfood.retry import RetryPolicy, retrying_client
from ragfood.vector import VectorGateway, make_client

# Imported where built: an ingest (Lambda or CLI) never loads the ask path (conversation imports
# the pipeline, the generator, the prompt and follow-up code: ~60 ms of an ingest's start).
if TYPE_CHECKING:
    from ragfood.conversation import Conversations
    from ragfood.generator import GeneratorClient
    from ragfood.pipeline import Pipeline
    from ragfood.sessions import SessionStore


@cache
def settings() -> Settings:
    return load_settings()


def _policy(s: Settings) -> RetryPolicy:
    return RetryPolicy(s.max_attempts, s.retry_initial_s, s.retry_max_s)


def _log_retry(attempt: int, what: str) -> None:
    logger.warning("retrying after transient failure", extra={"attempt": attempt, "cause": what})


@cache
def vector_gateway(*, write: bool = False) -> VectorGateway:
    """The read-only gateway (ask) or the read-write one (ingest); each built once."""
    s = settings()
    url, token = s.require_vector(write=write)
    timeout = s.vector_write_timeout_s if write else s.vector_timeout_s
    client = make_client(_policy(s), timeout, on_retry=_log_retry, url=url)
    return VectorGateway(url, token, client, batch_size=s.batch_size, parallelism=s.parallelism)


@cache
def generator() -> GeneratorClient | None:
    from ragfood.generator import GeneratorClient

    s = settings()
    if not s.generator_url:
        return None
    # Its own attempt count: a slow generator already costs the user its whole timeout.
    policy = RetryPolicy(s.generator_max_attempts, s.retry_initial_s, s.retry_max_s)
    client = retrying_client(
        policy, s.generator_timeout_s, url=s.generator_url, on_retry=_log_retry
    )
    return GeneratorClient(
        s.generator_url,
        s.generator_model,
        api=s.generator_api,
        api_key=s.generator_api_key,
        client=client,
        max_tokens=s.generator_max_tokens,
    )


@cache
def pipeline() -> Pipeline:
    from ragfood.pipeline import Pipeline

    s = settings()
    return Pipeline(
        vector_gateway(write=False),
        generator(),
        top_k=s.top_k,
        min_score=s.min_score,
        namespace=s.namespace,
        cache_ttl_s=s.cache_ttl_s,
        cache_size=s.cache_size,
        no_answer_ttl_s=s.no_answer_cache_ttl_s,
        budget_s=s.ask_budget_s,
        lexical_weight=s.lexical_weight,
        retrieval=s.retrieval,
    )


@cache
def session_store() -> SessionStore:
    from ragfood.sessions import DynamoSessionStore, MemorySessionStore

    s = settings()
    if not s.sessions_table:
        return MemorySessionStore(ttl_s=s.session_ttl_s)
    from botocore.config import Config

    from ragfood import aws  # boto3: only paid for where sessions live in DynamoDB

    # Bounded: botocore's defaults (60 s per read, 5 attempts) let a black-holed DynamoDB hold
    # an ask for minutes. An item read or write takes milliseconds; past a second or two the
    # conversation is answered without its memory (ragfood.conversation) rather than late.
    config = Config(
        connect_timeout=1, read_timeout=1, retries={"max_attempts": 2, "mode": "standard"}
    )
    client = aws.client("dynamodb", config=config)
    return DynamoSessionStore(s.sessions_table, client, ttl_s=s.session_ttl_s)


@cache
def conversations() -> Conversations:
    from ragfood.conversation import Conversations

    return Conversations(pipeline(), session_store())


def invocation_deadline(remaining_ms: int) -> budget.Deadline:
    """The deadline of a Lambda invocation: RAGFOOD_ASK_BUDGET_S or the time the function has
    left (less a margin to return the response), whichever ends first."""
    received = time.monotonic()
    try:
        budget_s = settings().ask_budget_s
    except ConfigError:  # the request itself reports the bad setting; still bound it
        budget_s = math.inf
    spent = time.monotonic() - received  # reading settings (SSM, on a cold start) counts too
    return budget.for_lambda(remaining_ms - int(spent * 1000), budget_s - spent)


def reset() -> None:
    """Forget every singleton (tests and the CLI use this after changing the environment)."""
    for factory in (settings, vector_gateway, generator, pipeline, session_store, conversations):
        factory.cache_clear()
    from ragfood import aws

    aws.session.cache_clear()
