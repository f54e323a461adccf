"""Specification of sync planning: what an upload writes, keeps and deletes."""

from __future__ import annotations

import json

from ragfood.foods import parse_foods
from ragfood.sync import plan_sync


def records(*ids: str, text: str = "text"):
    return parse_foods(json.dumps([{"id": i, "text": f"{text} {i}"} for i in ids]).encode()).records


def test_new_items_are_upserted():
    plan = plan_sync(records("a", "b"), {})
    assert [r.id for r in plan.to_upsert] == ["a", "b"] and plan.unchanged == 0


def test_unchanged_items_are_not_upserted_again():
    recs = records("a", "b")
    plan = plan_sync(recs, {r.id: r.hash for r in recs})
    assert plan.to_upsert == [] and plan.unchanged == 2


def test_changed_items_are_upserted():
    old = {r.id: r.hash for r in records("a", "b")}
    plan = plan_sync(records("a", "b", text="new"), old)
    assert len(plan.to_upsert) == 2


def test_vectors_without_a_hash_are_rewritten():
    plan = plan_sync(records("a"), {"a": None})
    assert len(plan.to_upsert) == 1


def test_items_missing_from_a_clean_file_are_deleted():
    recs = records("a", "b", "c")
    stored = {r.id: r.hash for r in recs}
    plan = plan_sync(recs[:2], stored)
    assert plan.to_delete == ["c"] and plan.deletions_skipped is None


def test_nothing_is_deleted_when_some_items_were_rejected():
    recs = records("a", "b", "c")
    plan = plan_sync(recs[:2], {r.id: r.hash for r in recs}, rejected=1)
    assert plan.to_delete == []
    assert "1 items were rejected" in plan.deletions_skipped


def test_deleting_more_than_the_allowed_share_is_refused():
    recs = records("a", "b", "c", "d")
    plan = plan_sync(recs[:1], {r.id: r.hash for r in recs}, max_delete_fraction=0.5)
    assert plan.to_delete == []
    assert "3 of 4" in plan.deletions_skipped


def test_an_empty_file_never_wipes_the_index():
    recs = records("a", "b")
    assert plan_sync([], {r.id: r.hash for r in recs}).to_delete == []


def test_mass_delete_can_be_explicitly_allowed():
    recs = records("a", "b", "c", "d")
    plan = plan_sync(recs[:1], {r.id: r.hash for r in recs}, allow_mass_delete=True)
    assert plan.to_delete == ["b", "c", "d"]
