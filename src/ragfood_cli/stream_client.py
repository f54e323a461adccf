"""Client side of POST /ask/stream for `ragfood ask --stream --api-url`: parse server-sent events
as they arrive and hand each token over at once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx


class StreamError(Exception):
    """The API refused the question or reported an error event; the message says which."""


def events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    """(event, data) for each server-sent event in `lines` (data is JSON)."""
    event, data = "message", []
    for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
    if data:
        yield event, json.loads("\n".join(data))


def ask_stream(
    url: str,
    key: str | None,
    payload: dict[str, Any],
    on_token: Callable[[str], None],
    timeout_s: float = 60.0,
) -> dict[str, Any]:
    """POST the question to {url}/ask/stream; tokens go to `on_token`; returns the whole answer
    in /ask's shape (sources from the `sources` event, the rest from `done`)."""
    headers = {"x-api-key": key} if key else {}
    answer: dict[str, Any] = {"answer": "", "sources": []}
    timeout = httpx.Timeout(timeout_s, connect=10.0)
    endpoint = f"{url.rstrip('/')}/ask/stream"
    with httpx.stream("POST", endpoint, json=payload, headers=headers, timeout=timeout) as response:
        if response.status_code != 200:
            response.read()
            try:
                body = response.json()
            except ValueError:
                body = {"error": response.text[:200]}
            message = body.get("error") or body.get("message") or response.reason_phrase
            raise StreamError(f"{url} answered {response.status_code}: {message}")
        for event, data in events(response.iter_lines()):
            if event == "sources":
                answer["sources"] = data["sources"]
            elif event == "token":
                answer["answer"] += data["text"]
                on_token(data["text"])
            elif event == "error":
                raise StreamError(f"{url} answered {data.get('status')}: {data.get('error')}")
            elif event == "done":
                answer.update(data)
                return answer
    raise StreamError(f"{url} closed the stream before the answer was done")
