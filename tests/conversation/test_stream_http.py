"""POST /ask/stream on `ragfood serve`, a real process, read as a client reads it: events in
order, tokens as they are produced, the ask budget honoured, hang-ups stopping the work."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from ragfood_vector.launcher import free_port
from tests.conversation.conftest import sessions_in_dynamodb, stream_events
from tests.support.serve import ragfood_serve, wait_until_up

QUESTION = {"question": "Tell me about the Vietnamese noodle soup pho"}


def test_events_come_in_order_and_the_tokens_make_the_answer(kb_env, stub):
    with ragfood_serve({**kb_env, "GENERATOR_URL": stub.url}) as base:
        status, events = stream_events(base, QUESTION)
        buffered = httpx.post(f"{base}/ask", json=QUESTION, timeout=30).json()
    assert status == 200
    names = [e.name for e in events]
    assert names[0] == "sources" and names[-1] == "done"
    assert set(names[1:-1]) == {"token"}
    sources, done = events[0].data, events[-1].data
    assert sources["sources"][0]["id"] == "pho"
    assert set(sources["sources"][0]) == {"id", "text", "region", "type", "score"}
    text = "".join(e.data["text"] for e in events if e.name == "token")
    assert text.startswith("According to the knowledge base, Pho is a Vietnamese")
    assert done["degraded"] is False and done["generator"]["kind"] == "ollama"
    assert {"timings_ms", "session_id", "resolved_question", "reason"} <= set(done)
    assert done["resolved_question"] == QUESTION["question"]
    assert buffered["answer"] == text.strip() and buffered["sources"] == sources["sources"]


def test_a_token_a_second_streams_within_the_budget(kb_env, stub):
    """Done when: sources first, the first token within 2.5 s, `done` (degraded) within 8 s."""
    stub.state.mode, stub.state.trickle_s = "trickle", 1.0
    env = {**kb_env, "GENERATOR_URL": stub.url, "RAGFOOD_ASK_BUDGET_S": "6"}
    with ragfood_serve(env) as base:
        status, events = stream_events(base, QUESTION, timeout=20)
    assert status == 200
    assert events[0].name == "sources" and events[0].data["sources"]
    tokens = [e for e in events if e.name == "token" and e.data["text"].strip() == "slowly"]
    assert tokens and tokens[0].at < 2.5, f"first token after {tokens[0].at:.1f} s"
    # Streamed as produced, not buffered: the tokens arrive spread over seconds.
    assert len(tokens) >= 3 and tokens[-1].at - tokens[0].at >= 2.0
    done = events[-1]
    assert done.name == "done" and done.at < 8.0, f"done after {done.at:.1f} s"
    assert done.data["degraded"] is True and "RAGFOOD_ASK_BUDGET_S" in done.data["reason"]
    # The generator's connection is closed once the budget is spent.
    assert stub.open_streams_after(5) == 0


def test_a_client_hanging_up_stops_the_generation(kb_env, stub):
    stub.state.mode, stub.state.trickle_s = "trickle", 0.3
    env = {**kb_env, "GENERATOR_URL": stub.url, "RAGFOOD_ASK_BUDGET_S": "120"}
    with ragfood_serve(env) as base:
        status, events = stream_events(base, QUESTION, stop_after="token")
        assert status == 200 and events[-1].name == "token"
        assert stub.open_streams_after(10) == 0, "the generation went on after the client left"


def test_an_unreachable_index_ends_the_stream_with_the_error_ask_would_give(kb_env):
    env = {**kb_env, "UPSTASH_VECTOR_REST_URL": f"http://127.0.0.1:{free_port()}"}
    env["RAGFOOD_MAX_ATTEMPTS"] = "1"
    with ragfood_serve(env) as base:
        status, events = stream_events(base, QUESTION)
        buffered = httpx.post(f"{base}/ask", json=QUESTION, timeout=30)
    assert status == 200 and [e.name for e in events] == ["error"]
    error = events[0].data
    assert error["status"] == buffered.status_code == 503
    assert error["dependency"] == "vector-index" and "Traceback" not in str(error)
    assert {k: v for k, v in error.items() if k != "status"} == buffered.json()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"question": ""}, "question"),
        ({"question": "pho", "top_k": "5"}, "top_k"),
        ({"question": "pho", "session_id": "not a session"}, "session_id"),
        ({"question": "pho", "unknown": 1}, "unknown"),
    ],
)
def test_invalid_bodies_are_refused_before_the_stream_starts(kb_env, payload, field):
    with ragfood_serve(kb_env) as base:
        status, events = stream_events(base, payload)
    assert status == 422
    assert field in events[0].data["error"]


def test_a_mistake_found_once_streaming_is_an_error_event_with_the_status_of_ask(kb_env):
    payload = {"question": "pho", "region": "back\\slash"}  # refused by the filter builder
    with ragfood_serve(kb_env) as base:
        status, events = stream_events(base, payload)
        buffered = httpx.post(f"{base}/ask", json=payload, timeout=30)
    assert status == 200 and [e.name for e in events] == ["error"]
    assert events[0].data["status"] == buffered.status_code == 422
    assert "backslash" in events[0].data["error"]


def test_the_api_key_protects_the_stream_but_not_the_page(kb_env):
    with ragfood_serve(kb_env, "--api-key", "local-key") as base:
        refused = httpx.post(f"{base}/ask/stream", json=QUESTION, timeout=10)
        page = httpx.get(f"{base}/", timeout=10)
        allowed = httpx.post(
            f"{base}/ask/stream", json=QUESTION, headers={"x-api-key": "local-key"}, timeout=30
        )
    assert refused.status_code == 403
    assert page.status_code == 200 and "<title>RAGFood" in page.text
    assert allowed.status_code == 200 and allowed.text.startswith("event: sources")


def test_run_sh_serves_the_same_app_as_lambda_web_adapter_starts_it(kb_env, stub, tmp_path):
    """functions/ask/run.sh, started as the adapter starts it (its port in AWS_LWA_PORT, the
    function folder as LAMBDA_TASK_ROOT), serves the streaming route of the one app."""
    import os
    import subprocess
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "functions" / "ask"
    port = free_port()
    venv_bin = Path(__file__).resolve().parents[2] / ".venv" / "bin"
    env = {
        **kb_env,
        "GENERATOR_URL": stub.url,
        "AWS_LWA_PORT": str(port),
        "LAMBDA_TASK_ROOT": str(folder),
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    with open(tmp_path / "log", "w") as log:
        process = subprocess.Popen(
            ["/bin/bash", str(folder / "run.sh")], cwd=tmp_path, env=env, stdout=log, stderr=log
        )
        try:
            base = f"http://127.0.0.1:{port}"
            try:
                wait_until_up(f"{base}/health", process=process)
            except (RuntimeError, TimeoutError):
                pytest.fail((tmp_path / "log").read_text())
            status, events = stream_events(base, QUESTION)
        finally:
            process.terminate()
            process.wait(10)
    assert status == 200 and [events[0].name, events[-1].name] == ["sources", "done"]


def test_the_invocation_deadline_from_lambda_web_adapter_ends_the_stream(kb_env, stub):
    """Under the adapter, the invocation's end (x-amzn-lambda-context) bounds the stream when it
    comes before RAGFOOD_ASK_BUDGET_S, as the handler's context does under Mangum."""
    import json

    stub.state.mode, stub.state.trickle_s = "trickle", 0.5
    env = {**kb_env, "GENERATOR_URL": stub.url, "RAGFOOD_ASK_BUDGET_S": "60"}
    with ragfood_serve(env) as base:
        # 4 s left in the invocation, less the 1 s margin: done within about 3 s (+ grace).
        context = json.dumps({"deadline": int(time.time() * 1000) + 4000})
        started = time.monotonic()
        with httpx.stream(
            "POST",
            f"{base}/ask/stream",
            json=QUESTION,
            headers={"x-amzn-lambda-context": context},
            timeout=30,
        ) as response:
            body = response.read().decode()
        elapsed = time.monotonic() - started
    assert "event: done" in body and '"degraded": true' in body
    assert elapsed < 8, f"the stream lasted {elapsed:.1f} s"


