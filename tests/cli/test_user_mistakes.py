"""The mistakes a first-time user makes: each gets one clear line naming the problem, a non-zero
exit code and no traceback, and promptly."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ragfood_vector.launcher import free_port
from tests.cli.conftest import RAGFOOD, REPO
from tests.support.generator_stub import GeneratorStub
from tests.support.samples import PHO
from tests.support.terminal import Terminal

ASK_EVENT = REPO / "events" / "api-health.json"


def _clean(output: str) -> None:
    assert "Traceback" not in output and 'File "' not in output


def test_ingest_without_the_vector_service_fails_at_once(cli_env, tmp_path):
    # The sync's retry budget (600 s) is for an index that pushes back, not for one that is not
    # there: a user who forgot `ragfood vector serve` must hear it at once, not in ten minutes.
    foods = tmp_path / "foods.json"
    foods.write_text(json.dumps([PHO]))
    env = {**cli_env, "UPSTASH_VECTOR_REST_URL": f"http://127.0.0.1:{free_port()}"}
    result = subprocess.run(
        [str(RAGFOOD), "ingest", str(foods)], env=env, capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 1
    assert "cannot reach vector index at 127.0.0.1: connection refused" in result.stderr
    assert "ragfood vector serve" in result.stderr  # what to do
    _clean(result.stderr)


def test_ingest_against_an_index_that_never_answers_fails_within_the_read_timeout(
    cli_env, tmp_path, silent_endpoint
):
    # Connections are accepted, nothing is ever answered: without a bound of its own, the
    # reachability check would wait out every attempt of the write timeout (4 x 120 s).
    foods = tmp_path / "foods.json"
    foods.write_text(json.dumps([PHO]))
    env = {**cli_env, "UPSTASH_VECTOR_REST_URL": silent_endpoint, "RAGFOOD_VECTOR_TIMEOUT_S": "2"}
    env.pop("RAGFOOD_MAX_ATTEMPTS", None)  # the default attempts and write timeout
    result = subprocess.run(
        [str(RAGFOOD), "ingest", str(foods)], env=env, capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 1
    assert "vector index at 127.0.0.1 timed out" in result.stderr
    _clean(result.stderr)


@pytest.mark.parametrize(
    "args", [["ingest", "{foods}", "--json"], ["ask", "What is pho?", "--json"]], ids=str
)
def test_with_json_a_failure_is_json_too(cli_env, tmp_path, args):
    # A script piping `--json` into a parser must get JSON on stdout whatever happened, and
    # still the exit code and the human line on stderr.
    foods = tmp_path / "foods.json"
    foods.write_text(json.dumps([PHO]))
    env = {**cli_env, "UPSTASH_VECTOR_REST_URL": f"http://127.0.0.1:{free_port()}"}
    result = subprocess.run(
        [str(RAGFOOD), *(a.format(foods=foods) for a in args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert (
        error.startswith("cannot reach vector index at 127.0.0.1")
        and "ragfood vector serve" in error
    )
    assert "error: cannot reach vector index" in result.stderr
    _clean(result.stderr)


def on_a_taken_port(args: list[str], env: dict[str, str]) -> tuple[int, Any]:
    """Run `ragfood ARGS --port P` while another socket listens on P."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(RAGFOOD), *args, "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
    return port, result


@pytest.mark.parametrize(
    ("args", "claim"),
    [(["serve"], "ask API on"), (["vector", "serve", "--embedder", "hash"], "listening on")],
    ids=["serve", "vector-serve"],
)
def test_a_server_on_a_port_in_use_names_the_port(cli_env, tmp_path, args, claim):
    # Both servers exit 2, as for an option that cannot work: cannot start as asked.
    env = {**cli_env, "RAGFOOD_VECTOR_DATA_DIR": str(tmp_path / "vectors")}
    port, result = on_a_taken_port(args, env)
    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in output and "--port" in output
    assert claim not in output  # it never claimed to be serving
    _clean(output)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[", "is not valid JSON"),
        ("", "is empty; expected JSON"),
        ("[1, 2]", "must hold a JSON object (the event), got an array"),
    ],
)
def test_invoke_with_an_unusable_event_file_names_it(ragfood, tmp_path, content, problem):
    event = tmp_path / "event.json"
    event.write_text(content)
    result = ragfood("invoke", "ask", "--event", str(event))
    assert result.exit_code == 1
    assert f"{event}: {problem}" in result.output
    _clean(result.output)


