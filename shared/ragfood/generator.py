"""Generator client: Ollama `/api/chat` or an OpenAI-compatible `/v1/chat/completions`.

One httpx client per container. Both protocols, streaming and not; every failure becomes a
`GeneratorError` subclass whose message says what to fix (URL, model, key) without the key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, NamedTuple

import httpx
from pydantic import SecretStr

from ragfood.errors import (
    GeneratorBadResponse,
    GeneratorError,
    GeneratorHTTPError,
    GeneratorModelNotFound,
    GeneratorTimeout,
    GeneratorUnreachable,
)
from ragfood.redact import redact_credentials, redact_text

Api = Literal["ollama", "openai"]
ENDPOINTS: dict[str, str] = {"ollama": "/api/chat", "openai": "/chat/completions"}
Message = dict[str, str]


class Generation(NamedTuple):  # not a frozen dataclass: cheaper to define (ragfood.relevance)
    text: str
    model: str


class GeneratorClient:
    def __init__(
        self,
        url: str,
        model: str,
        *,
        api: Api = "ollama",
        api_key: SecretStr | None = None,
        client: httpx.Client,
        max_tokens: int = 400,
        temperature: float = 0.2,
    ) -> None:
        # The endpoint itself, copied from a host's documentation, stands for its base URL.
        self.url = url.rstrip("/").removesuffix(ENDPOINTS[api]).rstrip("/")
        self.model = model
        self.api = api
        self._client = client
        self._api_key = api_key
        self._max_tokens = max_tokens
        self._temperature = temperature

    @property
    def endpoint(self) -> str:
        # OpenAI: accept both "https://host/openai" and "https://host/openai/v1" as the base URL.
        base = self.url if self.api == "ollama" or self.url.endswith("/v1") else f"{self.url}/v1"
        return base + ENDPOINTS[self.api]

    def generate(self, messages: list[Message]) -> Generation:
        with self._errors():
            response = self._client.post(
                self.endpoint, json=self._body(messages, stream=False), headers=self._headers()
            )
            self._check(response)
            body = _json(response, self._mask)
            text = _extract_text(self.api, body, streaming=False)
        if not text.strip():
            raise GeneratorBadResponse(f"generator at {self._host} returned an empty answer")
        return Generation(text=text.strip(), model=str(body.get("model") or self.model))

    def stream(self, messages: list[Message]) -> Iterator[str]:
        """Yield answer fragments as they arrive (Ollama NDJSON or OpenAI server-sent events)."""
        with (
            self._errors(),
            self._client.stream(
                "POST",
                self.endpoint,
                json=self._body(messages, stream=True),
                headers=self._headers(),
            ) as response,
        ):
            self._check(response)
            for line in response.iter_lines():
                fragment, done = self._parse_stream_line(line)
                if fragment:
                    yield fragment
                if done:
                    return
            # No done marker: the connection closed early, so the answer may be cut short.
            raise GeneratorBadResponse(
                f"generator at {self._host} closed the stream before finishing the answer"
            )

    def list_models(self) -> list[str]:
        """Models the host offers (used by `doctor`)."""
        if self.api == "ollama":
            url = f"{self.url}/api/tags"
        else:
            url = self.endpoint.removesuffix(ENDPOINTS["openai"]) + "/models"
        with self._errors():
            response = self._client.get(url, headers=self._headers())
            self._check(response)
            body = _json(response, self._mask)
        if self.api == "ollama":
            return [str(m.get("name")) for m in body.get("models", []) if isinstance(m, dict)]
        return [str(m.get("id")) for m in body.get("data", []) if isinstance(m, dict)]

    @property
    def _host(self) -> str:
        return httpx.URL(self.url).host or self.url

    @property
    def _key(self) -> str:
        return self._api_key.get_secret_value() if self._api_key else ""

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"} if self._key else {}

    def _mask(self, text: str) -> str:
        """`text` without the API key: some hosts and proxies quote the credentials they refused
        in their error body, and peer text must not carry the key on to answers and logs."""
        return redact_credentials(text, self._key)

    def _body(self, messages: list[Message], *, stream: bool) -> dict[str, Any]:
        if self.api == "ollama":
            return {
                "model": self.model,
                "messages": messages,
                "stream": stream,
                "options": {"temperature": self._temperature, "num_predict": self._max_tokens},
            }
        return {
            "model": self.model,
            "messages": messages,
            "stream": stream,
            "temperature": self._temperature,
            "max_tokens": self._max_tokens,
        }

    def _parse_stream_line(self, line: str) -> tuple[str, bool]:
        line = line.strip()
        if not line:
            return "", False
        if self.api == "openai":
            if line.startswith(":"):  # SSE comment / keep-alive
                return "", False
            if not line.startswith("data:"):
                return "", False
            data = line[5:].strip()
            if data == "[DONE]":
                return "", True
            chunk = _loads(data, self._mask)
            text = _extract_text("openai", chunk, streaming=True)  # checks the chunk's shape
            # The chunk with a finish_reason is the last of the answer; [DONE] should follow,
            # but some OpenAI-compatible servers close the stream without it.
            choice = chunk["choices"][0] if chunk.get("choices") else {}
            return text, bool(choice.get("finish_reason"))
        chunk = _loads(line, self._mask)
        if "error" in chunk:
            raise GeneratorBadResponse(f"generator at {self._host} failed: {chunk['error']}")
        return _extract_text("ollama", chunk, streaming=True), bool(chunk.get("done"))

    def _check(self, response: httpx.Response) -> None:
        if response.is_success:
            return
        response.read()
        detail = _error_detail(response, self._mask)
        status = response.status_code
        if status == 404 and "model" in detail.lower():
            raise GeneratorModelNotFound(
                f"model {self.model!r} is not available at {self._host} ({detail}); "
                "set GENERATOR_MODEL to a model the host serves"
                + (f" (for Ollama: ollama pull {self.model})" if self.api == "ollama" else ""),
                status,
            )
        if status == 404:  # a path the host does not serve: the URL is wrong, not the model
            raise GeneratorHTTPError(
                f"generator at {self._host} answered HTTP 404 for {response.request.url.path} "
                f"({detail}); check GENERATOR_URL: the host's base URL, e.g. "
                + ("http://localhost:11434" if self.api == "ollama" else "https://host/v1"),
                status,
            )
        if status in (401, 403):
            raise GeneratorHTTPError(
                f"generator at {self._host} refused the credentials (HTTP {status}); "
                "check GENERATOR_API_KEY",
                status,
            )
        raise GeneratorHTTPError(
            f"generator at {self._host} answered HTTP {status}: {detail}", status
        )

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except GeneratorError as exc:  # its message may quote peer text (self._mask)
            exc.args = tuple(self._mask(a) if isinstance(a, str) else a for a in exc.args)
            raise
        except httpx.TimeoutException:
            raise GeneratorTimeout(
                f"generator at {self._host} did not answer in time (GENERATOR_TIMEOUT_S)"
            ) from None
        except httpx.TransportError as exc:
            raise GeneratorUnreachable(
                f"cannot reach generator at {self._host}: "
                f"{redact_text(str(exc)) or type(exc).__name__}; "
                "check GENERATOR_URL"
            ) from None


def _json(response: httpx.Response, mask: Callable[[str], str]) -> dict[str, Any]:
    return _loads(response.text, mask)


def _loads(text: str, mask: Callable[[str], str]) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        # Masked before the cut, which could split the key and show its start.
        raise GeneratorBadResponse(
            f"generator sent something that is not JSON: {mask(text)[:80]!r}"
        ) from None
    if not isinstance(value, dict):
        raise GeneratorBadResponse("generator sent JSON that is not an object")
    return value


def _extract_text(api: Api, body: dict[str, Any], *, streaming: bool) -> str:
    try:
        if api == "ollama":
            content = body["message"]["content"] if "message" in body else body.get("response", "")
        else:
            choice = body["choices"][0] if body.get("choices") else {}
            part = choice.get("delta" if streaming else "message") or {}
            content = part.get("content") or ""
            if not streaming and not choice:
                raise KeyError("choices")
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise GeneratorBadResponse(f"generator answer lacks the field {exc}") from None
    if not isinstance(content, str):
        raise GeneratorBadResponse("generator answer content is not text")
    return content


def _error_detail(response: httpx.Response, mask: Callable[[str], str]) -> str:
    """What an error body says, cut short; masked first (a cut could split the key)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return mask(response.text)[:200].strip() or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):  # OpenAI: {"error": {"message": ..., "code": ...}}
        error = error.get("message") or error.get("code")
    return mask(str(error))[:300] if error else response.reason_phrase
