"""Specification of how items are stored and owned: text as data, one owner (source) per item."""

from __future__ import annotations

import json

import httpx
from upstash_vector import Index

from ragfood.foods import enrich, parse_foods, recover_text
from ragfood.sync import remove_source, sync_foods
from ragfood.transport import StdlibTransport
from ragfood.vector import VectorGateway
from ragfood_vector.launcher import VectorServer
from tests.core.conftest import make_gateway


class RecordingTransport(StdlibTransport):
    """A real HTTP transport that keeps every answer's body, to see what crossed the wire."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.read()
        self.bodies.append(response.content)
        return response


def region_items(region: str, n: int, prefix: str) -> list[dict]:
    return [
        {"id": f"{prefix}-{i}", "text": f"A {region} dish number {i} made with care.",
         "region": region, "type": "main"}
        for i in range(n)
    ]  # fmt: skip


def upload(items: list[dict]) -> bytes:
    return json.dumps(items).encode()


def raw_index(server: VectorServer) -> Index:
    return Index(url=server.url, token=server.token)


def test_items_are_stored_as_enriched_data_without_text_in_metadata(
    vector_server: VectorServer, gateway: VectorGateway, fresh_namespace: str
):
    sync_foods(upload(region_items("Peru", 3, "pe")), gateway, namespace=fresh_namespace)
    (stored,) = raw_index(vector_server).fetch(
        ["pe-0"], include_metadata=True, include_data=True, namespace=fresh_namespace
    )
    assert (
        stored.data == "A Peru dish number 0 made with care. This food is popular in Peru. "
        "It is a type of main."
    )
    assert "text" not in stored.metadata
    assert stored.metadata["source"] == "foods.json" and stored.metadata["region_key"] == "peru"


def test_queries_recover_the_items_own_text(gateway: VectorGateway, fresh_namespace: str):
    items = [{"id": "odd", "text": "Ends like an enrichment. This food is popular in Peru.",
              "region": "Peru", "type": "It"}]  # fmt: skip
    sync_foods(upload(items), gateway, namespace=fresh_namespace)
    (hit,) = gateway.query("enrichment", namespace=fresh_namespace, top_k=1)
    assert hit.text == items[0]["text"]


def test_recover_text_is_the_exact_inverse_of_enrich():
    cases = [
        ("plain", None, None),
        ("x.", "Peru", None),
        ("x.", None, "soup"),
        ("It is a type of soup.", "Peru", "soup"),
        (" It is a type of x.", None, "x"),
    ]
    for text, region, type_ in cases:
        record = parse_foods(upload([{"id": "a", "text": text, "region": region, "type": type_}]))
        (rec,) = record.records
        assert (
            recover_text(enrich(rec.text, rec.region, rec.type), rec.region, rec.type) == rec.text
        )


def test_vectors_written_before_keep_their_metadata_text(
    vector_server: VectorServer, gateway: VectorGateway, fresh_namespace: str
):
    raw_index(vector_server).upsert(
        [("old", "Old style enriched text. This food is popular in Chile.",
          {"text": "Old style text.", "region": "Chile", "hash": "h", "source": "x"})],
        namespace=fresh_namespace,
    )  # fmt: skip
    (hit,) = gateway.query("old style", namespace=fresh_namespace, top_k=1)
    assert hit.text == "Old style text."


def test_reading_the_stored_hashes_transfers_no_item_text(
    vector_server: VectorServer, fresh_namespace: str
):
    items = region_items("Peru", 40, "pe")
    sync_foods(upload(items), make_gateway(vector_server), namespace=fresh_namespace)
    transport = RecordingTransport()
    gateway = make_gateway(vector_server, transport=transport)
    report = sync_foods(upload(items[:39]), gateway, namespace=fresh_namespace)  # lists (prunes 1)
    assert (report.unchanged, report.deleted) == (39, 1)
    received = b"".join(transport.bodies)
    assert b"made with care" not in received


def test_two_files_share_a_namespace_and_prune_only_their_own_items(
    gateway: VectorGateway, fresh_namespace: str
):
    asia, europe = region_items("Asia", 20, "as"), region_items("Europe", 20, "eu")
    sync_foods(upload(asia), gateway, namespace=fresh_namespace, source="asia.json")
    report = sync_foods(upload(europe), gateway, namespace=fresh_namespace, source="europe.json")
    assert (report.upserted, report.deleted, report.deletions_skipped) == (20, 0, None)
    assert len(gateway.stored_hashes(fresh_namespace)) == 40
    report = sync_foods(upload(asia[:17]), gateway, namespace=fresh_namespace, source="asia.json")
    assert (report.unchanged, report.deleted) == (17, 3)
    stored = gateway.stored_items(fresh_namespace)
    assert len(stored) == 37
    assert sum(item.source == "europe.json" for item in stored.values()) == 20


def test_an_id_already_owned_by_another_file_is_reported_and_kept(
    gateway: VectorGateway, fresh_namespace: str
):
    sync_foods(upload(region_items("Asia", 3, "x")), gateway, namespace=fresh_namespace,
               source="asia.json")  # fmt: skip
    clash = region_items("Europe", 3, "x")
    report = sync_foods(upload(clash), gateway, namespace=fresh_namespace, source="europe.json")
    assert report.status == "partial" and report.upserted == 0
    assert report.as_dict()["conflicts"][0] == {"id": "x-0", "owner": "asia.json"}
    (hit,) = gateway.query("dish", namespace=fresh_namespace, top_k=1)
    assert "Asia" in hit.text  # never silently overwritten


def test_items_written_before_sources_were_tracked_are_adopted(
    vector_server: VectorServer, gateway: VectorGateway, fresh_namespace: str
):
    items = region_items("Asia", 4, "as")
    records = parse_foods(upload(items)).records
    raw_index(vector_server).upsert(
        [(r.id, r.enriched, {"text": r.text, "hash": r.hash, "source": "data/old.json"})
         for r in records],
        namespace=fresh_namespace,
    )  # fmt: skip
    report = sync_foods(upload(items[:3]), gateway, namespace=fresh_namespace, source="asia.json")
    assert (report.adopted, report.conflicts) == (3, [])
    stored = gateway.stored_items(fresh_namespace)
    assert {i for i, s in stored.items() if s.source == "asia.json"} == {"as-0", "as-1", "as-2"}
    assert stored["as-3"].source == "data/old.json"  # nobody listed it: kept, not deleted


def test_removing_a_source_deletes_its_items_under_the_same_guard(
    gateway: VectorGateway, fresh_namespace: str
):
    sync_foods(upload(region_items("Asia", 6, "as")), gateway, namespace=fresh_namespace,
               source="asia.json")  # fmt: skip
    sync_foods(upload(region_items("Europe", 6, "eu")), gateway, namespace=fresh_namespace,
               source="europe.json")  # fmt: skip
    report = remove_source(gateway, namespace=fresh_namespace, source="europe.json")
    assert (report.status, report.deleted) == ("ok", 6)
    report = remove_source(gateway, namespace=fresh_namespace, source="asia.json")
    assert report.deleted == 0 and "6 of 6" in report.deletions_skipped  # the last file: guarded
    assert len(gateway.stored_hashes(fresh_namespace)) == 6
