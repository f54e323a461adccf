"""Conversation sessions: the last few turns of each, bounded and expiring.

A session id is minted here from 192 random bits and is the only key to its turns, so one client
can never read another's. An id the store does not know (expired, or invented by a client) is
never adopted: the caller gets a fresh id, so every id in use was minted here.

Two stores with one interface: `MemorySessionStore` (one process: `ragfood serve`, `ragfood chat`)
and `DynamoSessionStore` (Lambda containers come and go, so turns live in a table with TTL).
"""

from __future__ import annotations

import json
import random
import re
import secrets
import threading
import time
from typing import Any, NamedTuple, Protocol

from cachetools import TTLCache

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")
TTL_ATTRIBUTE = "expires_at"  # the table's TimeToLiveSpecification (infra/template.yaml)
VERSION_ATTRIBUTE = "version"  # bumped by every write: appends are conditioned on it
CONFLICT = "ConditionalCheckFailedException"
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


class Session(NamedTuple):
    """A session as read: its turns, oldest first, and the version of the stored item they came
    from (0: none yet, or written before versions), which a conditional write checks."""

    turns: list[Turn]
    version: int = 0


NEW_SESSION = Session([])


class SessionStore(Protocol):
    def read(self, session_id: str) -> Session | None:
        """The session's last turns; None when the session is unknown or expired."""

    def append(self, session_id: str, turn: Turn, seen: Session | None = None) -> list[Turn]:
        """Add a turn to the session (starting it if unknown or expired), keep its last
        MAX_TURNS and renew its expiry, atomically: concurrent asks in one session (two tabs, a
        retry while the first is still generating) never lose each other's turn. `seen`: the
        session as the caller read it (`read`, or NEW_SESSION for a fresh id), so that the store
        need not read it again unless it changed meanwhile. Returns the session's turns after the
        append."""


class MemorySessionStore:
    def __init__(self, ttl_s: float = DEFAULT_TTL_S, max_sessions: int = 10_000) -> None:
        self._sessions: TTLCache[str, tuple[Turn, ...]] = TTLCache(max_sessions, ttl_s)
        self._lock = threading.Lock()  # TTLCache is not thread-safe; the API serves threads

    def read(self, session_id: str) -> Session | None:
        with self._lock:
            found = self._sessions.get(session_id)
        return None if found is None else Session(list(found))

    def append(self, session_id: str, turn: Turn, seen: Session | None = None) -> list[Turn]:
        # `seen` is not needed: the read and the write are under one lock, so the append is atomic.
        with self._lock:
            turns = (*self._sessions.get(session_id, ()), turn)[-MAX_TURNS:]
            self._sessions[session_id] = turns
        return list(turns)


class DynamoSessionStore:
    """One item per session: {session_id, turns (JSON), expires_at (the table's TTL attribute),
    version}.

    DynamoDB deletes expired items only eventually, so reads also check `expires_at`. An append
    is a put conditioned on the version last read (optimistic locking): the caller's read
    (`seen`: an ask reads its session anyway, to resolve a follow-up), else the store's own. A
    writer that lost the race re-reads and re-applies its turn. Items written before `version`
    existed (and absent ones) count as version 0.
    """

    APPEND_ATTEMPTS = 10  # each conflict means another writer succeeded: bounded by concurrency

    def __init__(self, table: str, client: Any, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.table = table
        self._client = client
        self._ttl_s = ttl_s

    def _stored(self, session_id: str) -> tuple[Session, bool]:
        """The stored session and whether it is live; an expired item's turns are not read (it
        starts over), but its version is kept for the next conditional write."""
        item = self._client.get_item(
            TableName=self.table, Key={"session_id": {"S": session_id}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return NEW_SESSION, False
        # An item written before versions: version 0, which no versioned write leaves.
        version = int(item[VERSION_ATTRIBUTE]["N"]) if VERSION_ATTRIBUTE in item else 0
        if int(item.get(TTL_ATTRIBUTE, {}).get("N", "0")) <= time.time():
            return Session([], version), False
        return Session([Turn.from_dict(t) for t in json.loads(item["turns"]["S"])], version), True

    def read(self, session_id: str) -> Session | None:
        session, live = self._stored(session_id)
        return session if live else None

    def append(self, session_id: str, turn: Turn, seen: Session | None = None) -> list[Turn]:
        for attempt in range(self.APPEND_ATTEMPTS):
            if seen is None:
                seen, _ = self._stored(session_id)
            turns = [*seen.turns, turn][-MAX_TURNS:]
            try:
                self._put_if_unchanged(session_id, turns, seen.version)
                return turns
            except Exception as exc:
                # By code, not `client.exceptions.ConditionalCheckFailedException`: botocore
                # builds those classes lazily, and threads racing to build them get different ones.
                if getattr(exc, "response", {}).get("Error", {}).get("Code") != CONFLICT:
                    raise
                # The session changed since it was read (another ask in it wrote first): re-read
                # and re-apply, after a short jittered pause so that writers that collided do not
                # collide again in step.
                seen = None
                time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        raise RuntimeError(f"session turn not saved: lost the race {self.APPEND_ATTEMPTS} times")

    def _put_if_unchanged(self, session_id: str, turns: list[Turn], version: int) -> None:
        """Write the turns with the next version, unless the item changed since `version`."""
        condition = "#version = :read" if version else "attribute_not_exists(#version)"
        self._client.put_item(
            TableName=self.table,
            Item={
                "session_id": {"S": session_id},
                "turns": {"S": json.dumps([t._asdict() for t in turns], ensure_ascii=False)},
                TTL_ATTRIBUTE: {"N": str(int(time.time() + self._ttl_s))},
                VERSION_ATTRIBUTE: {"N": str(version + 1)},
            },
            ConditionExpression=condition,
            ExpressionAttributeNames={"#version": VERSION_ATTRIBUTE},
            **({"ExpressionAttributeValues": {":read": {"N": str(version)}}} if version else {}),
        )
