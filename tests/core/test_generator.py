"""Specification of the generator client against a real Ollama/OpenAI-protocol stub."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from ragfood.errors import (
    GeneratorBadResponse,
    GeneratorHTTPError,
    GeneratorModelNotFound,
    GeneratorTimeout,
    GeneratorUnreachable,
)
from ragfood.generator import GeneratorClient
from tests.support.generator_stub import GeneratorStub

MESSAGES = [{"role": "user", "content": "<sources>\n[1] Pho is a Vietnamese soup.\n</sources>"}]


@pytest.fixture(scope="module")
def stub() -> Iterator[GeneratorStub]:
    with GeneratorStub() as server:
        yield server


@pytest.fixture(autouse=True)
def fresh(stub: GeneratorStub) -> None:
    stub.reset()


def client(url: str, api: str = "ollama", model: str = "llama3.2", timeout: float = 5.0, key=None):
    return GeneratorClient(url, model, api=api, api_key=key, client=httpx.Client(timeout=timeout))


@pytest.mark.parametrize("api", ["ollama", "openai"])
def test_generate_returns_the_answer_text(stub: GeneratorStub, api: str):
    result = client(stub.url, api).generate(MESSAGES)
    assert result.text == "According to the knowledge base, Pho is a Vietnamese soup. [1]"


@pytest.mark.parametrize("api", ["ollama", "openai"])
def test_stream_yields_fragments_that_join_to_the_answer(stub: GeneratorStub, api: str):
    fragments = list(client(stub.url, api).stream(MESSAGES))
    assert len(fragments) > 3
    assert "".join(fragments) == "According to the knowledge base, Pho is a Vietnamese soup. [1]"


def test_openai_base_url_may_end_in_v1(stub: GeneratorStub):
    assert client(stub.url + "/v1", "openai").endpoint == stub.url + "/v1/chat/completions"
    assert client(stub.url, "openai").endpoint == stub.url + "/v1/chat/completions"


def test_api_key_is_sent_as_bearer_token(stub: GeneratorStub):
    client(stub.url, "openai", key=SecretStr("gsk-test")).generate(MESSAGES)
    assert stub.state.requests[-1]["headers"]["Authorization"] == "Bearer gsk-test"


@pytest.mark.parametrize("api", ["ollama", "openai"])
def test_unknown_model_is_named(stub: GeneratorStub, api: str):
    with pytest.raises(GeneratorModelNotFound, match="'no-such-model' is not available"):
        client(stub.url, api, model="no-such-model").generate(MESSAGES)


@pytest.mark.parametrize("api", ["ollama", "openai"])
@pytest.mark.parametrize(
    ("mode", "error", "quoted"),
    [
        ("fail", "HTTP 500", "Authorization"),  # an error body that quotes our headers
        ("garbage", "not JSON", "API key"),  # a proxy's HTML page that quotes the key it refused
    ],
)
def test_a_long_key_echoed_by_the_peer_is_masked_before_its_text_is_cut(
    stub, api, mode, error, quoted
):
    # The peer's text is quoted cut to a few dozen or hundred characters: masking the key only
    # afterwards would miss a key that the cut splits, and show its first part.
    key = "sk-" + "0123456789abcdef" * 25
    stub.state.mode, stub.state.fail_echo = mode, True
    with pytest.raises((GeneratorHTTPError, GeneratorBadResponse), match=error) as info:
        client(stub.url, api, key=SecretStr(key)).generate(MESSAGES)
    assert quoted in str(info.value)  # the echo is quoted
    assert key[:20] not in str(info.value)


def test_server_error_is_reported_with_status(stub: GeneratorStub):
    stub.state.mode = "fail"
    with pytest.raises(GeneratorHTTPError, match="HTTP 500") as info:
        client(stub.url).generate(MESSAGES)
    assert info.value.status == 500


def test_garbage_body_is_a_bad_response(stub: GeneratorStub):
    stub.state.mode = "garbage"
    with pytest.raises(GeneratorBadResponse, match="not JSON"):
        client(stub.url).generate(MESSAGES)


def test_empty_answer_is_a_bad_response(stub: GeneratorStub):
    stub.state.mode = "empty"
    with pytest.raises(GeneratorBadResponse, match="empty"):
        client(stub.url).generate(MESSAGES)


def test_slow_generator_times_out(stub: GeneratorStub):
    stub.state.delay_s = 1.0
    with pytest.raises(GeneratorTimeout, match="did not answer in time"):
        client(stub.url, timeout=0.2).generate(MESSAGES)


def test_refused_connection_is_unreachable():
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(GeneratorUnreachable, match="check GENERATOR_URL"):
        client(f"http://127.0.0.1:{port}").generate(MESSAGES)


def test_stream_broken_midway_raises(stub: GeneratorStub):
    stub.state.mode = "break_stream"
    with pytest.raises(GeneratorBadResponse, match="closed the stream before finishing"):
        list(client(stub.url).stream(MESSAGES))


@pytest.mark.parametrize("api", ["ollama", "openai"])
def test_list_models(stub: GeneratorStub, api: str):
    assert "llama3.2" in client(stub.url, api).list_models()


@pytest.mark.parametrize(
    ("api", "endpoint"), [("ollama", "/api/chat"), ("openai", "/v1/chat/completions")]
)
def test_the_endpoint_itself_given_as_the_url_works(stub: GeneratorStub, api: str, endpoint: str):
    """GENERATOR_URL copied from the host's documentation often is the endpoint, not its base."""
    generator = client(stub.url + endpoint + "/", api)
    assert generator.generate(MESSAGES).text.endswith("[1]")
    assert [r["path"] for r in stub.state.requests] == [endpoint]
    assert "llama3.2" in generator.list_models()


def test_a_wrong_ollama_path_is_not_called_a_missing_model(stub: GeneratorStub):
    with pytest.raises(GeneratorHTTPError) as caught:
        client(stub.url + "/ollama", "ollama").generate(MESSAGES)
    message = str(caught.value)
    assert not isinstance(caught.value, GeneratorModelNotFound), message
    assert "HTTP 404" in message and "GENERATOR_URL" in message and "pull" not in message


def test_an_openai_stream_that_ends_with_finish_reason_but_no_done_marker_is_complete(
    stub: GeneratorStub,
):
    """Some OpenAI-compatible servers (llama.cpp forks, older TGI) end the stream with the
    finish_reason chunk and close it, without `data: [DONE]`: the answer is whole."""
    stub.state.openai_done = False
    fragments = list(client(stub.url, "openai").stream(MESSAGES))
    assert "".join(fragments) == "According to the knowledge base, Pho is a Vietnamese soup. [1]"
