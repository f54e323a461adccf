"""Reading a labelled question set (`ragfood eval`, `migrate --compare`) written by anyone.

The format: a JSON array (or `{"questions": [...]}`, or JSON Lines, one question per line) of
`{"question": str, "expected_ids": [id, ...], "kind"?: str, "region"?: str, "type"?: str}`.
`expected_ids` lists the items that answer the question; `[]`, `null`, `""` or no field at all
mean the data cannot answer it (a single id may be a plain string, an integer id is read as its
digits). `region` / `type` filter the sources as the ask API's fields do; a `namespace` (of the
wrapping object or of the questions, one for the whole file) is measured unless `--namespace` says
otherwise. Other fields are ignored.
A question is cleaned and limited as the ask API does (`clean_question`). Without a `kind`, a
question is "answerable" or "no_answer"; a kind holding both gets a "<kind>, no answer" row too.

We accept what has one meaning and refuse the rest with the file, the item and the field named:
a misspelt field (`expected_id`) or a file in which no question names its answers would otherwise
be read as a set of unanswerable questions, and a question repeated with other answers has no
single label. A question repeated with the same label is counted once (else it would be both
tuned and scored on in cross-validation).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ragfood.pipeline import InvalidQuestion, clean_question
from ragfood.vector import build_filter
from ragfood_cli.json_file import kind_of, load_json

FIELDS = ("question", "expected_ids", "kind", "region", "type", "namespace")
NO_ANSWER_KIND = "no_answer"  # the kind of a question without expected ids, unless it names one
ANSWERABLE_KIND = "answerable"


@dataclass(frozen=True)
class Question:
    question: str
    expected_ids: tuple[str, ...]
    kind: str = "direct"
    filter_: str = ""  # an Upstash filter built from the question's region / type

    @property
    def answerable(self) -> bool:
        return bool(self.expected_ids)


@dataclass
class QuestionFile:
    questions: list[Question]
    warnings: list[str] = field(default_factory=list)
    where: list[str] = field(default_factory=list)  # per question: "item 3" / "line 4"
    namespace: str | None = None  # the namespace the file names (its own or its questions')


def read_questions(path: Path) -> QuestionFile:
    """The file's questions, or a ValueError naming the file, the item and the problem."""
    items, namespace = _items(path)
    if not items:
        raise ValueError(f"{path}: holds no questions")
    result = QuestionFile([], namespace=_namespace(path, namespace, items))
    seen: dict[str, tuple[str, Question]] = {}
    for where, item in items:
        try:
            question = _question(item)
        except ValueError as exc:
            raise ValueError(f"{path}: {where}: {exc}") from None
        key = " ".join(question.question.split()).casefold() + "\x1f" + question.filter_
        if key in seen:
            first_where, first = seen[key]
            if set(first.expected_ids) != set(question.expected_ids):
                raise ValueError(
                    f"{path}: {where}: asks the question of {first_where} again with other "
                    "'expected_ids'; keep one (or merge their ids)"
                )
            result.warnings.append(f"{path}: {where} repeats {first_where}; counted once")
            continue
        seen[key] = (where, question)
        result.questions.append(question)
        result.where.append(where)
    # A kind's score is recall@3 for answerable questions and the share refused for the others:
    # a kind that holds both gets one row for each, not their average.
    shared = {q.kind for q in result.questions if q.answerable} & {
        q.kind for q in result.questions if not q.answerable
    }
    result.questions = [
        replace(q, kind=f"{q.kind}, no answer") if q.kind in shared and not q.answerable else q
        for q in result.questions
    ]
    if not any("expected_ids" in item for _, item in items):
        raise ValueError(
            f"{path}: no question has an 'expected_ids' field (the ids of the items that answer "
            "it; [] when the data cannot answer it)"
        )
    return result


def _items(path: Path) -> tuple[list[tuple[str, Any]], Any]:
    """(where, item) for each question of a JSON array, a wrapping object or JSON Lines; and the
    wrapping object's "namespace" (None if none)."""
    try:
        data = load_json(path)
    except ValueError:
        lines = _json_lines(path)
        if lines is None:
            raise
        return lines, None
    namespace = None
    if isinstance(data, dict) and "question" in data and "questions" not in data:
        data = [data]  # one question: a JSON Lines file of one line
    if isinstance(data, dict):
        if "questions" not in data:
            keys = ", ".join(repr(k) for k in list(data)[:5]) or "none"
            raise ValueError(
                f"{path}: expected a JSON array of questions (or an object with a 'questions' "
                f"array), got an object with keys {keys}"
            )
        namespace = data.get("namespace")
        data = data["questions"]
        if not isinstance(data, list):
            raise ValueError(f"{path}: 'questions' must be an array, got {kind_of(data)}")
    elif not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON array of questions, got {kind_of(data)}")
    return [(f"item {n}", item) for n, item in enumerate(data)], namespace


