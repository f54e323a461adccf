"""Conversation sessions: the last few turns of each, bounded and expiring.

A session id is minted here from 192 random bits and is the only key to its turns, so one client
can never read another's. An id the store does not know (expired, or invented by a client) is
never adopted: the caller gets a fresh id, so every id in use was minted here.

Two stores with one interface: `MemorySessionStore` (one process: `ragfood serve`, `ragfood chat`)
and `DynamoSessionStore` (Lambda containers come and go, so turns live in a table with TTL).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from typing import Any, NamedTuple, Protocol

from cachetools import TTLCache

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")
TTL_ATTRIBUTE = "expires_at"  # the table's TimeToLiveSpecification (infra/template.yaml)
MAX_TURNS = 4  # the turns a follow-up is resolved with; older ones are dropped
MAX_QUESTION_CHARS = 500  # per stored turn: enough to resolve a follow-up, bounded item size
MAX_ANSWER_CHARS = 600
MAX_SOURCES = 5
DEFAULT_TTL_S = 3600.0


def new_session_id() -> str:
    return secrets.token_urlsafe(24)  # 32 URL-safe characters


def valid_session_id(value: str) -> bool:
    return bool(SESSION_ID.match(value))


class Turn(NamedTuple):  # not a frozen dataclass: cheaper to define (ragfood.relevance)
    question: str
    resolved_question: str
    answer: str
    sources: list[str]  # source ids, best first

    @classmethod
    def bounded(
        cls, question: str, resolved_question: str, answer: str, sources: list[str]
    ) -> Turn:
        return cls(
            question[:MAX_QUESTION_CHARS],
            resolved_question[:MAX_QUESTION_CHARS],
            answer[:MAX_ANSWER_CHARS],
            [s[:200] for s in sources[:MAX_SOURCES]],
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Turn:
        return cls(
            str(data.get("question", "")),
            str(data.get("resolved_question", "")),
            str(data.get("answer", "")),
            [str(s) for s in data.get("sources", [])],
        )


class SessionStore(Protocol):
    def turns(self, session_id: str) -> list[Turn] | None:
        """The session's last turns, oldest first; None when the session is unknown or expired."""

    def save(self, session_id: str, turns: list[Turn]) -> None:
        """Store the session's turns (the caller keeps at most MAX_TURNS), renewing its expiry."""


class MemorySessionStore:
    def __init__(self, ttl_s: float = DEFAULT_TTL_S, max_sessions: int = 10_000) -> None:
        self._sessions: TTLCache[str, tuple[Turn, ...]] = TTLCache(max_sessions, ttl_s)
        self._lock = threading.Lock()  # TTLCache is not thread-safe; the API serves threads

    def turns(self, session_id: str) -> list[Turn] | None:
        with self._lock:
            found = self._sessions.get(session_id)
        return None if found is None else list(found)

    def save(self, session_id: str, turns: list[Turn]) -> None:
        with self._lock:
            self._sessions[session_id] = tuple(turns[-MAX_TURNS:])


class DynamoSessionStore:
    """One item per session: {session_id, turns (JSON), expires_at (the table's TTL attribute)}.

    DynamoDB deletes expired items only eventually, so reads also check `expires_at`.
    """

    def __init__(self, table: str, client: Any, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.table = table
        self._client = client
        self._ttl_s = ttl_s

    def turns(self, session_id: str) -> list[Turn] | None:
        item = self._client.get_item(
            TableName=self.table, Key={"session_id": {"S": session_id}}, ConsistentRead=True
        ).get("Item")
        if not item or int(item.get(TTL_ATTRIBUTE, {}).get("N", "0")) <= time.time():
            return None
        return [Turn.from_dict(t) for t in json.loads(item["turns"]["S"])]

    def save(self, session_id: str, turns: list[Turn]) -> None:
        payload = json.dumps([t._asdict() for t in turns[-MAX_TURNS:]], ensure_ascii=False)
        self._client.put_item(
            TableName=self.table,
            Item={
                "session_id": {"S": session_id},
                "turns": {"S": payload},
                TTL_ATTRIBUTE: {"N": str(int(time.time() + self._ttl_s))},
            },
        )
