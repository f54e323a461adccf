"""The metadata filter language (``ragfood_vector.filters``), one behaviour per test."""

from __future__ import annotations

from typing import Any

import pytest

from ragfood_vector.filters import FilterError, compile_filter

PIZZA: dict[str, Any] = {
    "name": "Margherita pizza",
    "cuisine": "italian",
    "price": 9.5,
    "calories": 800,
    "vegetarian": True,
    "tags": ["cheese", "tomato", 3],
    "origin": {"country": "Italy", "city": "Naples"},
    "note": None,
}


def matches(text: str, metadata: dict[str, Any] | None = PIZZA) -> bool:
    return compile_filter(text)(metadata)


# -- comparison operators -----------------------------------------------------------------------


def test_empty_filter_matches_everything() -> None:
    assert matches("") and matches("   ") and matches("", None)


def test_equals_matches_an_equal_string() -> None:
    assert matches("cuisine = 'italian'")
    assert not matches("cuisine = 'french'")


def test_equals_matches_an_equal_number() -> None:
    assert matches("calories = 800")
    assert not matches("calories = 801")


def test_integer_literal_equals_the_same_float_value() -> None:
    assert matches("price = 9.5") and matches("calories = 800.0")


def test_numbers_never_equal_strings() -> None:
    assert not matches("calories = '800'")
    assert not matches("cuisine = 1", {"cuisine": "1"})


def test_booleans_match_booleans_and_not_numbers() -> None:
    assert matches("vegetarian = true")
    assert not matches("vegetarian = false")
    assert not matches("vegetarian = 1")


def test_not_equals_selects_other_values() -> None:
    assert matches("cuisine != 'french'")
    assert not matches("cuisine != 'italian'")


def test_less_than_compares_numbers() -> None:
    assert matches("price < 10") and not matches("price < 9.5")


def test_less_or_equal_includes_the_bound() -> None:
    assert matches("price <= 9.5") and not matches("price <= 9")


def test_greater_than_compares_numbers() -> None:
    assert matches("calories > 799") and not matches("calories > 800")


def test_greater_or_equal_includes_the_bound() -> None:
    assert matches("calories >= 800") and not matches("calories >= 801")


def test_negative_and_exponent_literals_are_numbers() -> None:
    assert matches("price > -1") and matches("calories = 8e2")


def test_range_operators_ignore_non_numeric_values() -> None:
    assert not matches("cuisine > 0")


# -- IN, GLOB, CONTAINS, HAS FIELD --------------------------------------------------------------


def test_in_matches_any_listed_value() -> None:
    assert matches("cuisine IN ('french', 'italian')")
    assert not matches("cuisine IN ('french', 'thai')")


def test_in_list_may_mix_value_types() -> None:
    assert matches("calories IN ('800', 800)")


def test_not_in_excludes_listed_values() -> None:
    assert matches("cuisine NOT IN ('french', 'thai')")
    assert not matches("cuisine NOT IN ('italian')")


def test_glob_star_matches_any_run_of_characters() -> None:
    assert matches("name GLOB '*pizza'") and not matches("name GLOB '*pasta'")


def test_glob_question_mark_matches_one_character() -> None:
    assert matches("cuisine GLOB 'ital?an'") and not matches("cuisine GLOB 'ital?'")


def test_glob_character_classes_and_negated_classes() -> None:
    assert matches("cuisine GLOB '[hi]talian'")
    assert not matches("cuisine GLOB '[^i]talian'")
    assert matches("cuisine GLOB '[!x]talian'")


def test_glob_is_case_sensitive() -> None:
    assert not matches("name GLOB 'margherita*'")


def test_glob_treats_regex_characters_literally() -> None:
    assert matches("v GLOB 'a.b+(c)'", {"v": "a.b+(c)"})
    assert not matches("v GLOB 'a.b'", {"v": "axb"})


def test_not_glob_selects_non_matching_strings() -> None:
    assert matches("cuisine NOT GLOB 'fr*'") and not matches("cuisine NOT GLOB 'it*'")


def test_contains_matches_an_array_element() -> None:
    assert matches("tags CONTAINS 'tomato'") and matches("tags CONTAINS 3")
    assert not matches("tags CONTAINS 'basil'")


def test_not_contains_selects_arrays_without_the_element() -> None:
    assert matches("tags NOT CONTAINS 'basil'") and not matches("tags NOT CONTAINS 'cheese'")


