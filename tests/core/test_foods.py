"""Specification of foods.json parsing: what is accepted, what is rejected, and how it is said."""

from __future__ import annotations

import gzip
import json

import pytest

from ragfood import foods
from ragfood.errors import FoodFileError
from ragfood.foods import MAX_TEXT_BYTES, content_hash, enrich, parse_foods


def dump(items: object) -> bytes:
    return json.dumps(items).encode()


def test_valid_items_become_records_with_enriched_text():
    parsed = parse_foods(
        dump([{"id": "pho", "text": "A noodle soup.", "region": "Vietnam", "type": "soup"}])
    )
    (record,) = parsed.records
    assert record.enriched == (
        "A noodle soup. This food is popular in Vietnam. It is a type of soup."
    )
    assert parsed.rejects == []


def test_region_and_type_are_optional_and_left_out_of_the_enrichment():
    assert enrich("Bread.", None, None) == "Bread."
    assert enrich("Bread.", None, "bread") == "Bread. It is a type of bread."


def test_blank_region_counts_as_absent():
    (record,) = parse_foods(dump([{"id": "a", "text": "x", "region": "   "}])).records
    assert record.region is None


def test_item_missing_text_is_rejected_with_index_id_and_field():
    parsed = parse_foods(dump([{"id": "ok", "text": "fine"}, {"id": "bad"}]))
    assert [r.id for r in parsed.records] == ["ok"]
    (reject,) = parsed.rejects
    assert (reject.index, reject.id) == (1, "bad")
    assert "missing field 'text'" in reject.reason


def test_numeric_id_is_rejected_not_coerced():
    (reject,) = parse_foods(dump([{"id": 42, "text": "x"}])).rejects
    assert "field 'id' must be a non-empty string, got a number (42)" in reject.reason


def test_blank_id_and_blank_text_are_rejected():
    parsed = parse_foods(dump([{"id": " ", "text": "x"}, {"id": "a", "text": "  "}]))
    assert len(parsed.rejects) == 2 and parsed.records == []


def test_non_object_item_is_rejected():
    (reject,) = parse_foods(dump(["just a string"])).rejects
    assert reject.reason == "expected an object, got a string"


def test_duplicate_ids_are_reported_and_the_first_is_kept():
    parsed = parse_foods(dump([{"id": "a", "text": "one"}, {"id": "a", "text": "two"}]))
    assert [r.text for r in parsed.records] == ["one"]
    assert parsed.rejects[0].reason == "duplicate id (first seen at item 0)"


def test_unknown_scalar_fields_are_kept_as_metadata():
    (record,) = parse_foods(dump([{"id": "a", "text": "x", "spicy": True, "kcal": 250}])).records
    assert record.extra == {"spicy": True, "kcal": 250}
    assert record.metadata("s3://b/k")["kcal"] == 250


def test_nested_unknown_fields_are_dropped_with_a_warning():
    parsed = parse_foods(dump([{"id": "a", "text": "x", "tags": ["a"]}]))
    assert parsed.records[0].extra == {}
    assert "field 'tags' is an array" in parsed.warnings[0]


def test_unknown_fields_cannot_shadow_reserved_metadata():
    parsed = parse_foods(dump([{"id": "a", "text": "x", "hash": "forged"}]))
    assert parsed.records[0].metadata("src")["hash"] != "forged"
    assert "reserved" in parsed.warnings[0]


def test_metadata_carries_lowercased_filter_keys():
    (record,) = parse_foods(
        dump([{"id": "a", "text": "x", "region": "Thailand", "type": "Soup"}])
    ).records
    meta = record.metadata("src")
    assert (meta["region_key"], meta["type_key"]) == ("thailand", "soup")


def test_text_over_the_metadata_limit_is_rejected():
    (reject,) = parse_foods(dump([{"id": "big", "text": "a" * (MAX_TEXT_BYTES + 1)}])).rejects
    assert f"limit {MAX_TEXT_BYTES}" in reject.reason


def test_nan_in_an_item_rejects_only_that_item():
    parsed = parse_foods(b'[{"id": "a", "text": "x", "kcal": NaN}, {"id": "b", "text": "y"}]')
    assert [r.id for r in parsed.records] == ["b"]
    assert "NaN" in parsed.rejects[0].reason


