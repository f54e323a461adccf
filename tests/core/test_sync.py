"""Specification of syncing an upload into a namespace, end to end through the local service."""

from __future__ import annotations

import json

from ragfood.sync import sync_foods
from ragfood.vector import VectorGateway
from ragfood_vector.launcher import VectorServer
from tests.core.conftest import CountingTransport, make_gateway


def upload(items: list[dict]) -> bytes:
    return json.dumps(items).encode()


def foods(n: int, text: str = "dish") -> list[dict]:
    return [{"id": f"item-{i}", "text": f"{text} number {i}", "region": "Peru"} for i in range(n)]


def test_first_upload_upserts_everything(gateway: VectorGateway, fresh_namespace: str):
    report = sync_foods(upload(foods(20)), gateway, namespace=fresh_namespace)
    assert (report.status, report.items, report.upserted, report.unchanged) == ("ok", 20, 20, 0)


def test_unchanged_reupload_upserts_nothing(vector_server: VectorServer, fresh_namespace: str):
    sync_foods(upload(foods(20)), make_gateway(vector_server), namespace=fresh_namespace)
    transport = CountingTransport()
    gateway = make_gateway(vector_server, transport=transport)
    report = sync_foods(upload(foods(20)), gateway, namespace=fresh_namespace)
    assert (report.upserted, report.unchanged, report.deleted) == (0, 20, 0)
    # The namespace's size (info), then the file's ids fetched: they are all there is, so no
    # listing and no writes at all.
    assert transport.count == 2


def test_changed_and_removed_items_are_updated_and_pruned(
    gateway: VectorGateway, fresh_namespace: str
):
    sync_foods(upload(foods(10)), gateway, namespace=fresh_namespace)
    second = foods(9)
    second[0]["text"] = "a completely new description"
    report = sync_foods(upload(second), gateway, namespace=fresh_namespace)
    assert (report.upserted, report.unchanged, report.deleted) == (1, 8, 1)
    stored = gateway.stored_hashes(fresh_namespace)
    assert "item-9" not in stored and len(stored) == 9
    assert gateway.query("completely new description", namespace=fresh_namespace)[0].id == "item-0"


def test_broken_file_changes_nothing(gateway: VectorGateway, fresh_namespace: str):
    sync_foods(upload(foods(5)), gateway, namespace=fresh_namespace)
    before = gateway.stored_hashes(fresh_namespace)
    report = sync_foods(b'[{"id": "item-0", "text": "trunc', gateway, namespace=fresh_namespace)
    assert report.status == "rejected" and "ends early" in report.error
    assert gateway.stored_hashes(fresh_namespace) == before


def test_valid_items_of_a_partly_broken_file_are_still_ingested(
    gateway: VectorGateway, fresh_namespace: str
):
    sync_foods(upload(foods(4)), gateway, namespace=fresh_namespace)
    items = [*foods(3), {"id": "new", "text": "fresh item"}, {"id": "bad"}]
    report = sync_foods(upload(items), gateway, namespace=fresh_namespace)
    assert report.status == "partial"
    assert report.upserted == 1 and [r.index for r in report.rejected] == [4]
    assert report.deleted == 0 and "rejected" in report.deletions_skipped
    assert set(gateway.stored_hashes(fresh_namespace)) == {f"item-{i}" for i in range(4)} | {"new"}


def test_an_upload_that_would_wipe_most_of_the_index_deletes_nothing(
    gateway: VectorGateway, fresh_namespace: str
):
    sync_foods(upload(foods(10)), gateway, namespace=fresh_namespace)
    report = sync_foods(upload(foods(2)), gateway, namespace=fresh_namespace)
    assert report.deleted == 0 and "8 of 10" in report.deletions_skipped
    assert len(gateway.stored_hashes(fresh_namespace)) == 10


def test_report_serialises_rejects_with_index_id_and_reason(
    gateway: VectorGateway, fresh_namespace: str
):
    report = sync_foods(upload([{"id": 7, "text": "x"}]), gateway, namespace=fresh_namespace)
    (reject,) = report.as_dict()["rejected"]
    assert reject["index"] == 0 and reject["id"] is None and "'id'" in reject["reason"]
    json.dumps(report.as_dict())  # machine-readable as a whole


def test_progress_is_reported_per_stage(gateway: VectorGateway, fresh_namespace: str):
    seen: list[tuple[str, int, int]] = []
    sync_foods(
        upload(foods(30)),
        gateway,
        namespace=fresh_namespace,
        progress=lambda stage, done, total: seen.append((stage, done, total)),
    )
    assert ("upsert", 30, 30) in seen and seen[0] == ("upsert", 0, 30)


def test_ten_thousand_unchanged_items_upsert_nothing(
    vector_server: VectorServer, fresh_namespace: str
):
    gateway = make_gateway(vector_server, batch_size=1000)
    raw = upload(foods(10_000))
    assert sync_foods(raw, gateway, namespace=fresh_namespace).upserted == 10_000
    again = sync_foods(raw, gateway, namespace=fresh_namespace)
    assert (again.upserted, again.unchanged, again.deleted) == (0, 10_000, 0)