def test_invoke_with_an_unusable_env_vars_file_names_it(ragfood, tmp_path):
    env_vars = tmp_path / "env.json"
    env_vars.write_text("{not json")
    result = ragfood("invoke", "ask", "--event", str(ASK_EVENT), "--env-vars", str(env_vars))
    assert result.exit_code == 1
    assert f"{env_vars}: is not valid JSON" in result.output
    _clean(result.output)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[", "is not valid JSON"),
        ("", "is empty; expected JSON"),
        (b"\xff\xfe[", "is not UTF-8 text"),
        ("[]", "holds no questions"),
        ('[{"question": "  "}]', "item 0: 'question' is blank"),
    ],
)
def test_eval_on_a_malformed_questions_file_names_it(ragfood, tmp_path, content, problem):
    questions = tmp_path / "questions.json"
    if isinstance(content, bytes):
        questions.write_bytes(content)
    else:
        questions.write_text(content)
    result = ragfood("eval", str(questions))
    assert result.exit_code == 1
    assert f"{questions}: {problem}" in result.output
    _clean(result.output)


def test_eval_of_a_file_that_is_missing_or_a_directory_is_a_usage_error(ragfood, tmp_path: Path):
    assert ragfood("eval", str(tmp_path / "nope.json")).exit_code == 2
    assert ragfood("eval", str(tmp_path)).exit_code == 2


@pytest.fixture
def ingested(ragfood, tmp_path) -> None:
    foods = tmp_path / "foods.json"
    foods.write_text(json.dumps([PHO]))
    assert ragfood("ingest", str(foods)).exit_code == 0


def test_ctrl_c_during_a_chat_answer_stops_it_and_keeps_the_chat(cli_env, ingested):
    with GeneratorStub() as stub:
        stub.state.mode, stub.state.trickle_s = "trickle", 0.2  # an answer that never ends
        env = {**cli_env, "GENERATOR_URL": stub.url, "RAGFOOD_ASK_BUDGET_S": "120"}
        terminal = Terminal([str(RAGFOOD), "chat"], env)
        terminal.wait_for(r"you.*:")
        terminal.type("Tell me about Vietnamese beef noodle soup\r")
        terminal.wait_for(r"ragfood .*slowly slowly")
        terminal.process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        terminal.wait_for(r"interrupted(.|\n)*you.*:")  # back at the prompt
        stub.state.mode = "ok"
        terminal.type("Tell me about Vietnamese beef noodle soup\r")  # and the chat still works
        screen = terminal.wait_for(r"According to the knowledge base, Pho(.|\n)*you.*:")
        terminal.type("\r")
        assert terminal.close() == 0
    _clean(screen)


def test_ctrl_c_during_a_streamed_answer_ends_the_line_and_exits_130(cli_env, ingested):
    with GeneratorStub() as stub:
        stub.state.mode, stub.state.trickle_s = "trickle", 0.2
        env = {**cli_env, "GENERATOR_URL": stub.url, "RAGFOOD_ASK_BUDGET_S": "120"}
        terminal = Terminal([str(RAGFOOD), "ask", "beef noodle soup", "--stream"], env)
        terminal.wait_for(r"slowly slowly")
        terminal.process.send_signal(signal.SIGINT)
        screen = terminal.wait_for(r"slowly\s*\n.*interrupted")
        assert terminal.close() == 130
    _clean(screen)


def test_ask_with_a_region_nothing_matches_says_to_check_the_filter(ragfood, ingested):
    result = ragfood("ask", "beef noodle soup", "--region", "Vietnm")
    assert result.exit_code == 0  # a refusal is an answer, as from the API
    assert "no relevant source with --region 'Vietnm'" in result.output
    assert "check the spelling" in result.output
    spelt = ragfood("ask", "beef noodle soup", "--region", "vietnam")
    assert "pho" in spelt.output and "check the spelling" not in spelt.output


@pytest.mark.parametrize("source", ["", "  "])
def test_ingest_refuses_a_blank_source_name(ragfood, tmp_path, source):
    # Items need an owner: with none they would read as written before owners were tracked,
    # free for any other file to adopt.
    foods = tmp_path / "foods.json"
    foods.write_text(json.dumps([PHO]))
    result = ragfood("ingest", str(foods), "--source", source)
    assert result.exit_code == 2
    assert "--source" in result.output and "must not be blank" in result.output


