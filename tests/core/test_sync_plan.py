"""Specification of sync planning: what an upload writes, keeps, deletes and reports."""

from __future__ import annotations

import json

from ragfood.foods import parse_foods
from ragfood.sync import Conflict, plan_sync
from ragfood.vector import StoredItem

MINE = "asia.json"


def records(*ids: str, text: str = "text"):
    return parse_foods(json.dumps([{"id": i, "text": f"{text} {i}"} for i in ids]).encode()).records


def owned(recs, source: str = MINE) -> dict[str, StoredItem]:
    return {r.id: StoredItem(r.hash, source) for r in recs}


def test_new_items_are_upserted():
    plan = plan_sync(records("a", "b"), {}, source=MINE)
    assert [r.id for r in plan.to_upsert] == ["a", "b"] and plan.unchanged == 0


def test_unchanged_items_are_not_upserted_again():
    recs = records("a", "b")
    plan = plan_sync(recs, owned(recs), source=MINE)
    assert plan.to_upsert == [] and plan.unchanged == 2


def test_changed_items_are_upserted():
    plan = plan_sync(records("a", "b", text="new"), owned(records("a", "b")), source=MINE)
    assert len(plan.to_upsert) == 2


def test_vectors_without_a_hash_are_adopted_and_rewritten():
    plan = plan_sync(records("a"), {"a": StoredItem.from_metadata({})}, source=MINE)
    assert len(plan.to_upsert) == 1 and plan.adopted == 1


def test_items_missing_from_a_clean_file_are_deleted():
    recs = records("a", "b", "c")
    plan = plan_sync(recs[:2], owned(recs), source=MINE)
    assert plan.to_delete == ["c"] and plan.deletions_skipped is None


def test_items_of_other_files_are_never_deleted():
    mine, theirs = records("a", "b", "c"), records("x", "y", "z")
    stored = {**owned(mine), **owned(theirs, "europe.json")}
    plan = plan_sync(mine[:2], stored, source=MINE)
    assert plan.to_delete == ["c"]


def test_an_id_owned_by_another_file_is_reported_not_overwritten():
    theirs = records("pho")
    plan = plan_sync(records("pho", text="other"), owned(theirs, "europe.json"), source=MINE)
    assert plan.to_upsert == []
    assert plan.conflicts == [Conflict("pho", "europe.json")]


def test_legacy_items_are_adopted_by_the_first_file_that_lists_them():
    recs = records("a", "b")
    legacy = {
        r.id: StoredItem.from_metadata({"text": "t", "hash": r.hash, "source": "data/foods.json"})
        for r in recs
    }
    plan = plan_sync(recs[:1], legacy, source=MINE)
    assert [r.id for r in plan.to_upsert] == ["a"] and plan.adopted == 1
    assert plan.to_delete == [] and plan.conflicts == []  # "b" is nobody's to delete yet


def test_legacy_items_of_the_same_source_stay_unchanged_and_owned():
    recs = records("a", "b", "c")
    legacy = {
        r.id: StoredItem.from_metadata({"text": "t", "hash": r.hash, "source": MINE}) for r in recs
    }
    plan = plan_sync(recs[:2], legacy, source=MINE)
    assert plan.to_upsert == [] and plan.unchanged == 2 and plan.to_delete == ["c"]


def test_nothing_is_deleted_when_some_items_were_rejected():
    recs = records("a", "b", "c")
    plan = plan_sync(recs[:2], owned(recs), source=MINE, rejected=1)
    assert plan.to_delete == []
    assert "1 items were rejected" in plan.deletions_skipped


def test_deleting_more_than_the_allowed_share_of_the_namespace_is_refused():
    recs = records("a", "b", "c", "d")
    plan = plan_sync(recs[:1], owned(recs), source=MINE, max_delete_fraction=0.5)
    assert plan.to_delete == []
    assert "3 of 4" in plan.deletions_skipped


def test_the_guard_counts_the_whole_namespace_not_only_this_file():
    recs = records("a", "b", "c", "d")
    plan = plan_sync(recs[:1], owned(recs), source=MINE, namespace_size=100)
    assert plan.to_delete == ["b", "c", "d"]


def test_an_empty_file_never_wipes_its_items():
    recs = records("a", "b")
    plan = plan_sync([], owned(recs), source=MINE, namespace_size=100)
    assert plan.to_delete == [] and "delete the object" in plan.deletions_skipped


def test_mass_delete_can_be_explicitly_allowed():
    recs = records("a", "b", "c", "d")
    plan = plan_sync(recs[:1], owned(recs), source=MINE, allow_mass_delete=True)
    assert plan.to_delete == ["b", "c", "d"]
