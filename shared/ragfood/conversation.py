"""Asking within a session: resolve a follow-up with the session's last turns, answer the
resolved question, remember the turn. Shared by the ask API (both routes) and `ragfood chat`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from ragfood import budget
from ragfood.budget import Deadline
from ragfood.log import logger
from ragfood.pipeline import Answer, AskOptions, Pipeline, clean_question
from ragfood.sessions import (
    NEW_SESSION,
    Session,
    SessionStore,
    Turn,
    new_session_id,
    valid_session_id,
)
from ragfood.vector import Hit


class Exchange(NamedTuple):  # not a dataclass: cheaper to define (ragfood.relevance)
    answer: Answer
    session_id: str
    resolved_question: str
    resolved_by: str  # standalone, rule or generator

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.answer.as_dict(),
            "session_id": self.session_id,
            "resolved_question": self.resolved_question,
        }


class Conversations:
    def __init__(self, pipeline: Pipeline, store: SessionStore) -> None:
        self.pipeline = pipeline
        self.store = store

    def open(self, session_id: str | None) -> tuple[str, Session]:
        """The id to use and its session. Unknown or expired ids get a fresh id, never adopted.

        A store that cannot be read (DynamoDB throttled, unreachable, its table gone) costs this
        question its context, not its answer; the id is kept, so that the conversation goes on
        once the store is back."""
        if session_id and valid_session_id(session_id):
            try:
                session = self.store.read(session_id)
            except Exception as exc:
                logger.warning(
                    "could not read the session; answering without its turns",
                    extra={"error": type(exc).__name__},
                )
                return session_id, NEW_SESSION
            if session is not None:
                return session_id, session
        return new_session_id(), NEW_SESSION

    def ask(
        self,
        question: str,
        options: AskOptions | None = None,
        *,
        session_id: str | None = None,
        on_token: Callable[[str], None] | None = None,
        on_sources: Callable[[list[Hit]], None] | None = None,
        on_resolved: Callable[[str, str], None] | None = None,
        deadline: Deadline | None = None,
    ) -> Exchange:
        # One budget for the whole exchange: resolving the follow-up spends from it too.
        if deadline is None:
            deadline = Deadline.after(self.pipeline.budget_s).earliest(budget.current())
        # Checked before resolving: a blank follow-up is a mistake to report, not a question the
        # rule would turn into the previous subject.
        question = clean_question(question)
        session_id, session = self.open(session_id)
        asked, how = question, "standalone"
        if session.turns:
            # Imported here: a question with no earlier turn (every first ask of a conversation)
            # never loads the follow-up rules (~0.25 ms of CPU).
            from ragfood.followup import resolve

            asked, how = resolve(question, session.turns, self.pipeline.generator, deadline)
        if on_resolved:
            on_resolved(session_id, asked)
        answer = self.pipeline.ask(
            asked,
            options,
            on_token=on_token,
            on_sources=on_sources,
            deadline=deadline,
        )
        turn = Turn.bounded(question, asked, answer.answer, [h.id for h in answer.sources])
        try:
            # Appended to what the store holds now, not merely to the session as read above:
            # another ask in it may have finished meanwhile, and its turn must not be lost (the
            # store re-reads only then).
            self.store.append(session_id, turn, seen=session)
        except Exception as exc:  # losing the memory must not lose the answer
            logger.warning("could not save the session", extra={"error": type(exc).__name__})
        return Exchange(answer, session_id, asked, how)
