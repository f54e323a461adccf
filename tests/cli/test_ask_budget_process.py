"""Issue 10's acceptance check, as users run it: `ragfood serve` with RAGFOOD_ASK_BUDGET_S=5 and
a generator that sends a token a second forever answers POST /ask within 7 s, degraded, with its
sources. Real processes and real HTTP; the bound asserted is generous (CI machines are loaded)."""

from __future__ import annotations

import json
import time

import httpx

from tests.cli.test_processes import ingested  # noqa: F401 (fixture)
from tests.support.generator_stub import GeneratorStub
from tests.support.serve import ragfood_serve


def test_serve_answers_a_trickling_generator_within_the_budget(cli_env, ingested):  # noqa: F811
    with GeneratorStub() as stub:
        stub.state.mode, stub.state.trickle_s = "trickle", 1.0  # a token a second, forever
        env = {**cli_env, "GENERATOR_URL": stub.url, "RAGFOOD_ASK_BUDGET_S": "5"}
        with ragfood_serve(env) as base:
            started = time.monotonic()
            response = httpx.post(
                f"{base}/ask", json={"question": "Vietnamese beef noodle soup"}, timeout=60
            )
            elapsed = time.monotonic() - started
    assert response.status_code == 200
    answer = response.json()
    assert elapsed < 9.0, f"answered after {elapsed:.1f} s (budget 5 s, spec 7 s)"
    assert answer["degraded"] is True and "time budget" in answer["reason"]
    assert answer["sources"] and answer["sources"][0]["id"] == "pho"
    assert answer["answer"].startswith("slowly")  # the text that arrived in time is kept


def test_serve_honours_the_lambda_web_adapter_deadline_header(cli_env, ingested):  # noqa: F811
    """Served by uvicorn (as under Lambda Web Adapter), the invocation's deadline arrives as the
    x-amzn-lambda-context header: the answer comes before it even with a 25 s budget."""
    with GeneratorStub() as stub:
        stub.state.mode, stub.state.trickle_s = "trickle", 0.5
        env = {**cli_env, "GENERATOR_URL": stub.url, "RAGFOOD_ASK_BUDGET_S": "25"}
        with ragfood_serve(env) as base:
            lambda_context = {"request_id": "r-1", "deadline": int(time.time() * 1000) + 4000}
            started = time.monotonic()
            response = httpx.post(
                f"{base}/ask",
                json={"question": "Vietnamese beef noodle soup"},
                headers={"x-amzn-lambda-context": json.dumps(lambda_context)},
                timeout=60,
            )
            elapsed = time.monotonic() - started
    assert response.status_code == 200 and response.json()["degraded"] is True
    assert elapsed < 4.0, f"answered after {elapsed:.1f} s; Lambda stops the function at 4 s"
