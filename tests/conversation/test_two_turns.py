"""The conversation users have: "What is bibimbap?" then "Which country is it from?" — on the
bundled data set, with and without a generator, with sessions in memory and in DynamoDB."""

from __future__ import annotations

import pytest

from ragfood.conversation import Conversations
from ragfood.sessions import DynamoSessionStore, MemorySessionStore
from tests.conversation.conftest import generator_for, pipeline_for, stored_turns

pytestmark = pytest.mark.minilm

FIRST, FOLLOW_UP = "What is bibimbap?", "Which country is it from?"


def two_turns(conversations: Conversations):
    first = conversations.ask(FIRST)
    second = conversations.ask(FOLLOW_UP, session_id=first.session_id)
    assert second.session_id == first.session_id
    return first, second


@pytest.fixture
def conversations(minilm_server, dataset_namespace) -> Conversations:
    """Conversations on the bundled data set without a generator, their sessions in memory."""
    return Conversations(pipeline_for(minilm_server, dataset_namespace), MemorySessionStore())


def test_the_follow_up_alone_does_not_find_bibimbap(minilm_server, dataset_namespace):
    """Why resolution is needed: the question by itself names nothing."""
    hits = pipeline_for(minilm_server, dataset_namespace).ask(FOLLOW_UP).sources
    assert not hits or hits[0].id != "bibimbap"


@pytest.mark.parametrize("where", ["memory", "dynamodb"])
def test_without_a_generator_the_follow_up_finds_bibimbap(
    minilm_server, dataset_namespace, request, where
):
    store = (
        MemorySessionStore()
        if where == "memory"
        else DynamoSessionStore("sessions", request.getfixturevalue("dynamodb"))
    )
    first, second = two_turns(Conversations(pipeline_for(minilm_server, dataset_namespace), store))
    assert first.answer.sources[0].id == "bibimbap"
    assert second.resolved_question == "Which country is bibimbap from?"
    assert second.resolved_by == "rule"
    assert second.answer.sources[0].id == "bibimbap"
    assert "Korea" in second.answer.answer


def test_with_a_generator_the_generator_rewrites_the_follow_up(
    minilm_server, dataset_namespace, stub
):
    stub.state.rewrite_to = "Which country does bibimbap come from?"
    pipeline = pipeline_for(minilm_server, dataset_namespace, generator_for(stub))
    _, second = two_turns(Conversations(pipeline, MemorySessionStore()))
    assert second.resolved_by == "generator"
    assert second.resolved_question == "Which country does bibimbap come from?"
    assert second.answer.sources[0].id == "bibimbap"
    assert second.answer.generator["kind"] == "ollama"
    rewrite = [r for r in stub.state.requests if "Follow-up question" in str(r.get("body"))]
    assert len(rewrite) == 1, "one rewrite request, for the second turn only"
    assert "What is bibimbap?" in rewrite[0]["body"]["messages"][-1]["content"]


def test_a_generator_that_answers_instead_of_rewriting_falls_back_to_the_rule(
    minilm_server, dataset_namespace, stub
):
    # rewrite_to None: the stub answers the rewrite request like a question ("According to...").
    pipeline = pipeline_for(minilm_server, dataset_namespace, generator_for(stub))
    _, second = two_turns(Conversations(pipeline, MemorySessionStore()))
    assert (second.resolved_by, second.resolved_question) == (
        "rule",
        "Which country is bibimbap from?",
    )
    assert second.answer.sources[0].id == "bibimbap"


@pytest.mark.parametrize("echo", [FOLLOW_UP, "Which country is it from", "and which country?"])
def test_a_rewrite_that_still_names_nothing_falls_back_to_the_rule(
    minilm_server, dataset_namespace, stub, echo
):
    """Small models often hand the follow-up back as it was: searched as such, it finds nothing
    ("no information"), where the rule resolves it."""
    stub.state.rewrite_to = echo
    pipeline = pipeline_for(minilm_server, dataset_namespace, generator_for(stub))
    _, second = two_turns(Conversations(pipeline, MemorySessionStore()))
    assert second.resolved_by == "rule", second.resolved_question
    assert "bibimbap" in second.resolved_question
    assert second.answer.sources[0].id == "bibimbap"


def test_a_failing_or_slow_generator_falls_back_to_the_rule_in_bounded_time(
    minilm_server, dataset_namespace, stub
):
    import time

    from ragfood import followup

    pipeline = pipeline_for(minilm_server, dataset_namespace, generator_for(stub, timeout=30))
    conversations = Conversations(pipeline, MemorySessionStore())
    first = conversations.ask(FIRST)
    turns = stored_turns(conversations.store, first.session_id) or []
    stub.state.delay_s = 30  # the rewrite would wait for this; the ask must not
    started = time.monotonic()
    resolution = followup.resolve(FOLLOW_UP, turns, pipeline.generator)
    assert time.monotonic() - started < followup.MAX_REWRITE_S + 2
    assert (resolution.how, resolution.question) == ("rule", "Which country is bibimbap from?")
    stub.state.delay_s = 0
    stub.state.mode = "fail"
    resolution = followup.resolve(FOLLOW_UP, turns, pipeline.generator)
    assert resolution.how == "rule"
    # A generator that trickles forever is cut, and its connection closed.
    stub.state.mode, stub.state.trickle_s = "trickle", 0.2
    started = time.monotonic()
    resolution = followup.resolve(FOLLOW_UP, turns, pipeline.generator)
    assert time.monotonic() - started < followup.MAX_REWRITE_S + 2
    assert resolution.how == "rule"
    assert stub.open_streams_after(5) == 0


def test_a_long_conversation_follows_the_subject_the_user_moved_to(conversations):
    """Five turns without a generator: the user moves from bibimbap to pho ("What about pho?"),
    and the follow-ups after that are about pho, not about "pho bibimbap"."""
    session_id, exchanges = None, []
    for question in [
        "What is in bibimbap?",
        "Where is it from?",
        "What about pho?",
        "Where is that from?",
        "Is it spicy?",
    ]:
        exchange = conversations.ask(question, session_id=session_id)
        session_id = exchange.session_id
        exchanges.append(exchange)
    resolved = [e.resolved_question for e in exchanges]
    assert resolved[1] == "Where is bibimbap from?"
    assert resolved[3:] == ["Where is pho from?", "Is pho spicy?"], resolved
    assert [e.answer.sources[0].id for e in exchanges[2:]] == ["pho", "pho", "pho"]


def test_a_follow_up_on_a_name_with_accents_finds_it(conversations):
    first = conversations.ask("What is pão de queijo?")
    assert first.answer.sources[0].id == "pao-de-queijo"
    second = conversations.ask("Which country is it from?", session_id=first.session_id)
    assert second.resolved_question == "Which country is pão de queijo from?"
    assert second.answer.sources[0].id == "pao-de-queijo"


@pytest.mark.parametrize(
    ("first", "follow_up", "expected"),
    [
        ("What is in kimchi?", "What about sauerkraut?", "sauerkraut"),
        ("Which country is jollof rice from?", "And what about fufu?", "fufu"),
    ],
)
def test_what_about_another_dish_finds_that_dish(conversations, first, follow_up, expected):
    opened = conversations.ask(first)
    second = conversations.ask(follow_up, session_id=opened.session_id)
    assert second.answer.sources[0].id == expected, second.resolved_question
