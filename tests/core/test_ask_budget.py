"""The ask pipeline under a time budget: trickling generators, slow or failing indexes, caching.

Wall-clock bounds here are deliberately generous (CI is a loaded 2-core box): each one is several
times the budget, yet far below what the same ask takes without the protection (forever).
"""

from __future__ import annotations

import json
import time

import pytest

from ragfood.budget import Deadline
from ragfood.errors import VectorUnavailable
from ragfood.pipeline import Pipeline
from ragfood.prompt import NO_ANSWER, OUT_OF_TIME_LABEL
from ragfood.retry import RetryPolicy
from ragfood.sync import sync_foods
from ragfood_vector.launcher import VectorServer
from tests.core.conftest import make_gateway
from tests.core.test_pipeline import FOODS, generator_for, pipeline_for

# Without the protections under test these asks never return: fail, do not hang the suite.
pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def kb(vector_server: VectorServer) -> str:
    sync_foods(json.dumps(FOODS).encode(), make_gateway(vector_server), namespace="budget-kb")
    return "budget-kb"


def wait_for(condition, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.parametrize("api", ["ollama", "openai"])
def test_a_trickling_generator_is_cut_at_the_budget_with_sources(vector_server, kb, stub, api):
    stub.state.mode, stub.state.trickle_s = "trickle", 0.2  # a token every 0.2 s, forever
    pipeline = pipeline_for(vector_server, kb, generator_for(stub, api), budget_s=1.5)
    started = time.monotonic()
    answer = pipeline.ask("pho soup")
    elapsed = time.monotonic() - started
    assert elapsed < 5.0, elapsed  # the budget is 1.5 s; unprotected, this never returns
    assert answer.degraded and answer.sources[0].id == "pho"
    assert "time budget" in answer.reason and "RAGFOOD_ASK_BUDGET_S" in answer.reason
    # What the generator said in time is kept, then the sources, labelled for what happened.
    assert answer.answer.startswith("slowly slowly") and OUT_OF_TIME_LABEL in answer.answer
    assert answer.generator["kind"] == "extractive"
    assert wait_for(lambda: stub.state.open_streams == 0)  # we hung up: no connection left open


def test_a_generator_that_stalls_inside_a_read_is_cut_at_the_budget(vector_server, kb, stub):
    # Tokens for 2.5 s, then silence with the connection open. The read waiting for the next
    # token starts with 0.5 s of budget left, but its cap is the time left when the request was
    # sent (3 s): only a deadline watched during the read cuts it at 3 s rather than at ~5.5 s.
    stub.state.mode, stub.state.trickle_s, stub.state.stall_after = "trickle", 0.25, 11
    pipeline = pipeline_for(vector_server, kb, generator_for(stub, timeout=30.0), budget_s=3.0)
    started = time.monotonic()
    answer = pipeline.ask("pho soup")
    elapsed = time.monotonic() - started
    assert elapsed < 4.5, elapsed
    assert answer.degraded and answer.sources and "time budget" in answer.reason
    assert answer.answer.startswith("slowly slowly slowly slowly")


def test_streamed_tokens_stop_at_the_budget_and_match_the_answer(vector_server, kb, stub):
    stub.state.mode, stub.state.trickle_s = "trickle", 0.2
    pieces: list[str] = []
    pipeline = pipeline_for(vector_server, kb, generator_for(stub), budget_s=1.0)
    answer = pipeline.ask("pho soup", on_token=pieces.append)
    assert answer.degraded and "".join(pieces) == answer.answer


def test_an_explicit_deadline_wins_over_the_configured_budget(vector_server, kb, stub):
    stub.state.mode, stub.state.trickle_s = "trickle", 0.2
    pipeline = pipeline_for(vector_server, kb, generator_for(stub), budget_s=60.0)
    started = time.monotonic()
    answer = pipeline.ask("pho soup", deadline=Deadline.after(1.0))
    assert time.monotonic() - started < 4.0 and answer.degraded


def test_an_answer_cut_by_the_budget_is_not_cached(vector_server, kb, stub):
    pipeline = pipeline_for(vector_server, kb, generator_for(stub), budget_s=1.0)
    stub.state.mode, stub.state.trickle_s = "trickle", 0.2
    assert pipeline.ask("pho soup").degraded
    stub.reset()
    again = pipeline.ask("pho soup")
    assert not again.degraded and not again.cached


def test_a_generator_within_budget_is_not_cut(vector_server, kb, stub):
    answer = pipeline_for(vector_server, kb, generator_for(stub), budget_s=5.0).ask("pho soup")
    assert not answer.degraded and answer.answer.startswith("According to the knowledge base")


def test_an_index_slower_than_the_budget_fails_in_time_naming_it(start_vector_server, stub):
    slow = start_vector_server(latency_ms=3000)
    gateway = make_gateway(slow, write=False, timeout_s=10.0)
    pipeline = Pipeline(gateway, generator_for(stub), budget_s=1.0)
    started = time.monotonic()
    with pytest.raises(VectorUnavailable, match="time budget"):
        pipeline.ask("pho soup")
    assert time.monotonic() - started < 2.5  # not the 3 s the index takes, nor 10 s timeouts
    assert stub.request_count == 0


def test_retries_of_an_unavailable_index_stop_at_the_budget(start_vector_server):
    failing = start_vector_server(fail_rate=1.0)  # every request: 429 or 503
    policy = RetryPolicy(max_attempts=10, initial_s=0.4, max_s=2.0)
    gateway = make_gateway(failing, write=False, policy=policy)
    started = time.monotonic()
    with pytest.raises(VectorUnavailable):
        Pipeline(gateway, None, budget_s=1.0).ask("pho soup")
    # 10 attempts with this backoff take ~10 s; the budget stops the retries after ~1 s.
    assert time.monotonic() - started < 2.5


def test_no_answer_results_are_not_cached_like_answers(vector_server, fresh_namespace):
    """Freshness: a question asked before its answer is uploaded is answered right after."""
    writer = make_gateway(vector_server)
    sync_foods(json.dumps(FOODS).encode(), writer, namespace=fresh_namespace)
    pipeline = pipeline_for(vector_server, fresh_namespace, min_score=0.6, cache_ttl_s=300)
    question = "kimchi fermented napa cabbage from Korea"
    assert pipeline.ask(question).answer == NO_ANSWER
    kimchi = {"id": "kimchi", "text": "Kimchi is fermented napa cabbage from Korea.",
              "region": "Korea", "type": "side dish"}  # fmt: skip
    sync_foods(json.dumps([*FOODS, kimchi]).encode(), writer, namespace=fresh_namespace)
    again = pipeline.ask(question)
    assert again.sources and again.sources[0].id == "kimchi" and not again.cached


def test_no_answer_results_may_be_cached_briefly_when_configured(vector_server, fresh_namespace):
    sync_foods(json.dumps(FOODS).encode(), make_gateway(vector_server), namespace=fresh_namespace)
    pipeline = pipeline_for(
        vector_server, fresh_namespace, min_score=0.99, cache_ttl_s=300, no_answer_ttl_s=0.3
    )
    assert pipeline.ask("car tyres").answer == NO_ANSWER
    assert pipeline.ask("car tyres").cached
    time.sleep(0.4)
    assert not pipeline.ask("car tyres").cached