def _namespace(path: Path, file_namespace: Any, items: list[tuple[str, Any]]) -> str | None:
    """The one namespace the file or its questions name, if any; several are refused (one run
    measures one namespace)."""
    named = [("the file", file_namespace)] if file_namespace is not None else []
    named += [
        (where, item["namespace"])
        for where, item in items
        if isinstance(item, dict) and item.get("namespace") is not None
    ]
    for where, value in named:
        if not isinstance(value, str):
            raise ValueError(f"{path}: {where}: 'namespace' must be a string, got {kind_of(value)}")
    if len({value for _, value in named}) > 1:
        first, a = named[0]
        second, b = next(n for n in named[1:] if n[1] != a)
        raise ValueError(
            f"{path}: {first} names namespace {a!r} and {second} {b!r}: one run measures one "
            "namespace; split the questions"
        )
    return named[0][1] if named else None


def _json_lines(path: Path) -> list[tuple[str, Any]] | None:
    """JSON Lines (one object per line), or None when the file is not that either."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if len(lines) < 2 or not all(line.lstrip().startswith("{") for _, line in lines):
        return None
    items = []
    for n, line in lines:
        try:
            items.append((f"line {n}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{path}: line {n} is not valid JSON ({exc.msg} at column {exc.colno}); "
                "JSON Lines hold one question object per line"
            ) from None
    return items


def _question(item: Any) -> Question:
    if not isinstance(item, dict):
        raise ValueError(f"expected a question object, got {kind_of(item)}")
    for key in item:
        if key not in FIELDS and (meant := _misspelt(str(key))):
            raise ValueError(f"unknown field {key!r}; did you mean {meant!r}?")
    text = item.get("question")
    if text is None and {"id", "text"} <= item.keys():
        raise ValueError(
            "has an 'id' and a 'text' but no 'question': this looks like a knowledge base (load "
            "it with `ragfood ingest`), not labelled questions"
        )
    if not isinstance(text, str) or not text.strip():
        what = "is missing" if text is None else f"is {kind_of(text)}"
        if isinstance(text, str):
            what = "is blank"
        raise ValueError(f"'question' {what}; it must be the question's text")
    try:
        # Exactly what the ask API would search for, or its refusal: a question users cannot ask
        # must not be measured as one (a 100,000-character one scored as a plain miss).
        text = clean_question(text)
    except InvalidQuestion as exc:
        raise ValueError(
            f"{str(exc).replace('question:', repr('question'), 1)} (as the ask API takes questions)"
        ) from None
    expected = _expected_ids(item.get("expected_ids"))
    kind = item.get("kind")
    if kind is None or (isinstance(kind, str) and not kind.strip()):
        kind = ANSWERABLE_KIND if expected else NO_ANSWER_KIND
    elif not isinstance(kind, str | int):
        raise ValueError(f"'kind' must be a string, got {kind_of(kind)}")
    return Question(text, expected, str(kind).strip(), _filter(item))


def _misspelt(key: str) -> str | None:
    """The field `key` was probably meant to be (other extra fields are the user's own)."""
    plain = "".join(ch for ch in key.casefold() if ch.isalnum())
    if plain in _ID_ALIASES:
        return "expected_ids"
    for name in FIELDS:
        if difflib.SequenceMatcher(None, plain, name.replace("_", "")).ratio() >= 0.85:
            return name
    return None


# Names other tools give the answering ids: read as one of them, the question would silently
# count as unanswerable.
_ID_ALIASES = {"ids", "expected", "relevantids", "goldids", "answerids", "sourceids", "targetids"}


def _expected_ids(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str | int) and not isinstance(value, bool):
        value = [value] if str(value).strip() else []
    if not isinstance(value, list):
        raise ValueError(f"'expected_ids' must be a list of ids, got {kind_of(value)}")
    ids: list[str] = []
    for n, id_ in enumerate(value):
        if isinstance(id_, bool) or not isinstance(id_, str | int) or not str(id_).strip():
            got = "a blank string" if isinstance(id_, str) else kind_of(id_)
            raise ValueError(f"'expected_ids'[{n}] must be an item id, got {got}")
        if str(id_) not in ids:
            ids.append(str(id_))
    return tuple(ids)


def _filter(item: dict[str, Any]) -> str:
    for name in ("region", "type"):
        value = item.get(name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name!r} must be a string, got {kind_of(value)}")
    return build_filter(item.get("region"), item.get("type"))  # its ValueError names the field
