"""Session stores: bounded, expiring, and a session never sees another's turns. DynamoDB is
moto's standalone server, reached over HTTP by boto3 as on AWS."""

from __future__ import annotations

import time

import pytest

from ragfood.conversation import Conversations
from ragfood.sessions import (
    MAX_ANSWER_CHARS,
    MAX_TURNS,
    DynamoSessionStore,
    MemorySessionStore,
    Turn,
    new_session_id,
    valid_session_id,
)
from tests.conversation.conftest import pipeline_for


@pytest.fixture(params=["memory", "dynamodb"])
def store(request):
    if request.param == "memory":
        return MemorySessionStore(ttl_s=60)
    return DynamoSessionStore("sessions", request.getfixturevalue("dynamodb"), ttl_s=60)


def test_ids_are_unguessable_and_validated():
    ids = {new_session_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(valid_session_id(i) and len(i) == 32 for i in ids)
    for bad in ("", "short", "x" * 31, "x" * 33, "../../etc/passwd-aaaaaaaaaaaaaaaaaa", "a b" * 11):
        assert not valid_session_id(bad)


def test_a_store_keeps_the_turns_of_each_session_apart(store):
    mine, yours = new_session_id(), new_session_id()
    store.save(mine, [Turn("q1", "q1", "a1", ["bibimbap"])])
    store.save(yours, [Turn("q2", "q2", "a2", ["pho"])])
    assert [t.question for t in store.turns(mine)] == ["q1"]
    assert [t.question for t in store.turns(yours)] == ["q2"]
    assert store.turns(new_session_id()) is None


def test_a_store_keeps_only_the_last_turns(store):
    session = new_session_id()
    turns = [Turn(f"q{i}", f"q{i}", f"a{i}", []) for i in range(MAX_TURNS + 3)]
    store.save(session, turns)
    assert [t.question for t in store.turns(session)] == [t.question for t in turns[-MAX_TURNS:]]


def test_turns_are_bounded_in_size():
    turn = Turn.bounded("q" * 10_000, "r" * 10_000, "a" * 100_000, ["s"] * 100)
    assert len(turn.answer) == MAX_ANSWER_CHARS
    assert len(turn.question) <= 500 and len(turn.sources) <= 5


def test_memory_sessions_expire():
    store = MemorySessionStore(ttl_s=0.2)
    session = new_session_id()
    store.save(session, [Turn("q", "q", "a", [])])
    assert store.turns(session) is not None
    time.sleep(0.3)
    assert store.turns(session) is None


def test_dynamodb_items_carry_their_expiry_and_expired_ones_are_not_read(dynamodb):
    store = DynamoSessionStore("sessions", dynamodb, ttl_s=60)
    session = new_session_id()
    store.save(session, [Turn("q", "q", "a", [])])
    item = dynamodb.get_item(TableName="sessions", Key={"session_id": {"S": session}})["Item"]
    assert 50 < int(item["expires_at"]["N"]) - time.time() <= 60
    # DynamoDB deletes expired items only eventually: one still there must not be read.
    item["expires_at"] = {"N": str(int(time.time()) - 1)}
    dynamodb.put_item(TableName="sessions", Item=item)
    assert store.turns(session) is None


def test_an_unknown_session_id_is_never_adopted(minilm_server, dataset_namespace):
    """A client cannot pick an id (and so cannot share or guess into one): it gets a new one."""
    conversations = Conversations(
        pipeline_for(minilm_server, dataset_namespace), MemorySessionStore()
    )
    invented = "a" * 32
    first = conversations.ask("What is bibimbap?", session_id=invented)
    assert first.session_id != invented and valid_session_id(first.session_id)
    assert conversations.store.turns(invented) is None


def test_one_session_never_resolves_with_another_sessions_turns(minilm_server, dataset_namespace):
    conversations = Conversations(
        pipeline_for(minilm_server, dataset_namespace), MemorySessionStore()
    )
    bibimbap = conversations.ask("What is bibimbap?")
    pho = conversations.ask("What is pho?")
    follow_up = conversations.ask("Which country is it from?", session_id=pho.session_id)
    assert follow_up.session_id == pho.session_id != bibimbap.session_id
    assert follow_up.resolved_question == "Which country is pho from?"
