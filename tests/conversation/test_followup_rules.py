"""Follow-up resolution without a generator: the deterministic rule, and what it leaves alone."""

from __future__ import annotations

import pytest

from ragfood.followup import clean_rewrite, needs_context, resolve, resolve_by_rule, subject
from ragfood.sessions import Turn


def turn(question: str, resolved: str | None = None) -> Turn:
    return Turn(question, resolved or question, "an answer", ["x"])


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What is bibimbap?", "bibimbap"),
        ("Tell me about Korean fermented cabbage", "Korean fermented cabbage"),
        ("Which country is bibimbap from?", "bibimbap"),
        ("Which country is it from?", ""),
    ],
)
def test_subject_keeps_the_words_that_name_something(question, expected):
    assert subject(question) == expected


@pytest.mark.parametrize(
    "question",
    [
        "Which country is it from?",
        "Is it spicy?",
        "and which of those is a dessert?",
        "What about desserts?",
        "Which country?",
        "What are their ingredients?",
    ],
)
def test_follow_ups_are_recognised(question):
    assert needs_context(question)


@pytest.mark.parametrize(
    "question",
    [
        "What is bibimbap?",
        "Tell me about that spicy Korean soup",  # "that" is a determiner here
        "Which dessert comes from Japan?",
        "Is kimchi spicy?",
    ],
)
def test_standalone_questions_are_left_alone(question):
    assert not needs_context(question)
    assert resolve_by_rule(question, [turn("What is bibimbap?")]).question == question


def test_the_pronoun_is_replaced_by_the_previous_subject():
    resolved = resolve_by_rule("Which country is it from?", [turn("What is bibimbap?")])
    assert (resolved.question, resolved.how) == ("Which country is bibimbap from?", "rule")


def test_a_possessive_becomes_possessive():
    resolved = resolve_by_rule("What are its ingredients?", [turn("What is pho?")])
    assert resolved.question == "What are pho's ingredients?"


def test_a_chain_of_follow_ups_keeps_the_subject():
    turns = [turn("What is bibimbap?"), turn("Is it spicy?", "Is bibimbap spicy?")]
    assert resolve_by_rule("Where is it from?", turns).question == "Where is bibimbap from?"


def test_a_follow_up_without_a_pronoun_gets_the_subject_appended():
    resolved = resolve_by_rule("Which country?", [turn("What is bibimbap?")])
    assert resolved.question == "Which country (bibimbap)?"


def test_the_first_question_of_a_session_is_never_changed():
    assert resolve("Which country is it from?", []).question == "Which country is it from?"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Which country is bibimbap from?", "Which country is bibimbap from?"),
        ('"Which country is bibimbap from?"', "Which country is bibimbap from?"),
        ("Standalone question: Where is pho from?", "Where is pho from?"),
        ("According to the knowledge base, Bibimbap is Korean [1]", None),  # an answer
        ("", None),
        ("a\nb\nc\nd", None),  # rambling
        ("x" * 400, None),
    ],
)
def test_a_generator_rewrite_is_used_only_when_it_looks_like_one_question(text, expected):
    assert clean_rewrite(text) == expected


def test_a_new_subject_named_in_a_follow_up_replaces_the_old_one_for_the_next():
    """ "What about pho?" after bibimbap is about pho: the subject carried to it in brackets
    must not stick to pho for the rest of the conversation ("pho bibimbap")."""
    turns = [
        turn("What is in bibimbap?"),
        turn("What about pho?", "What about pho (bibimbap)?"),
    ]
    assert resolve_by_rule("Where is it from?", turns).question == "Where is pho from?"
    # A follow-up that named nothing new still carries the subject it was resolved with.
    turns.append(turn("Where is that from?", "Where is pho from?"))
    assert resolve_by_rule("Is it spicy?", turns).question == "Is pho spicy?"


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        ("What is pão de queijo?", "Where is pão de queijo from?"),
        ("Tell me about crème brûlée", "Where is crème brûlée from?"),
        ("What is phở?", "Where is phở from?"),
        ("What’s bibimbap?", "Where is bibimbap from?"),  # a phone's apostrophe
        ("What's bibimbap?", "Where is bibimbap from?"),
        ("What is bibimbap's origin?", "Where is bibimbap from?"),
    ],
)
def test_accented_names_and_contractions_are_carried_whole(first, expected):
    """Food names are not only ASCII (pão, brûlée, phở), and "What's" is not a food."""
    assert resolve_by_rule("Where is it from?", [turn(first)]).question == expected


def test_a_contracted_pronoun_keeps_its_verb():
    resolved = resolve_by_rule("it's spicy, isn't it?", [turn("What is kimchi?")])
    assert resolved.question.startswith("kimchi's spicy")
