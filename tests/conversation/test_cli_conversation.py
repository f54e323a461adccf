"""`ragfood ask --stream` prints tokens as they arrive (locally and from a served API);
`ragfood chat` keeps one conversation."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import time

import pytest

from tests.support.serve import RAGFOOD, ragfood_serve
from tests.support.terminal import Terminal

QUESTION = "Tell me about the Vietnamese noodle soup pho"


def run_timed(
    argv: list[str], env: dict[str, str], timeout: float = 30
) -> tuple[str, float, float]:
    """(stdout, seconds until 'slowly' first appeared, seconds until the process ended)."""
    started = time.monotonic()
    process = subprocess.Popen(
        argv, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    output, first = b"", None
    while time.monotonic() - started < timeout:
        if not selector.select(timeout=0.1):
            if process.poll() is not None:
                break
            continue
        chunk = os.read(process.stdout.fileno(), 4096)
        if not chunk:
            break
        output += chunk
        if first is None and b"slowly" in output:
            first = time.monotonic() - started
    process.wait(10)
    ended = time.monotonic() - started
    assert first is not None, output.decode(errors="replace")
    return output.decode(errors="replace"), first, ended


@pytest.mark.parametrize("where", ["local", "api"])
def test_ask_stream_prints_tokens_as_they_arrive(kb_env, stub, where):
    stub.state.mode, stub.state.trickle_s = "trickle", 0.5
    env = {**kb_env, "GENERATOR_URL": stub.url, "RAGFOOD_ASK_BUDGET_S": "4", "COLUMNS": "200"}
    argv = [str(RAGFOOD), "ask", QUESTION, "--stream"]
    if where == "local":
        output, first, ended = run_timed(argv, env)
    else:
        with ragfood_serve(env) as base:
            output, first, ended = run_timed([*argv, "--api-url", base], env)
    assert ended - first > 1.5, f"first token at {first:.1f} s, exit at {ended:.1f} s: buffered"
    assert "degraded" in output and "pho" in output  # the footer and the sources table


def test_ask_follows_up_through_a_served_api(dataset_env):
    with ragfood_serve(dataset_env) as base:
        first = subprocess.run(
            [str(RAGFOOD), "ask", "What is bibimbap?", "--json", "--api-url", base],
            env={**os.environ, **dataset_env}, capture_output=True, text=True, timeout=60,
        )
        session = json.loads(first.stdout)["session_id"]
        second = subprocess.run(
            [str(RAGFOOD), "ask", "Which country is it from?", "--json", "--stream",
             "--api-url", base, "--session-id", session],
            env={**os.environ, **dataset_env}, capture_output=True, text=True, timeout=60,
        )
    answer = json.loads(second.stdout)
    assert answer["session_id"] == session
    assert answer["resolved_question"] == "Which country is bibimbap from?"
    assert answer["sources"][0]["id"] == "bibimbap"


def test_chat_keeps_one_conversation(dataset_env):
    terminal = Terminal([str(RAGFOOD), "chat"], {**dataset_env, "COLUMNS": "200"})
    terminal.wait_for(r"you.*:")
    terminal.type("What is bibimbap?\r")
    terminal.wait_for(r"bibimbap(.|\n)*you.*:(.|\n)*$")
    terminal.type("Which country is it from?\r")
    screen = terminal.wait_for(r"answered as:.*Which country is bibimbap from\?(.|\n)*you.*:")
    terminal.type("\r")
    assert terminal.close() == 0
    follow_up = screen.rsplit("answered as:", 1)[1]
    assert "bibimbap" in follow_up.split("\n", 2)[-1]  # the sources table names it


def test_ask_says_when_the_session_it_was_given_is_gone(kb_env):
    gone = "A" * 32  # well formed, but no server minted it (or it expired)
    with ragfood_serve(kb_env) as base:
        result = subprocess.run(
            [str(RAGFOOD), "ask", "Which country is it from?", "--api-url", base,
             "--session-id", gone],
            env={**os.environ, **kb_env}, capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 0, result.stderr
    assert f"session {gone} is unknown or has expired" in " ".join(result.stderr.split())
    assert "follow up with --session-id" in result.stdout
