"""The long-running commands, run as real processes: chat in a terminal, serve, vector serve."""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from ragfood_vector.launcher import free_port
from tests.cli.conftest import RAGFOOD, REPO
from tests.support.generator_stub import GeneratorStub
from tests.support.samples import MOCHI, PHO
from tests.support.serve import ragfood_serve, wait_until_up
from tests.support.terminal import Terminal

FOODS = [PHO, MOCHI]


@pytest.fixture
def ingested(ragfood, tmp_path) -> None:
    path = tmp_path / "foods.json"
    path.write_text(json.dumps(FOODS))
    assert ragfood("ingest", str(path)).exit_code == 0


def test_chat_streams_answers_in_a_terminal_and_quits_on_an_empty_line(cli_env, ingested):
    with GeneratorStub() as stub:
        terminal = Terminal([str(RAGFOOD), "chat"], {**cli_env, "GENERATOR_URL": stub.url})
        terminal.wait_for(r"you.*:")
        terminal.type("Tell me about Vietnamese beef noodle soup\r")
        terminal.wait_for(r"generator: ollama")
        screen = terminal.wait_for(r"generator: ollama(.|\n)*you.*:")  # sources, then a new prompt
        terminal.type("\r")
        assert terminal.close() == 0
    assert "According to the knowledge base, Pho is a Vietnamese" in screen
    assert "pho" in screen.split("generator: ollama", 1)[1]  # the sources table follows


def test_chat_reports_errors_and_keeps_going(cli_env):
    env = {**cli_env, "UPSTASH_VECTOR_REST_URL": f"http://127.0.0.1:{free_port()}"}
    terminal = Terminal([str(RAGFOOD), "chat"], env)
    terminal.wait_for(r"you.*:")
    terminal.type("anything\r")
    screen = terminal.wait_for(r"cannot reach vector index(.|\n)*you.*:")
    terminal.type("quit\r")
    assert terminal.close() == 0 and "error" in screen


def test_serve_answers_http_and_requires_the_api_key_when_set(cli_env, ingested):
    with ragfood_serve({**cli_env, "PATH": "/usr/bin:/bin"}, "--api-key", "local-key") as base:
        assert httpx.get(f"{base}/health").json()["status"] == "ok"
        question = {"question": "Vietnamese beef noodle soup"}
        assert httpx.post(f"{base}/ask", json=question).status_code == 403
        answer = httpx.post(f"{base}/ask", json=question, headers={"x-api-key": "local-key"})
        assert answer.status_code == 200 and answer.json()["sources"][0]["id"] == "pho"


def test_ask_can_target_a_served_api(cli_env, ingested, ragfood):
    with ragfood_serve(cli_env, "--api-key", "k") as url:
        ok = ragfood("ask", "beef noodle soup", "--json", "--api-url", url, "--api-key", "k")
        assert ok.exit_code == 0 and json.loads(ok.stdout)["sources"][0]["id"] == "pho"
        denied = ragfood("ask", "beef noodle soup", "--api-url", url)
        assert denied.exit_code == 1 and "403" in denied.output


def test_vector_serve_starts_the_local_index(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [
            str(RAGFOOD),
            "vector",
            "serve",
            "--embedder",
            "hash",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "vectors"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", process=process)
        info = httpx.post(
            f"http://127.0.0.1:{port}/info", headers={"Authorization": "Bearer local-dev-token"}
        ).json()
        assert info["result"]["dimension"] == 384
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    assert "local-dev-token" not in output  # tokens are never printed
