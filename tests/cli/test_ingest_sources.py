"""Several files in one namespace through `ragfood ingest`: each file owns its items."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from upstash_vector import Index

from ragfood_vector.launcher import VectorServer


def dishes(region: str, prefix: str, n: int = 60) -> list[dict]:
    return [
        {"id": f"{prefix}-{i}", "text": f"Dish {i} from {region}, slow cooked.", "region": region}
        for i in range(n)
    ]


def write(directory: Path, name: str, items: list[dict]) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(items))
    return path


def stored(server: VectorServer, namespace: str) -> dict[str, dict]:
    index = Index(url=server.url, token=server.token)
    vectors, cursor = {}, ""
    while True:
        page = index.range(cursor=cursor, limit=1000, include_metadata=True, namespace=namespace)
        vectors.update({v.id: v.metadata for v in page.vectors})
        if not (cursor := page.next_cursor):
            return vectors


def test_asia_then_europe_then_a_smaller_asia(ragfood, tmp_path, vector_server, fresh_namespace):
    asia, europe = dishes("Asia", "asia"), dishes("Europe", "eu")
    assert ragfood("ingest", str(write(tmp_path / "a", "asia.json", asia))).exit_code == 0
    assert ragfood("ingest", str(write(tmp_path / "b", "europe.json", europe))).exit_code == 0
    assert len(stored(vector_server, fresh_namespace)) == 120
    europe_before = {
        k: v for k, v in stored(vector_server, fresh_namespace).items() if k[:2] == "eu"
    }

    # The new asia.json lives elsewhere on disk: its name, not its path, is its source.
    result = ragfood("ingest", str(write(tmp_path / "c", "asia.json", asia[5:])), "--json")
    report = json.loads(result.stdout)
    assert (report["deleted"], report["unchanged"], report["upserted"]) == (5, 55, 0)
    after = stored(vector_server, fresh_namespace)
    assert len(after) == 115
    assert {k: v for k, v in after.items() if k[:2] == "eu"} == europe_before
    assert {m["source"] for m in after.values()} == {"asia.json", "europe.json"}


def test_source_option_names_the_owner(ragfood, tmp_path, vector_server, fresh_namespace):
    path = write(tmp_path, "export-2026.json", dishes("Asia", "asia", 3))
    assert ragfood("ingest", str(path), "--source", "asia.json").exit_code == 0
    assert {m["source"] for m in stored(vector_server, fresh_namespace).values()} == {"asia.json"}


def test_an_id_owned_by_another_file_is_a_conflict_exit_2(ragfood, tmp_path):
    ragfood("ingest", str(write(tmp_path / "a", "asia.json", dishes("Asia", "x", 2))))
    result = ragfood("ingest", str(write(tmp_path / "b", "europe.json", dishes("Europe", "x", 2))))
    assert result.exit_code == 2
    assert "conflict" in result.output and "'x-0' is owned by asia.json" in result.output


def test_take_over_hands_items_to_another_owner(ragfood, tmp_path, vector_server, fresh_namespace):
    path = write(tmp_path, "foods.json", dishes("Asia", "x", 3))
    ragfood("ingest", str(path))
    owner = "s3://ragfood-kb/uploads/foods.json"
    assert ragfood("ingest", str(path), "--source", owner).exit_code == 2  # conflicts
    result = ragfood("ingest", str(path), "--source", owner, "--take-over", "--json")
    assert json.loads(result.stdout)["adopted"] == 3
    assert {m["source"] for m in stored(vector_server, fresh_namespace).values()} == {owner}


def test_a_used_up_quota_exits_1_saying_so(ragfood, tmp_path, start_vector_server):
    used_up = start_vector_server(embedder="hash", write_quota=0)
    result = ragfood("ingest", str(write(tmp_path, "asia.json", dishes("Asia", "q", 3))),
                     env=used_up.client_env())  # fmt: skip
    assert result.exit_code == 1
    assert "failed" in result.output and "used up a quota" in result.output


@pytest.mark.parametrize("namespace", ["#acme", "acme?x=1", "acme/eu", "..", "acme ", " ", " a"])
def test_an_unusable_namespace_is_refused_before_anything_is_written(
    ragfood, tmp_path, vector_server, namespace
):
    # Sent as a path segment, "#acme" would write into the default namespace, over items other
    # files own there (the sync saw an empty "#acme"), and "acme?x=1" into "acme". "acme " is a
    # namespace of its own: a stray space would put the items where no ask looks for them.
    index = Index(url=vector_server.url, token=vector_server.token)
    before = index.info().namespaces
    result = ragfood(
        "ingest", str(write(tmp_path, "x.json", dishes("Asia", "ns", 2))), "--namespace", namespace
    )
    assert result.exit_code == 1
    assert f"namespace {namespace!r} cannot be used" in result.output
    assert index.info().namespaces == before  # nothing written anywhere