@pytest.mark.parametrize("api", ["openai", "ollama"])
def test_a_generator_error_that_echoes_the_api_key_never_shows_it(kb_env, stub, tmp_path, api):
    """Some gateways quote the credentials they refused in their error body: the reason in the
    stream, the /ask answer and the server's logs still never carry GENERATOR_API_KEY."""
    secret = "sk-test-0123456789abcdef"
    stub.state.mode, stub.state.fail_status, stub.state.fail_echo = "fail", 429, True
    env = {
        **kb_env,
        "GENERATOR_URL": stub.url,
        "GENERATOR_API": api,
        "GENERATOR_API_KEY": secret,
        "POWERTOOLS_LOG_LEVEL": "INFO",  # the warning about the failure is logged
    }
    log = tmp_path / "serve.log"
    with ragfood_serve(env, log_path=log) as base:
        status, events = stream_events(base, QUESTION)
        buffered = httpx.post(f"{base}/ask", json=QUESTION, timeout=30)
    sent = [r for r in stub.state.requests if r["method"] == "POST"]
    assert sent and sent[0]["headers"]["Authorization"] == f"Bearer {secret}"
    assert status == 200 and events[-1].name == "done"
    done = events[-1].data
    assert done["degraded"] is True and "HTTP 429" in done["reason"]
    assert buffered.status_code == 200 and buffered.json()["degraded"] is True
    assert "generator failed" in log.read_text()
    for where, text in [
        ("stream", "".join(json.dumps(e.data) for e in events)),
        ("/ask", buffered.text),
        ("logs", log.read_text()),
    ]:
        assert secret not in text, f"the API key is in the {where}"