def test_ask_reads_the_namespace_ingest_wrote_with_the_same_option(
    ragfood, tmp_path, fresh_namespace
):
    foods = tmp_path / "foods.json"
    foods.write_text(json.dumps([PHO]))
    other = f"{fresh_namespace}-kb"
    assert ragfood("ingest", str(foods), "--namespace", other).exit_code == 0
    found = ragfood("ask", "beef noodle soup", "--namespace", other, "--json")
    assert found.exit_code == 0, found.output
    assert [s["id"] for s in json.loads(found.stdout)["sources"]] == ["pho"]
    default = ragfood("ask", "beef noodle soup", "--json")  # RAGFOOD_NAMESPACE: nothing there
    assert json.loads(default.stdout)["sources"] == []
    remote = ragfood("ask", "x", "--namespace", other, "--api-url", "http://127.0.0.1:9")
    assert remote.exit_code == 2 and "--namespace" in remote.output


def test_every_command_summary_in_help_is_one_unbroken_line():
    # `ragfood --help` shows each docstring's first paragraph; a hard line break inside it shows
    # up as a stray break in the middle of the command list.
    from ragfood_cli.main import app

    for command in app.registered_commands:
        doc = (command.callback.__doc__ or command.help or "") if command.callback else ""
        summary = doc.strip().split("\n\n", 1)[0]
        assert "\n" not in summary, f"{command.callback.__name__}: {summary!r}"


def test_ctrl_c_during_an_ingest_says_what_happened_and_how_to_finish(
    cli_env, start_vector_server, tmp_path
):
    slow = start_vector_server(embedder="hash", latency_ms=400)
    foods = tmp_path / "foods.json"
    foods.write_text(
        json.dumps([{"id": f"i{n}", "text": f"Dish number {n}."} for n in range(3000)])
    )
    env = {**cli_env, **slow.client_env(), "RAGFOOD_BATCH_SIZE": "100", "RAGFOOD_PARALLELISM": "1"}
    process = subprocess.Popen(
        [str(RAGFOOD), "ingest", str(foods)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(2.5)  # started, and writing: 30 batches of 0.4 s each
    assert process.poll() is None
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 130
    assert "interrupted" in output and "run the same command again" in output
    _clean(output)


def test_doctor_says_what_to_do_about_an_unreachable_index(ragfood):
    result = ragfood("doctor", env={"UPSTASH_VECTOR_REST_URL": f"http://127.0.0.1:{free_port()}"})
    assert result.exit_code == 1
    assert "cannot reach vector index" in result.output and "ragfood vector serve" in result.output


def test_vector_serve_with_an_unusable_data_dir_names_it(tmp_path):
    not_a_dir = tmp_path / "vectors"
    not_a_dir.write_text("a file")
    result = subprocess.run(
        [str(RAGFOOD), "vector", "serve", "--embedder", "hash", "--port", str(free_port())],
        env={"PATH": "/usr/bin:/bin", "RAGFOOD_VECTOR_DATA_DIR": str(not_a_dir)},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 2
    assert f"--data-dir {not_a_dir} cannot be used as a directory" in result.stderr
    _clean(result.stdout + result.stderr)


@pytest.mark.parametrize("stream", [(), ("--stream",)], ids=["post", "stream"])
@pytest.mark.parametrize(
    "secret_url", ["http://me:s3cret@127.0.0.1:{port}", "http://127.0.0.1:{port}/?key=s3cret"]
)
def test_ask_api_url_errors_never_echo_its_credentials(ragfood, stream, secret_url):
    url = secret_url.format(port=free_port())
    result = ragfood("ask", "pho", "--api-url", url, *stream)
    assert result.exit_code == 1 and "cannot reach http://" in result.output
    assert "s3cret" not in result.output and "***" in result.output


@pytest.mark.parametrize("section", ["AskFunction", "Parameters"])
def test_invoke_with_an_env_vars_section_that_is_not_an_object_names_it(ragfood, tmp_path, section):
    env_vars = tmp_path / "env.json"
    env_vars.write_text(json.dumps({section: ["UPSTASH_VECTOR_REST_URL"]}))
    result = ragfood("invoke", "ask", "--event", str(ASK_EVENT), "--env-vars", str(env_vars))
    assert result.exit_code == 1
    assert f"{env_vars}: {section!r} must be an object of variable names to values" in result.output
    _clean(result.output)


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_serve_on_an_impossible_port_is_a_usage_error(ragfood, port):
    result = ragfood("serve", "--port", port)
    assert result.exit_code == 2 and "--port" in result.output
    _clean(result.output)
