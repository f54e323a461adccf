"""Session stores: bounded, expiring, and a session never sees another's turns. DynamoDB is
moto's standalone server, reached over HTTP by boto3 as on AWS."""

from __future__ import annotations

import json
import threading
import time

import pytest
from cachetools import TTLCache

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
from ragfood.sync import sync_foods
from tests.conversation.conftest import generator_for, pipeline_for, stored_turns
from tests.core.conftest import make_gateway
from tests.support.samples import MOCHI, PHO


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
    store.append(mine, Turn("q1", "q1", "a1", ["bibimbap"]))
    store.append(yours, Turn("q2", "q2", "a2", ["pho"]))
    assert [t.question for t in stored_turns(store, mine)] == ["q1"]
    assert [t.question for t in stored_turns(store, yours)] == ["q2"]
    assert stored_turns(store, new_session_id()) is None


def test_a_store_keeps_only_the_last_turns(store):
    session = new_session_id()
    turns = [Turn(f"q{i}", f"q{i}", f"a{i}", []) for i in range(MAX_TURNS + 3)]
    for turn in turns:
        kept = store.append(session, turn)
    assert kept == stored_turns(store, session) == turns[-MAX_TURNS:]


def test_turns_are_bounded_in_size():
    turn = Turn.bounded("q" * 10_000, "r" * 10_000, "a" * 100_000, ["s"] * 100)
    assert len(turn.answer) == MAX_ANSWER_CHARS
    assert len(turn.question) <= 500 and len(turn.sources) <= 5


def test_memory_sessions_expire():
    store = MemorySessionStore(ttl_s=0.2)
    session = new_session_id()
    store.append(session, Turn("q", "q", "a", []))
    assert stored_turns(store, session) is not None
    time.sleep(0.3)
    assert stored_turns(store, session) is None


def test_dynamodb_items_carry_their_expiry_and_expired_ones_are_not_read(dynamodb):
    store = DynamoSessionStore("sessions", dynamodb, ttl_s=60)
    session = new_session_id()
    store.append(session, Turn("q", "q", "a", []))
    item = dynamodb.get_item(TableName="sessions", Key={"session_id": {"S": session}})["Item"]
    assert 50 < int(item["expires_at"]["N"]) - time.time() <= 60
    # DynamoDB deletes expired items only eventually: one still there must not be read.
    item["expires_at"] = {"N": str(int(time.time()) - 1)}
    dynamodb.put_item(TableName="sessions", Item=item)
    assert stored_turns(store, session) is None
    # ...and the next append starts the session over rather than reviving its old turns.
    assert store.append(session, Turn("q2", "q2", "a2", [])) == [Turn("q2", "q2", "a2", [])]


def test_concurrent_appends_to_one_session_lose_no_turn(store):
    """Two tabs, a retry while the first ask is still generating, two Lambda containers: appends
    to one session at once must all land. Each round, MAX_TURNS threads append one turn each to
    the same session, released together; the session then holds every one of them."""
    for round_ in range(10):
        session = new_session_id()
        sent = [Turn(f"q{round_}.{i}", "", "", []) for i in range(MAX_TURNS)]
        appended_together(store, session, sent)
        assert sorted(stored_turns(store, session) or []) == sorted(sent), f"round {round_}"


def test_concurrent_appends_stay_bounded(store):
    session = new_session_id()
    sent = [Turn(f"q{i}", "", "", []) for i in range(2 * MAX_TURNS + 1)]
    appended_together(store, session, sent)
    kept = stored_turns(store, session) or []
    assert len(kept) == MAX_TURNS and all(turn in sent for turn in kept)


class SlowReads(TTLCache):
    """The memory store's cache, with reads that take a while (as on a busy machine): a DynamoDB
    read is a network round trip, but without this the GIL makes a racy read-then-write in memory
    lose a turn only now and then, and the test could pass without the protection."""

    def get(self, key, default=None):
        time.sleep(0.005)
        return super().get(key, default)


def appended_together(store, session: str, turns: list[Turn]) -> None:
    """Append the turns to the session from one thread each, all released at once."""
    if isinstance(store, MemorySessionStore):
        store._sessions = SlowReads(store._sessions.maxsize, store._sessions.ttl)
    start = threading.Barrier(len(turns))
    errors: list[BaseException] = []

    def append(turn: Turn) -> None:
        start.wait()
        try:
            store.append(session, turn)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(turn,)) for turn in turns]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors


def test_an_item_written_before_versions_still_takes_appends(dynamodb):
    """Sessions in the table when this version is deployed have no `version` attribute."""
    store = DynamoSessionStore("sessions", dynamodb, ttl_s=60)
    session, old = new_session_id(), Turn("old", "old", "a", [])
    dynamodb.put_item(
        TableName="sessions",
        Item={
            "session_id": {"S": session},
            "turns": {"S": json.dumps([old._asdict()])},
            "expires_at": {"N": str(int(time.time() + 60))},
        },
    )
    assert stored_turns(store, session) == [old]
    sent = [Turn(f"q{i}", "", "", []) for i in range(MAX_TURNS - 1)]
    appended_together(store, session, sent)
    assert sorted(stored_turns(store, session) or []) == sorted([old, *sent])


def test_an_unknown_session_id_is_never_adopted(minilm_server, dataset_namespace):
    """A client cannot pick an id (and so cannot share or guess into one): it gets a new one."""
    conversations = Conversations(
        pipeline_for(minilm_server, dataset_namespace), MemorySessionStore()
    )
    invented = "a" * 32
    first = conversations.ask("What is bibimbap?", session_id=invented)
    assert first.session_id != invented and valid_session_id(first.session_id)
    assert stored_turns(conversations.store, invented) is None


def test_one_session_never_resolves_with_another_sessions_turns(minilm_server, dataset_namespace):
    conversations = Conversations(
        pipeline_for(minilm_server, dataset_namespace), MemorySessionStore()
    )
    bibimbap = conversations.ask("What is bibimbap?")
    pho = conversations.ask("What is pho?")
    follow_up = conversations.ask("Which country is it from?", session_id=pho.session_id)
    assert follow_up.session_id == pho.session_id != bibimbap.session_id
    assert follow_up.resolved_question == "Which country is pho from?"


def test_two_asks_at_once_in_one_session_both_keep_their_turn(
    vector_server, fresh_namespace, stub, store
):
    """The conversation appends its turn to what the store holds when the answer is ready, not
    to the turns it read before generating: two asks that overlap (a retry from the page while the
    first is still generating) both stay in the session."""
    report = sync_foods(
        json.dumps([PHO, MOCHI]).encode(), make_gateway(vector_server), namespace=fresh_namespace
    )
    assert report.status == "ok"
    stub.state.delay_s = 0.5  # both asks read the session before either has answered
    pipeline = pipeline_for(vector_server, fresh_namespace, generator_for(stub))
    conversations = Conversations(pipeline, store)
    first = conversations.ask("What is pho?")
    asked = ["What is mochi?", "Is pho a soup?"]
    threads = [
        threading.Thread(
            target=conversations.ask, args=(q,), kwargs={"session_id": first.session_id}
        )
        for q in asked
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    kept = stored_turns(conversations.store, first.session_id) or []
    assert sorted(t.question for t in kept) == sorted(["What is pho?", *asked])


def test_an_ask_reads_its_session_once(vector_server, fresh_namespace, dynamodb):
    """An ask reads its session anyway (to resolve a follow-up); saving its turn is a write
    conditioned on that read, not a second read: one GetItem per ask in a known session, none
    in a new one."""
    sync_foods(json.dumps([PHO]).encode(), make_gateway(vector_server), namespace=fresh_namespace)
    conversations = Conversations(
        pipeline_for(vector_server, fresh_namespace),
        DynamoSessionStore("sessions", dynamodb, ttl_s=60),
    )
    calls: list[str] = []
    dynamodb.meta.events.register(
        "before-call.dynamodb", lambda model, **_: calls.append(model.name)
    )
    first = conversations.ask("What is pho?")
    assert calls == ["PutItem"]
    calls.clear()
    conversations.ask("Is it a soup?", session_id=first.session_id)
    assert calls == ["GetItem", "PutItem"]
    assert [t.question for t in stored_turns(conversations.store, first.session_id) or []] == [
        "What is pho?",
        "Is it a soup?",
    ]