@pytest.mark.parametrize("blank", ["   ", "\u0000\u0007 \t"])
def test_a_blank_question_in_a_session_is_refused_not_answered(kb_env, stub, blank):
    """In a session, a blank question is still a client mistake (422), not a follow-up that the
    rule turns into the previous subject (and the generator is not asked to rewrite it)."""
    with ragfood_serve({**kb_env, "GENERATOR_URL": stub.url}) as base:
        first = httpx.post(f"{base}/ask", json=QUESTION, timeout=30).json()
        asked = len(stub.state.requests)
        payload = {"question": blank, "session_id": first["session_id"]}
        buffered = httpx.post(f"{base}/ask", json=payload, timeout=30)
        status, events = stream_events(base, payload)
    assert buffered.status_code == 422, buffered.text
    assert "question: must not be empty" in buffered.json()["error"]
    assert status == 200 and [e.name for e in events] == ["error"]
    assert events[0].data["status"] == 422
    assert len(stub.state.requests) == asked, "the generator was asked about a blank question"


def test_a_stream_stuck_before_retrieval_still_sends_sources_then_done(kb_env, silent_endpoint):
    """A session store that never answers holds the ask past its budget before anything is
    retrieved: the watchdog still keeps the promise of the events (sources, then done naming
    the session), in time."""
    env = {**kb_env, "RAGFOOD_ASK_BUDGET_S": "1", **sessions_in_dynamodb(silent_endpoint)}
    session = "A" * 32
    with ragfood_serve(env) as base:
        status, events = stream_events(base, {**QUESTION, "session_id": session}, timeout=30)
    assert status == 200
    assert [e.name for e in events] == ["sources", "done"], events
    done = events[-1].data
    assert done["degraded"] is True and "RAGFOOD_ASK_BUDGET_S" in done["reason"]
    assert done["session_id"] == session and done["resolved_question"] == QUESTION["question"]
    assert events[-1].at < 10


def test_an_openai_host_that_never_sends_done_still_gives_a_whole_answer(kb_env, stub):
    """Its stream ends with the finish_reason chunk and closes (no `data: [DONE]`): the answer
    is whole, not degraded with the sources quoted after it."""
    stub.state.openai_done = False
    env = {**kb_env, "GENERATOR_URL": stub.url, "GENERATOR_API": "openai"}
    with ragfood_serve(env) as base:
        status, events = stream_events(base, QUESTION)
    assert status == 200 and events[-1].name == "done"
    assert events[-1].data["degraded"] is False, events[-1].data["reason"]
    assert events[-1].data["generator"]["kind"] == "openai"
    text = "".join(e.data["text"] for e in events if e.name == "token")
    assert text.startswith("According to the knowledge base") and "unavailable" not in text