def test_a_clean_upload_is_validated_in_one_call(monkeypatch):
    """The whole array goes through pydantic at once (half the per-item cost); items are checked
    one by one only when some are bad, to name what is wrong with each."""

    def one_by_one(item: object) -> object:
        raise AssertionError("validated item by item")

    monkeypatch.setattr(foods, "_validate_food_item", one_by_one)
    parsed = parse_foods(dump([{"id": "a", "text": "Pho.", "kcal": 350}, {"id": "b", "text": "N"}]))
    assert [r.id for r in parsed.records] == ["a", "b"]
    assert parsed.records[0].extra == {"kcal": 350}


def test_one_bad_item_leaves_the_others_as_a_clean_upload_would():
    good = [
        {"id": " a ", "text": " Pho. ", "region": "Vietnam", "kcal": 350, "tags": ["x"]},
        {"id": "b", "text": "Natto.", "type": " ", "region": None, "hash": "mine"},
    ]
    clean = parse_foods(dump(good))
    mixed = parse_foods(dump([good[0], {"id": 7, "text": "x"}, good[1]]))
    assert mixed.records == clean.records
    assert [(r.index, r.id) for r in mixed.rejects] == [(1, None)]
    assert [w.replace("item 2", "item 1") for w in mixed.warnings] == clean.warnings


def test_unstorable_values_reject_only_their_item():
    """1e999 reads as infinity, which JSON cannot carry (the write would fail on every retry);
    a lone surrogate cannot be written as UTF-8. The other items still go in."""
    parsed = parse_foods(
        b'[{"id": "a", "text": "x", "kcal": 1e999}, {"id": "b", "text": "y", "note": "\\udc00"},'
        b' {"id": "c", "text": "Caf\\u00e9.", "note": "caf\\u00e9", "kcal": -1.5e300}]'
    )
    assert [r.id for r in parsed.records] == ["c"]
    assert [(r.index, r.id) for r in parsed.rejects] == [(0, "a"), (1, "b")]
    assert "'kcal' is out of range" in parsed.rejects[0].reason
    assert "'note' is not valid Unicode" in parsed.rejects[1].reason


def test_utf8_bom_is_accepted():
    parsed = parse_foods(b"\xef\xbb\xbf" + dump([{"id": "a", "text": "x"}]))
    assert len(parsed.records) == 1


def test_content_hash_changes_with_text_and_extras_only():
    base = content_hash("text", {})
    assert base == content_hash("text", {})
    assert base != content_hash("text!", {})
    assert base != content_hash("text", {"kcal": 1})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "file is empty"),
        (b"   \n", "file is empty"),
        (b'{"id": "a"}', "expected a JSON array of food items, got an object"),
        (b'"text"', "got a string"),
        (b'[{"id": "a", "text": "x"}', "the file ends early"),
        (b'{"id": "a"}\n{"id": "b"}\n', "looks like JSON Lines"),
        (b"[1, 2,, 3]", "invalid JSON"),
        ('[{"id": "caf\u00e9"}]'.encode("latin-1"), "not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_unreadable_files_raise_one_clear_error(raw: bytes, expected: str):
    with pytest.raises(FoodFileError, match=expected) as info:
        parse_foods(raw, source="s3://bucket/foods.json")
    assert str(info.value).startswith("s3://bucket/foods.json: ")


def test_gzip_upload_is_named_as_such():
    with pytest.raises(FoodFileError, match="gzip"):
        parse_foods(gzip.compress(dump([])))


def test_file_over_the_size_limit_is_refused_before_parsing():
    with pytest.raises(FoodFileError, match="the limit is 10"):
        parse_foods(b"[" + b" " * 20 + b"]", max_bytes=10)


def test_fifty_thousand_items_parse_without_rejects():
    items = [{"id": f"id-{i}", "text": f"Food {i}", "region": "Italy"} for i in range(50_000)]
    parsed = parse_foods(dump(items))
    assert len(parsed.records) == 50_000 and not parsed.rejects
