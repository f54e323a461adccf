"""Specification of the `ragfood` command line: each command's happy path and its main error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragfood_vector.launcher import VectorServer, free_port
from tests.cli.conftest import REPO
from tests.support.generator_stub import GeneratorStub
from tests.support.samples import MOCHI, PHO

FOODS = [
    PHO,
    MOCHI,
    {
        "id": "churros",
        "text": "Churros are fried dough sticks dipped in chocolate.",
        "region": "Spain",
        "type": "dessert",
    },
]


@pytest.fixture
def foods_file(tmp_path: Path) -> Path:
    path = tmp_path / "foods.json"
    path.write_text(json.dumps(FOODS))
    return path


@pytest.fixture
def ingested(ragfood, foods_file: Path) -> None:
    assert ragfood("ingest", str(foods_file)).exit_code == 0


def test_ingest_prints_a_summary(ragfood, foods_file):
    result = ragfood("ingest", str(foods_file))
    assert result.exit_code == 0, result.output
    assert "3 items, 3 upserted, 0 unchanged, 0 deleted, 0 rejected" in result.output


def test_ingest_json_prints_the_sync_report(ragfood, foods_file):
    result = ragfood("ingest", str(foods_file), "--json")
    report = json.loads(result.stdout)
    assert (report["status"], report["upserted"]) == ("ok", 3)


def test_ingest_of_an_unreadable_file_exits_1_naming_the_problem(ragfood, tmp_path):
    bad = tmp_path / "foods.json"
    bad.write_text('{"id": "pho"}')
    result = ragfood("ingest", str(bad))
    assert result.exit_code == 1
    assert "expected a JSON array of food items, got an object" in result.output


def test_ingest_with_rejected_items_exits_2_and_lists_them(ragfood, tmp_path):
    partial = tmp_path / "foods.json"
    partial.write_text(json.dumps([*FOODS, {"id": 5, "text": "x"}]))
    result = ragfood("ingest", str(partial))
    assert result.exit_code == 2
    assert "item 3: field 'id' must be a non-empty string" in result.output


def test_ask_answers_with_sources(ragfood, ingested):
    result = ragfood("ask", "Vietnamese beef noodle soup")
    assert result.exit_code == 0, result.output
    assert "No generator is configured" in result.output and "pho" in result.output


def test_ask_json_honours_filters(ragfood, ingested):
    result = ragfood("ask", "dessert", "--json", "--region", "spain", "--min-score", "0")
    answer = json.loads(result.stdout)
    assert [s["id"] for s in answer["sources"]] == ["churros"]


def test_ask_with_unusable_filter_fails_cleanly(ragfood, ingested):
    result = ragfood("ask", "dessert", "--type", "a\\b")
    assert result.exit_code == 1 and "type: must not contain backslashes" in result.output


def test_ask_against_an_unreachable_index_fails_cleanly(ragfood):
    result = ragfood(
        "ask", "pho", env={"UPSTASH_VECTOR_REST_URL": f"http://127.0.0.1:{free_port()}"}
    )
    assert result.exit_code == 1 and "cannot reach vector index" in result.output


def test_invoke_runs_a_handler_with_an_event_file(ragfood):
    result = ragfood("invoke", "ask", "--event", str(REPO / "events" / "api-health.json"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["statusCode"] == 200


def test_invoke_unknown_function_is_refused(ragfood):
    result = ragfood("invoke", "nope", "--event", str(REPO / "events" / "api-health.json"))
    assert result.exit_code == 1 and "unknown function 'nope'" in result.output


def test_eval_reports_recall_and_refusals(ragfood, ingested, tmp_path):
    questions = tmp_path / "questions.json"
    questions.write_text(
        json.dumps(
            [
                {
                    "question": "Vietnamese beef noodle soup",
                    "expected_ids": ["pho"],
                    "kind": "direct",
                },
                {"question": "Japanese rice cake", "expected_ids": ["mochi"], "kind": "direct"},
                {"question": "zzzz qqqq xxxx", "expected_ids": [], "kind": "no_answer"},
            ]
        )
    )
    # hash embeddings of unrelated texts score about 0.5, so refuse below 0.6 here
    result = ragfood("eval", str(questions), "--json", env={"RAGFOOD_MIN_SCORE": "0.6"})
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["recall@1"], data["answerable"], data["unanswerable"]) == (1.0, 2, 1)
    assert data["no_answer_refused"] == 1.0


def test_eval_calibrate_prints_held_out_figures_and_the_settings_to_use(
    ragfood, ingested, tmp_path
):
    labelled = [
        {"question": "Vietnamese beef noodle soup", "expected_ids": ["pho"]},
        {"question": "noodle soup from Vietnam", "expected_ids": ["pho"]},
        {"question": "Japanese rice cake", "expected_ids": ["mochi"]},
        {"question": "rice cake for the new year", "expected_ids": ["mochi"]},
        {"question": "fried dough with chocolate", "expected_ids": ["churros"]},
        {"question": "Spanish fried dough sticks", "expected_ids": ["churros"]},
        {"question": "zzzz qqqq xxxx", "expected_ids": []},
        {"question": "wwww vvvv yyyy", "expected_ids": []},
        {"question": "kkkk jjjj", "expected_ids": []},
    ]
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps(labelled))
    result = ragfood("eval", str(questions), "--calibrate", "--folds", "3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [f["questions"] for f in data["folds"]] == [3, 3, 3]
    held = data["held_out"]
    assert (held["answerable"], held["unanswerable"]) == (6, 3)
    assert {"recall@1", "recall@3", "recall@5", "mrr", "no_answer_refused"} <= set(held)
    assert set(data["chosen"]) == {"RAGFOOD_MIN_SCORE", "RAGFOOD_LEXICAL_WEIGHT"}
    text = ragfood("eval", str(questions), "--calibrate", "--folds", "3").output
    assert "RAGFOOD_MIN_SCORE=" in text and "held-out figures" in text


def test_eval_calibrate_needs_unanswerable_questions(ragfood, ingested, tmp_path):
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps([{"question": "pho", "expected_ids": ["pho"]}] * 6))
    result = ragfood("eval", str(questions), "--calibrate", "--folds", "3")
    assert result.exit_code == 1 and "some unanswerable" in result.output


def test_eval_of_a_malformed_question_file_fails(ragfood, tmp_path):
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps([{"expected_ids": []}]))
    result = ragfood("eval", str(questions))
    assert result.exit_code == 1 and "item 0: 'question' is missing" in result.output


def test_eval_without_a_token_names_the_missing_setting_without_a_traceback(ragfood, tmp_path):
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps([{"question": "pho", "expected_ids": ["pho"]}]))
    no_token = {"UPSTASH_VECTOR_REST_TOKEN": "", "UPSTASH_VECTOR_REST_READONLY_TOKEN": ""}
    result = ragfood("eval", str(questions), env=no_token)
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1 and "missing setting" in result.output


def test_doctor_passes_on_a_healthy_setup(ragfood):
    result = ragfood("doctor")
    assert result.exit_code == 0, result.output
    assert "embedding model" in result.output and "FAIL" not in result.output


def test_doctor_names_an_unreachable_vector_url(ragfood):
    result = ragfood("doctor", env={"UPSTASH_VECTOR_REST_URL": f"http://127.0.0.1:{free_port()}"})
    assert result.exit_code == 1 and "cannot reach vector index" in result.output


def test_doctor_names_a_wrong_token(ragfood):
    result = ragfood(
        "doctor",
        env={"UPSTASH_VECTOR_REST_READONLY_TOKEN": "wrong", "UPSTASH_VECTOR_REST_TOKEN": "wrong"},
    )
    assert result.exit_code == 1 and "wrong token" in result.output and "401" in result.output


def test_doctor_names_a_read_only_token_used_for_ingest(ragfood, vector_server: VectorServer):
    result = ragfood("doctor", env={"UPSTASH_VECTOR_REST_TOKEN": vector_server.readonly_token})
    assert result.exit_code == 1
    assert "cannot write (is it the read-only token?)" in result.output


def test_doctor_names_an_index_without_embedding_model(ragfood, start_vector_server):
    bare = start_vector_server(embedder="none")
    result = ragfood("doctor", env=bare.client_env())
    assert result.exit_code == 1 and "has no embedding model" in result.output


def test_doctor_reports_the_index_kind_and_sparse_model(ragfood, start_vector_server):
    dense_only = ragfood("doctor")  # the session's service is dense-only
    assert dense_only.exit_code == 0, dense_only.output
    assert "dense-only index (no sparse model)" in dense_only.output
    hybrid = start_vector_server(embedder="hash", sparse="bm25")
    result = ragfood("doctor", env=hybrid.client_env())
    assert result.exit_code == 0, result.output
    assert "hybrid index: dense ragfood/hash-384 + sparse BM25" in result.output


def test_doctor_fails_a_retrieval_mode_pinned_against_the_index(ragfood, start_vector_server):
    result = ragfood("doctor", env={"RAGFOOD_RETRIEVAL": "hybrid"})  # a dense-only index
    assert result.exit_code == 1 and "RAGFOOD_RETRIEVAL=hybrid" in result.output
    hybrid = start_vector_server(embedder="hash", sparse="bm25")
    result = ragfood("doctor", env={**hybrid.client_env(), "RAGFOOD_RETRIEVAL": "dense"})
    assert result.exit_code == 1 and "RAGFOOD_RETRIEVAL=dense" in result.output


def test_doctor_names_an_unreachable_generator(ragfood):
    result = ragfood("doctor", env={"GENERATOR_URL": f"http://127.0.0.1:{free_port()}"})
    assert result.exit_code == 1 and "cannot reach generator" in result.output


def test_doctor_names_an_unknown_model(ragfood):
    with GeneratorStub() as stub:
        result = ragfood("doctor", env={"GENERATOR_URL": stub.url, "GENERATOR_MODEL": "gpt-9"})
    assert result.exit_code == 1 and "unknown model 'gpt-9'" in result.output
    assert "llama3.2" in result.output  # what it does offer


def test_invoke_reads_the_template_environment_with_parameter_defaults():
    from ragfood_cli.lambda_runner import LocalFunction

    env = LocalFunction("ask").env
    assert env["POWERTOOLS_SERVICE_NAME"] == "ragfood-ask"
    assert env["UPSTASH_VECTOR_REST_READONLY_TOKEN_PARAM"] == "/ragfood/upstash/readonly-token"
    assert "POWERTOOLS_TRACE_DISABLED" not in env  # no Tracer in the functions: nothing reads it


def test_invoke_without_env_file_takes_settings_from_the_environment(ragfood, ingested):
    # the template leaves the token slots empty; the caller's environment fills them
    result = ragfood(
        "invoke",
        "ask",
        "--event",
        str(REPO / "events" / "api-ask.json"),
        env={"RAGFOOD_MIN_SCORE": "0"},
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout[result.stdout.index("{\n") :])["statusCode"] == 200
