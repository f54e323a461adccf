"""`ragfood eval` on labelled sets written by someone else, against the real local index.

What has one meaning is read as ours (no `kind`, `expected_ids` null or a single id, a wrapping
object, JSON Lines); what would silently measure the wrong thing (a misspelt field, labels the
index does not hold, an empty namespace, a set calibration cannot choose from) fails or warns,
naming the file, the item and the field.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import RAGFOOD
from tests.support.env import ragfood_env
from tests.support.samples import MOCHI, PHO
from tests.support.terminal import Terminal

FOODS = [
    PHO,
    MOCHI,
    {"id": "churros", "text": "Churros are fried dough sticks dipped in chocolate."},
    {"id": "42", "text": "Bibimbap is a Korean rice bowl with vegetables and a fried egg."},
]
OURS = [
    {"question": "Vietnamese beef noodle soup", "expected_ids": ["pho"], "kind": "direct"},
    {"question": "Korean rice bowl with a fried egg", "expected_ids": ["42"], "kind": "direct"},
    {"question": "zzzz qqqq xxxx", "expected_ids": [], "kind": "no_answer"},
]
# Hash embeddings of unrelated texts score about 0.5: refuse below 0.6 here.
ENV = {"RAGFOOD_MIN_SCORE": "0.6"}


@pytest.fixture
def ingested(ragfood, tmp_path: Path) -> None:
    foods = tmp_path / "foods.json"
    foods.write_text(json.dumps(FOODS))
    assert ragfood("ingest", str(foods)).exit_code == 0


def _write(tmp_path: Path, content: Any, name: str = "questions.json") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _figures(data: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(data[k] for k in ("answerable", "unanswerable", "recall@1", "no_answer_refused"))


def _without_kind(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != "kind"}


OTHER_SHAPES = {
    "no kind": [_without_kind(q) for q in OURS],
    "expected_ids null": [*OURS[:2], {"question": OURS[2]["question"], "expected_ids": None}],
    "expected_ids missing": [*OURS[:2], {"question": OURS[2]["question"]}],
    "expected_ids empty string": [*OURS[:2], {"question": OURS[2]["question"], "expected_ids": ""}],
    "one id as a string, an integer id": [
        {"question": OURS[0]["question"], "expected_ids": "pho"},
        {"question": OURS[1]["question"], "expected_ids": [42]},
        OURS[2],
    ],
    "extra fields": [{**q, "id": n, "notes": "mine", "answer": "..."} for n, q in enumerate(OURS)],
    "wrapped in an object": {"name": "my set", "questions": OURS},
    "JSON Lines": "\n".join(json.dumps(q) for q in OURS) + "\n",
    "UTF-8 BOM": b"\xef\xbb\xbf" + json.dumps(OURS).encode(),
}
ONE = {"question": "Vietnamese beef noodle soup", "expected_ids": ["pho"]}


@pytest.mark.parametrize("shape", list(OTHER_SHAPES))
def test_a_question_set_written_differently_measures_the_same(ragfood, ingested, tmp_path, shape):
    ours = ragfood("eval", str(_write(tmp_path, OURS, "ours.json")), "--json", env=ENV)
    assert ours.exit_code == 0, ours.output
    theirs = ragfood("eval", str(_write(tmp_path, OTHER_SHAPES[shape])), "--json", env=ENV)
    assert theirs.exit_code == 0, theirs.output
    assert _figures(json.loads(theirs.stdout)) == _figures(json.loads(ours.stdout)) == (2, 1, 1, 1)


def test_a_kind_of_answerable_and_unanswerable_questions_gets_a_row_for_each(
    ragfood, ingested, tmp_path
):
    # Averaged, recall of the answerable ones and refusals of the others mean nothing.
    mixed = [{**q, "kind": "hard"} for q in OURS]
    data = json.loads(ragfood("eval", str(_write(tmp_path, mixed)), "--json", env=ENV).stdout)
    assert data["by_kind"] == {
        "hard": {"questions": 2, "score": 1.0},
        "hard, no answer": {"questions": 1, "score": 1.0},
    }


def test_a_file_of_one_question_object_is_a_set_of_one(ragfood, ingested, tmp_path):
    # What a JSON Lines file of one line looks like.
    result = ragfood("eval", str(_write(tmp_path, ONE, "one.jsonl")), "--json", env=ENV)
    assert result.exit_code == 0, result.output
    assert _figures(json.loads(result.stdout)) == (1, 0, 1.0, None)


def test_questions_without_a_kind_are_reported_as_answerable_or_not(ragfood, ingested, tmp_path):
    # Not one nameless row that averages recall of answerable questions with refusals of the rest.
    result = ragfood("eval", str(_write(tmp_path, OTHER_SHAPES["no kind"])), "--json", env=ENV)
    by_kind = json.loads(result.stdout)["by_kind"]
    assert by_kind == {
        "answerable": {"questions": 2, "score": 1.0},
        "no_answer": {"questions": 1, "score": 1.0},
    }


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        # Read as unanswerable, these would report every answer as "wrongly given".
        (
            [{"question": "pho", "expected_id": ["pho"]}, OURS[2]],
            "item 0: unknown field 'expected_id'; did you mean 'expected_ids'?",
        ),
        ([{"question": "pho", "ids": ["pho"]}, OURS[2]], "item 0: unknown field 'ids'"),
        (
            [{"question": "pho", "answers": ["pho"]}],
            "no question has an 'expected_ids' field",
        ),
        (FOODS, "item 0: has an 'id' and a 'text' but no 'question': this looks like a knowledge"),
        ([OURS[0], None], "item 1: expected a question object, got null"),
        ([{"question": 5, "expected_ids": []}], "item 0: 'question' is a number"),
        (
            [OURS[0], {"question": "pho " * 600, "expected_ids": ["pho"]}],
            "item 1: 'question' must be at most 2000 characters (as the ask API takes questions)",
        ),
        ([{"question": "pho", "expected_ids": [1.5]}], "item 0: 'expected_ids'[0] must be an item"),
        ([{"question": "pho", "expected_ids": {"id": "pho"}}], "item 0: 'expected_ids' must be"),
        ([{"question": "pho", "expected_ids": [], "region": 3}], "item 0: 'region' must be a"),
        ({"items": OURS}, "expected a JSON array of questions (or an object with a 'questions'"),
        (json.dumps(OURS[0]) + "\n{oops\n", "line 2 is not valid JSON"),
        (
            [OURS[0], {"question": "vietnamese  beef noodle SOUP", "expected_ids": []}],
            "item 1: asks the question of item 0 again with other 'expected_ids'",
        ),
    ],
)
def test_a_question_set_that_would_measure_the_wrong_thing_is_refused(
    ragfood, ingested, tmp_path, content, problem
):
    questions = _write(tmp_path, content)
    result = ragfood("eval", str(questions), "--json")
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout) == {"error": json.loads(result.stdout)["error"]}
    assert f"{questions}: {problem}" in result.stderr
    assert "Traceback" not in result.output


def test_a_repeated_question_is_counted_once(ragfood, ingested, tmp_path):
    # Counted twice, it could be tuned on in one fold and scored on in another.
    questions = _write(tmp_path, [*OURS, dict(OURS[0], question=" Vietnamese beef noodle soup ")])
    result = ragfood("eval", str(questions), "--json", env=ENV)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["questions"] == 3
    assert data["warnings"] == [f"{questions}: item 3 repeats item 0; counted once"]
    assert "item 3 repeats item 0" in result.stderr


def test_expected_ids_the_index_does_not_hold_are_named(ragfood, ingested, tmp_path):
    typo = [OURS[0], {"question": "Japanese rice cake", "expected_ids": ["mochii"]}, OURS[2]]
    questions = _write(tmp_path, typo)
    result = ragfood("eval", str(questions), "--json", env=ENV)
    assert result.exit_code == 0, result.output
    (warning,) = json.loads(result.stdout)["warnings"]
    assert "1 expected id(s) not in namespace" in warning and "'mochii' (item 1)" in warning
    assert "'mochii' (item 1)" in result.stderr


def test_questions_about_another_index_or_namespace_fail(ragfood, ingested, tmp_path):
    questions = _write(tmp_path, OURS)
    empty = ragfood("eval", str(questions), "--namespace", "elsewhere")
    assert empty.exit_code == 1
    assert "namespace 'elsewhere' of the index holds no items" in empty.stderr
    assert "--namespace elsewhere" in empty.stderr  # how to fill it
    unusable = ragfood("eval", str(questions), "--namespace", "kb/2")
    assert unusable.exit_code == 1
    assert "namespace 'kb/2' cannot be used: it would change the request's URL" in unusable.stderr
    other = _write(tmp_path, [{"question": "q", "expected_ids": ["nope", "nada"]}], "other.json")
    unrelated = ragfood("eval", str(other))
    assert unrelated.exit_code == 1
    assert f"{other}: none of its 2 expected ids" in unrelated.stderr


def test_a_region_in_a_question_filters_its_sources(ragfood, ingested, tmp_path):
    # PHO is from Vietnam: filtered to Japan, the soup question cannot find it.
    filtered = [dict(OURS[0], region="Japan"), dict(OURS[1], question="rice cake", region="Japan")]
    filtered[1]["expected_ids"] = ["mochi"]
    result = ragfood("eval", str(_write(tmp_path, filtered)), "--json", env=ENV)
    assert result.exit_code == 0, result.output
    misses = json.loads(result.stdout)["misses"]
    assert [m["question"] for m in misses] == [OURS[0]["question"]]
    assert "pho" not in misses[0]["got"]


def _pairs(n: int) -> list[dict[str, Any]]:
    """n answerable questions, and n unanswerable ones with the same words (the same scores)."""
    words = ["noodle soup", "beef broth", "rice cake", "fried dough", "rice bowl", "egg"]
    answerable = [{"question": f"{w}?", "expected_ids": ["pho"]} for w in words[:n]]
    return answerable + [{"question": f"{w}!", "expected_ids": []} for w in words[:n]]


@pytest.mark.parametrize(
    ("content", "folds", "problem"),
    [
        (
            [{"question": f"dish {n}", "expected_ids": []} for n in range(8)],
            "3",
            "needs some answerable questions",
        ),
        (
            _pairs(4)[:6],  # 4 answerable, 2 unanswerable
            "3",
            "with 3 folds needs at least 3 answerable and 3 unanswerable questions (one of each "
            "per fold); there are 4 answerable and 2 unanswerable: add questions or use --folds 2",
        ),
    ],
)
def test_calibration_refuses_a_set_it_cannot_choose_from(
    ragfood, ingested, tmp_path, content, folds, problem
):
    questions = _write(tmp_path, content)
    result = ragfood("eval", str(questions), "--calibrate", "--folds", folds)
    assert result.exit_code == 1
    assert f"{questions}: --calibrate {problem}" in result.stderr
    assert "RAGFOOD_MIN_SCORE" not in result.output


def test_calibration_says_when_no_setting_tells_the_questions_apart(ragfood, ingested, tmp_path):
    questions = _write(tmp_path, _pairs(3))
    result = ragfood("eval", str(questions), "--calibrate", "--folds", "3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["held_out"]["no_answer_refused"] == 0.0
    (note,) = data["warnings"]
    assert "do not tell them apart" in note and "do not tell them apart" in result.stderr


def test_eval_in_a_terminal_shows_its_progress(start_vector_server, fresh_namespace, tmp_path):
    # One request per question: against a distant index, hundreds of questions take minutes.
    server = start_vector_server(embedder="hash", latency_ms=30)
    env = ragfood_env(server, fresh_namespace)
    foods = _write(tmp_path, FOODS, "foods.json")
    subprocess.run([str(RAGFOOD), "ingest", str(foods)], env=env, check=True, timeout=60)
    questions = _write(tmp_path, [dict(OURS[0], question=f"noodle soup {n}") for n in range(40)])
    terminal = Terminal([str(RAGFOOD), "eval", str(questions)], env)
    screen = terminal.wait_for(r"recall@1", timeout=60)
    assert terminal.close() == 0
    assert re.search(r"retrieving.*\d+/40", screen), screen


def test_every_miss_in_the_json_has_the_same_shape(ragfood, ingested, tmp_path):
    # A script iterating `got` must not iterate the letters of "refused".
    questions = _write(tmp_path, [*OURS, {"question": "noodle soup", "expected_ids": ["mochi"]}])
    result = ragfood("eval", str(questions), "--json", env={"RAGFOOD_MIN_SCORE": "0.99"})
    assert result.exit_code == 0, result.output
    misses = json.loads(result.stdout)["misses"]
    assert len(misses) == 3  # every answerable question refused at this threshold
    for miss in misses:
        assert set(miss) == {"question", "got", "refused", "expected"}
        assert miss["got"] == [] and miss["refused"] is True


def test_a_rate_over_no_questions_is_not_reported_as_zero(ragfood, ingested, tmp_path):
    # "no-answer refused 0.000" on a set without unanswerable questions reads as a failure.
    only_answerable = _write(tmp_path, OURS[:2], "answerable.json")
    data = json.loads(ragfood("eval", str(only_answerable), "--json", env=ENV).stdout)
    assert (data["no_answer_refused"], data["recall@1"]) == (None, 1.0)
    table = ragfood("eval", str(only_answerable), env=ENV).stdout
    assert re.search(r"no-answer refused .*n/a", table), table
    only_unanswerable = _write(tmp_path, OURS[2:], "unanswerable.json")
    data = json.loads(ragfood("eval", str(only_unanswerable), "--json", env=ENV).stdout)
    assert (data["recall@3"], data["mrr"], data["answerable_wrongly_refused"]) == (None,) * 3
    assert data["no_answer_refused"] == 1.0


def test_an_id_that_differs_only_in_case_or_spacing_is_pointed_at(ragfood, ingested, tmp_path):
    near = [OURS[0], {"question": "Japanese rice cake", "expected_ids": [" Mochi"]}, OURS[2]]
    result = ragfood("eval", str(_write(tmp_path, near)), "--json", env=ENV)
    (warning,) = json.loads(result.stdout)["warnings"]
    assert "' Mochi' (item 1; the index has 'mochi')" in warning
    shouted = _write(tmp_path, [{"question": "pho", "expected_ids": ["PHO"]}], "shouted.json")
    result = ragfood("eval", str(shouted))
    assert result.exit_code == 1
    assert "the index has 'pho' for 'PHO' (ids must match exactly)" in result.stderr


def test_the_namespace_a_questions_file_names_is_measured(ragfood, fresh_namespace, tmp_path):
    kb = f"{fresh_namespace}-kb"
    foods = _write(tmp_path, FOODS, "foods.json")
    assert ragfood("ingest", str(foods), "--namespace", kb).exit_code == 0
    questions = _write(tmp_path, {"namespace": kb, "questions": OURS})
    result = ragfood("eval", str(questions), "--json", env=ENV)  # RAGFOOD_NAMESPACE is empty
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["namespace"], _figures(data)) == (kb, (2, 1, 1.0, 1.0))
    assert data["warnings"] == [
        f"measuring namespace {kb!r}, which {questions} names (--namespace overrides)"
    ]
    overridden = ragfood("eval", str(questions), "--namespace", fresh_namespace)
    assert overridden.exit_code == 1 and "holds no items" in overridden.stderr
    split = _write(tmp_path, [dict(OURS[0], namespace=kb), dict(OURS[2], namespace="b")], "s.json")
    result = ragfood("eval", str(split))
    assert result.exit_code == 1
    assert f"{split}: item 0 names namespace {kb!r} and item 1 'b'" in result.stderr