def test_has_field_is_true_for_present_fields() -> None:
    assert matches("HAS FIELD origin.city") and not matches("HAS FIELD spice")


def test_has_field_is_true_for_a_null_value() -> None:
    assert matches("HAS FIELD note")


def test_has_not_field_selects_items_lacking_the_field() -> None:
    assert matches("HAS NOT FIELD spice") and not matches("HAS NOT FIELD price")


# -- paths, literals, keywords --------------------------------------------------------------------


def test_dotted_path_reads_nested_fields() -> None:
    assert matches("origin.country = 'Italy'") and not matches("origin.city = 'Italy'")


def test_bracket_index_reads_array_elements_from_either_end() -> None:
    assert matches("tags[0] = 'cheese'") and matches("tags[#-1] = 3")
    assert not matches("tags[5] = 'cheese'")


def test_keywords_are_case_insensitive() -> None:
    assert matches("cuisine in ('italian') and price < 10 or has not field x")


def test_single_quoted_string_may_contain_an_escaped_single_quote() -> None:
    assert matches(r"name = 'Chef\'s special'", {"name": "Chef's special"})


def test_double_quoted_string_may_contain_an_escaped_double_quote() -> None:
    assert matches(r'name = "the \"best\" pie"', {"name": 'the "best" pie'})


def test_quotes_of_the_other_kind_need_no_escape() -> None:
    assert matches("""name = "Chef's special" """, {"name": "Chef's special"})


def test_escaped_backslash_is_one_backslash() -> None:
    assert matches(r"path = 'a\\b'", {"path": "a\\b"})


# -- boolean structure ---------------------------------------------------------------------------


def test_and_binds_tighter_than_or() -> None:
    # Read as: cuisine = 'french' OR (price < 10 AND calories > 1000) -> false for the pizza.
    assert not matches("cuisine = 'french' OR price < 10 AND calories > 1000")
    # Read as: (cuisine = 'italian' AND calories > 1000) OR price < 10 -> true.
    assert matches("cuisine = 'italian' AND calories > 1000 OR price < 10")


def test_parentheses_override_precedence() -> None:
    assert matches("(cuisine = 'french' OR price < 10) AND calories > 500")
    assert not matches("(cuisine = 'french' OR price < 10) AND calories > 1000")


def test_nested_parentheses_are_allowed() -> None:
    assert matches("((cuisine = 'italian') AND (price < 10 OR (calories < 100)))")


# -- missing fields --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "spice = 'hot'",
        "spice != 'hot'",
        "spice < 1",
        "spice >= 1",
        "spice IN ('hot')",
        "spice NOT IN ('hot')",
        "spice GLOB '*'",
        "spice NOT GLOB 'x*'",
        "spice CONTAINS 'x'",
        "spice NOT CONTAINS 'x'",
        "origin.spice = 'hot'",
    ],
)
def test_comparing_a_missing_field_is_false(text: str) -> None:
    assert not matches(text)


def test_items_without_metadata_match_only_has_not_field() -> None:
    assert not matches("price != 1", None)
    assert matches("HAS NOT FIELD price", None)


# -- malformed filters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem", "position"),
    [
        ("price >", "expected a value after '>'", 7),
        ("cuisine = italian", "strings must be quoted", 10),
        ("(price < 10", "expected ')'", 11),
        ("price < 10)", "unbalanced ')'", 10),
        ("name = 'pizza", "unterminated string", 7),
        ("price ~ 10", "unexpected character '~'", 6),
        ("price < 10 calories > 5", "joined with AND or OR", 11),
        ("cuisine IN ()", "IN needs at least one value", 12),
        ("cuisine IN ('a' 'b')", "expected ',' or ')'", 16),
        ("price < 'ten'", "operator '<' needs a number", 8),
        ("name GLOB 5", "GLOB needs a quoted pattern", 10),
        ("price NOT = 1", "expected IN, GLOB or CONTAINS after NOT", 10),
        ("AND price = 1", "expected a field name", 0),
        ("price = 1 AND", "expected a field name", 13),
        ("price 10", "expected an operator", 6),
    ],
)
def test_malformed_filter_names_the_problem_and_its_position(
    text: str, problem: str, position: int
) -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter(text)
    assert problem in str(caught.value)
    assert caught.value.position == position
    assert f"at position {position}" in str(caught.value)
