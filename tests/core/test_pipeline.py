"""Specification of ask(): retrieval, grounding, generation, degradation, caching, round trips."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ragfood.errors import VectorUnavailable
from ragfood.generator import GeneratorClient
from ragfood.pipeline import AskOptions, InvalidQuestion, Pipeline
from ragfood.prompt import DEGRADED_LABEL, EXTRACTIVE_LABEL, NO_ANSWER, build_messages
from ragfood.retry import RetryPolicy, retrying_client
from ragfood.sync import sync_foods
from ragfood.vector import Hit
from ragfood_vector.launcher import VectorServer
from tests.core.conftest import CountingTransport, make_gateway
from tests.support.generator_stub import GeneratorStub

FOODS = [
    {
        "id": "pho",
        "text": "Pho is a Vietnamese noodle soup with beef broth and herbs.",
        "region": "Vietnam",
        "type": "soup",
    },
    {
        "id": "tiramisu",
        "text": "Tiramisu is an Italian dessert of coffee-soaked ladyfingers.",
        "region": "Italy",
        "type": "dessert",
    },
    {
        "id": "mochi",
        "text": "Mochi is a Japanese rice cake eaten at New Year.",
        "region": "Japan",
        "type": "dessert",
    },
]


@pytest.fixture(scope="module", params=["none", "bm25"], ids=["dense-only", "hybrid"])
def vector_server(request: pytest.FixtureRequest) -> Iterator[VectorServer]:
    """Every ask behaviour holds on a dense-only index and on a hybrid (dense + BM25) one."""
    with VectorServer(embedder="hash", sparse=request.param) as server:
        yield server


@pytest.fixture(scope="module")
def kb_namespace(vector_server: VectorServer) -> str:
    sync_foods(json.dumps(FOODS).encode(), make_gateway(vector_server), namespace="pipeline-kb")
    return "pipeline-kb"


def generator_for(
    stub: GeneratorStub, api: str = "ollama", timeout: float = 5.0, attempts: int = 1
):
    client = retrying_client(RetryPolicy(attempts, 0.01, 0.02), timeout)
    return GeneratorClient(stub.url, "llama3.2", api=api, client=client)


def pipeline_for(server, namespace, generator=None, transport=None, **kwargs) -> Pipeline:
    gateway = make_gateway(server, write=False, transport=transport)
    kwargs.setdefault("min_score", 0.55)
    # Pinned to what the service is, so a test's requests are the ask's own (no info() call).
    kwargs.setdefault("retrieval", server_kind(server))
    return Pipeline(gateway, generator, namespace=namespace, **kwargs)


def server_kind(server: VectorServer) -> str:
    return "hybrid" if make_gateway(server).info().hybrid else "dense"


def test_answer_is_generated_from_the_top_source(vector_server, kb_namespace, stub):
    answer = pipeline_for(vector_server, kb_namespace, generator_for(stub)).ask(
        "Tell me about the Vietnamese noodle soup pho"
    )
    assert answer.sources[0].id == "pho"
    assert answer.answer.startswith("According to the knowledge base, Pho is a Vietnamese")
    assert answer.generator == {"kind": "ollama", "model": "llama3.2"}
    assert answer.degraded is False and set(answer.timings_ms) == {"retrieve", "generate", "total"}


def test_prompt_numbers_sources_and_delimits_the_question():
    hits = [Hit("pho", 0.9, "Pho is soup.", "Vietnam", "soup"), Hit("x", 0.8, "X.", None, None)]
    system, user = build_messages("What is pho?", hits)
    assert "ONLY the numbered sources" in system["content"] and "[1], [2]" in system["content"]
    assert "[1] Pho is soup. (Vietnam, soup)\n[2] X." in user["content"]
    assert "<question>\nWhat is pho?\n</question>" in user["content"]


def test_without_a_generator_the_answer_quotes_sources_and_says_so(vector_server, kb_namespace):
    answer = pipeline_for(vector_server, kb_namespace).ask("Italian coffee dessert tiramisu")
    assert answer.answer.startswith(EXTRACTIVE_LABEL)
    assert "[1] Tiramisu is an Italian dessert" in answer.answer
    assert answer.generator["kind"] == "extractive" and answer.degraded is False


def test_no_relevant_source_means_no_generator_call(vector_server, kb_namespace, stub):
    pipeline = pipeline_for(vector_server, kb_namespace, generator_for(stub), min_score=0.99)
    answer = pipeline.ask("How do I change a car tyre?")
    assert answer.answer == NO_ANSWER and answer.sources == []
    assert stub.request_count == 0


@pytest.mark.parametrize("mode", ["fail", "garbage", "empty"])
def test_generator_failure_degrades_to_sources(vector_server, kb_namespace, stub, mode):
    stub.state.mode = mode
    answer = pipeline_for(vector_server, kb_namespace, generator_for(stub)).ask("pho soup")
    assert answer.degraded is True and answer.reason
    assert answer.answer.startswith(DEGRADED_LABEL) and answer.sources


def test_slow_generator_degrades_after_its_timeout(vector_server, kb_namespace, stub):
    stub.state.delay_s = 1.0
    generator = generator_for(stub, timeout=0.2)
    answer = pipeline_for(vector_server, kb_namespace, generator).ask("pho soup")
    assert answer.degraded is True and "did not answer in time" in answer.reason


def test_uncached_ask_costs_one_query_and_one_generation(vector_server, kb_namespace, stub):
    """Pinned (RAGFOOD_RETRIEVAL=dense|hybrid, as the index is), even the first ask makes one
    vector request (on a hybrid index: one batch of a DENSE and a SPARSE query) and one
    generation."""
    transport = CountingTransport()
    pipeline = pipeline_for(vector_server, kb_namespace, generator_for(stub), transport=transport)
    pipeline.ask("rice cake for new year")
    assert (transport.count, stub.request_count) == (1, 1)
    pipeline.ask("Vietnamese noodle soup")
    assert (transport.count, stub.request_count) == (2, 2)


def test_index_kind_is_read_once_then_every_uncached_ask_is_one_query(
    vector_server, kb_namespace, stub
):
    transport = CountingTransport()
    pipeline = pipeline_for(
        vector_server, kb_namespace, generator_for(stub), transport=transport, retrieval="auto"
    )
    pipeline.ask("rice cake for new year")
    assert (transport.count, stub.request_count) == (2, 1)  # info() once per container, + query
    pipeline.ask("Vietnamese noodle soup")
    pipeline.ask("Italian coffee dessert")
    assert (transport.count, stub.request_count) == (4, 3)


def test_repeated_question_is_served_from_cache_without_network(vector_server, kb_namespace, stub):
    transport = CountingTransport()
    pipeline = pipeline_for(vector_server, kb_namespace, generator_for(stub), transport=transport)
    first = pipeline.ask("rice cake for new year")
    again = pipeline.ask("  Rice cake for  NEW year ")
    assert (transport.count, stub.request_count) == (1, 1)
    assert again.cached is True and again.answer == first.answer


def test_different_filters_are_cached_separately(vector_server, kb_namespace):
    transport = CountingTransport()
    pipeline = pipeline_for(vector_server, kb_namespace, transport=transport)
    pipeline.ask("dessert", AskOptions(region="Italy"))
    pipeline.ask("dessert", AskOptions(region="Japan"))
    assert transport.count == 2


def test_degraded_answers_are_not_cached(vector_server, kb_namespace, stub):
    pipeline = pipeline_for(vector_server, kb_namespace, generator_for(stub))
    stub.state.mode = "fail"
    assert pipeline.ask("pho soup").degraded
    stub.state.mode = "ok"
    assert not pipeline.ask("pho soup").degraded


def test_filters_restrict_sources(vector_server, kb_namespace):
    answer = pipeline_for(vector_server, kb_namespace, min_score=0.0).ask(
        "dessert", AskOptions(region="japan", top_k=5)
    )
    assert [s.id for s in answer.sources] == ["mochi"]


def test_a_filter_narrows_which_items_answer_not_how_relevant_they_are(vector_server, kb_namespace):
    # Coverage weighs a question's words by their rarity around the question. Among only the
    # items a filter admits (here one), a word the item lacks ("made") outweighed its own name,
    # and an item its filter admits scored lower than without the filter: refused when it was
    # the answer ("What is fatayer filled with?" for Lebanon, MiniLM: 0.788 -> 0.554).
    pipeline = pipeline_for(vector_server, kb_namespace, min_score=0.0)
    unfiltered = pipeline.ask("What is tiramisu made with?", AskOptions(top_k=1))
    filtered = pipeline.ask("What is tiramisu made with?", AskOptions(region="Italy", top_k=1))
    assert [s.id for s in filtered.sources] == [s.id for s in unfiltered.sources] == ["tiramisu"]
    assert filtered.sources[0].score == pytest.approx(unfiltered.sources[0].score)


@pytest.mark.parametrize("api", ["ollama", "openai"])
def test_streamed_answer_reaches_the_callback_in_pieces(vector_server, kb_namespace, stub, api):
    pieces: list[str] = []
    answer = pipeline_for(vector_server, kb_namespace, generator_for(stub, api)).ask(
        "pho soup", on_token=pieces.append
    )
    assert len(pieces) > 3 and "".join(pieces) == answer.answer


def test_stream_broken_midway_keeps_the_text_and_adds_sources(vector_server, kb_namespace, stub):
    stub.state.mode = "break_stream"
    pieces: list[str] = []
    answer = pipeline_for(vector_server, kb_namespace, generator_for(stub)).ask(
        "pho soup", on_token=pieces.append
    )
    assert answer.degraded and DEGRADED_LABEL in answer.answer
    assert "".join(pieces) == answer.answer


@pytest.mark.parametrize("question", ["", "   ", "x" * 2001])
def test_unusable_questions_are_refused(vector_server, kb_namespace, question):
    with pytest.raises(InvalidQuestion, match="question"):
        pipeline_for(vector_server, kb_namespace).ask(question)


def test_unusable_filter_value_is_refused_naming_the_field(vector_server, kb_namespace):
    with pytest.raises(InvalidQuestion, match="type: must not contain backslashes"):
        pipeline_for(vector_server, kb_namespace).ask("x", AskOptions(type="a\\b"))


def test_vector_outage_propagates_as_unavailable(start_vector_server):
    down = start_vector_server(embedder="hash", fail_rate=1.0)
    gateway = make_gateway(down, write=False, policy=RetryPolicy(2, 0.01, 0.02))
    with pytest.raises(VectorUnavailable):
        Pipeline(gateway, None).ask("anything")


class RecordingTransport(CountingTransport):
    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[object] = []

    def handle_request(self, request):
        self.bodies.append(json.loads(request.read() or b"null"))
        return super().handle_request(request)


@pytest.mark.parametrize("region", [None, "Italy"])
def test_a_hybrid_index_is_asked_for_dense_and_sparse_candidates_in_one_batch(
    vector_server, kb_namespace, region
):
    transport = RecordingTransport()
    pipeline = pipeline_for(vector_server, kb_namespace, transport=transport)
    answer = pipeline.ask("Italian coffee dessert tiramisu", AskOptions(region=region))
    assert [hit.id for hit in answer.sources][:1] == ["tiramisu"]
    (body,) = transport.bodies
    # A filtered question's unfiltered candidates come in the same request (merge_candidates).
    filters = ["region_key = 'italy'", ""] if region else [""]
    if server_kind(vector_server) == "dense":
        if not region:
            assert isinstance(body, dict) and "queryMode" not in body
            return
        assert [(q["filter"], "queryMode" in q) for q in body] == [(f, False) for f in filters]
        return
    assert [(q["queryMode"], q["filter"]) for q in body] == [
        (mode, f) for f in filters for mode in ("DENSE", "SPARSE")
    ]
    assert all(q["weightingStrategy"] == "IDF" for q in body if q["queryMode"] == "SPARSE")
