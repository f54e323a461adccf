"""`ragfood migrate chroma`: a real ChromaDB directory migrated into the local vector service.

The collections are embedded here with the hash embedder over the same enriched text the index
embeds, so ChromaDB is an exact copy of the index and their rankings must agree.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from ragfood.foods import enrich, parse_foods
from ragfood.vector import VectorGateway
from ragfood_vector.launcher import VectorServer, free_port
from tests.cli.conftest import RAGFOOD
from tests.support.chroma import (
    add_collection,
    chroma_client,
    generated_documents,
    hash_embed,
    tree_digest,
)
from tests.support.env import ragfood_env
from tests.support.peer import serving
from tests.support.samples import PHO

DOCUMENTS = generated_documents(120)
LONG_TEXT = "word " * 8_200  # 41,000 bytes: over the 40,000-byte limit of uploads
# The foods.json a user would write for the "mixed" collection (what migration must amount to).
MIXED_AS_UPLOAD: list[dict[str, Any]] = [
    {
        "id": "good-1",
        "text": "Pho is a Vietnamese beef noodle soup.",
        "region": "Vietnam",
        "source": "menu.pdf",  # LangChain's Chroma integration stores one per document
    },
    {"id": "good-2", "text": "Mochi is a Japanese rice cake.", "type": "dessert", "text_len": 30},
    {"id": "empty-text", "text": "", "region": "Peru"},
    {"id": "too-long", "text": LONG_TEXT},
    {"id": "numeric-region", "text": "Injera is a sour flatbread.", "region": 5},
    # Over Upstash's 48 KB of metadata per vector, which refuses the whole write request with it.
    {"id": "huge-notes", "text": "Kimchi is fermented cabbage.", "notes": "spicy " * 10_000},
]


@pytest.fixture(scope="module")
def chroma_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("chroma") / "chroma_db"
    client = chroma_client(path)
    embed = hash_embed()
    add_collection(client, "foods", DOCUMENTS, embed)
    mixed = [
        {
            "id": item["id"],
            "text": item["text"],
            "metadata": {k: v for k, v in item.items() if k not in ("id", "text")},
        }
        for item in MIXED_AS_UPLOAD
    ]
    add_collection(client, "mixed", mixed, embed)
    add_collection(client, "vectors-only", DOCUMENTS[:5], embed, with_documents=False)
    add_collection(client, "empty", [], embed)
    client.close()
    yield path


@pytest.fixture(scope="module")
def digest_before(chroma_dir: Path) -> dict[str, str]:
    return tree_digest(chroma_dir)


@pytest.fixture
def migrate(ragfood, chroma_dir: Path, fresh_namespace: str):
    """migrate("--collection", "foods", ...) -> (Result, --json summary or None)."""

    def run(*args: str, path: Path | None = None) -> tuple[Any, dict[str, Any] | None]:
        result = ragfood(
            "migrate", "chroma", str(path or chroma_dir), "--namespace", fresh_namespace, *args
        )
        try:
            summary = json.loads(result.stdout) if "--json" in args else None
        except json.JSONDecodeError:
            summary = None
        return result, summary

    return run


def _store(path: Path, collection: str, documents: list[dict[str, Any]]) -> Path:
    """A ChromaDB directory at `path` with one collection, embedded as the index embeds."""
    client = chroma_client(path)
    add_collection(client, collection, documents, hash_embed())
    client.close()
    return path


def _stored(server: VectorServer, namespace: str) -> dict[str, Any]:
    index, found, cursor = server.index(), {}, ""
    while True:
        page = index.range(
            cursor=cursor, limit=1000, include_metadata=True, include_data=True, namespace=namespace
        )
        found.update({v.id: v for v in page.vectors})
        cursor = page.next_cursor
        if not cursor:
            return found


def test_a_collection_migrates_completely_and_a_second_run_writes_nothing(
    migrate, vector_server, fresh_namespace
):
    # --page-size 50: the 120 documents come in three pages
    result, summary = migrate("--collection", "foods", "--json", "--page-size", "50")
    assert result.exit_code == 0, result.output
    assert summary is not None
    assert (summary["items"], summary["upserted"], summary["rejected"]) == (120, 120, [])
    assert summary["source"] == "chroma:foods"
    assert summary["verification"] == {"checked": 120, "lost": [], "changed": []}

    stored = _stored(vector_server, fresh_namespace)
    assert set(stored) == {d["id"] for d in DOCUMENTS}
    for document in DOCUMENTS:
        vector, meta = stored[document["id"]], document["metadata"]
        assert vector.data == enrich(document["text"], meta["region"], meta["type"])
        assert vector.metadata["region"] == meta["region"]
        assert vector.metadata["type"] == meta["type"]
        for extra in ("spicy", "rating", "origin"):
            assert vector.metadata[extra] == meta[extra]
        assert vector.metadata["source"] == "chroma:foods"

    again, summary = migrate("--collection", "foods", "--json")
    assert again.exit_code == 0, again.output
    assert summary is not None
    assert (summary["upserted"], summary["unchanged"], summary["deleted"]) == (0, 120, 0)


def test_the_chroma_directory_is_never_modified(migrate, chroma_dir, digest_before):
    result, _ = migrate("--collection", "foods", "--compare-sample", "5")
    assert result.exit_code == 0, result.output
    result, _ = migrate("--collection", "mixed")
    assert tree_digest(chroma_dir) == digest_before


def test_dry_run_reports_the_plan_and_writes_nothing(migrate, vector_server, fresh_namespace):
    result, summary = migrate("--collection", "foods", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert summary is not None
    assert (summary["dry_run"], summary["would_upsert"], summary["upserted"]) == (True, 120, 0)
    assert _stored(vector_server, fresh_namespace) == {}

    result, _ = migrate("--collection", "foods")
    assert "would upsert" not in result.output
    result, summary = migrate("--collection", "foods", "--dry-run", "--json")
    assert summary is not None
    assert (summary["would_upsert"], summary["unchanged"]) == (0, 120)


def test_rejects_are_reported_as_for_an_upload_and_the_rest_migrates(
    migrate, vector_server, fresh_namespace
):
    result, summary = migrate("--collection", "mixed", "--json")
    assert result.exit_code == 2, result.output
    assert summary is not None
    upload = parse_foods(json.dumps(MIXED_AS_UPLOAD).encode(), "foods.json")

    def sized(reason: str) -> str:  # each migrated item also records its collection's id
        return re.sub(r"\d+ bytes of metadata", "N bytes of metadata", reason)

    expected = {(r.id, sized(r.reason)) for r in upload.rejects}
    assert {(r["id"], sized(r["reason"])) for r in summary["rejected"]} == expected
    assert {"empty-text", "too-long", "numeric-region", "huge-notes"} == {
        r["id"] for r in summary["rejected"]
    }
    assert set(_stored(vector_server, fresh_namespace)) == {"good-1", "good-2"}
    stored = _stored(vector_server, fresh_namespace)
    assert stored["good-2"].metadata["text_len"] == 30
    assert stored["good-1"].metadata["chroma_source"] == "menu.pdf"
    assert stored["good-1"].metadata["source"] == "chroma:mixed"
    assert (
        "metadata field 'source' (1 document) is reserved in the index; kept as 'chroma_source'"
        in summary["warnings"]
    )


def test_an_unknown_collection_lists_those_that_exist(migrate):
    result, _ = migrate("--collection", "recipes")
    assert result.exit_code == 1
    assert "no collection 'recipes'" in result.output
    assert "'empty', 'foods', 'mixed', 'vectors-only'" in result.output


def test_a_collection_without_documents_is_refused(migrate, vector_server, fresh_namespace):
    result, _ = migrate("--collection", "vectors-only")
    assert result.exit_code == 1
    assert "holds 5 embeddings but no documents" in result.output
    assert _stored(vector_server, fresh_namespace) == {}


def test_an_empty_collection_is_refused(migrate):
    result, _ = migrate("--collection", "empty")
    assert result.exit_code == 1 and "is empty" in result.output


def test_a_directory_that_is_not_chroma_says_so(migrate, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    result, _ = migrate("--collection", "foods", path=tmp_path)
    assert result.exit_code == 1
    assert "is not a ChromaDB persistent directory (no chroma.sqlite3" in result.output


def test_the_folder_above_a_chroma_directory_names_it(migrate, chroma_dir):
    result, _ = migrate("--collection", "foods", path=chroma_dir.parent)
    assert result.exit_code == 1
    assert "is not a ChromaDB persistent directory" in result.output
    flat = "".join(result.output.split())  # long paths wrap
    assert f"didyoumean{chroma_dir}?" in flat


def test_a_directory_from_before_chroma_0_4_says_how_to_convert_it(migrate, tmp_path):
    # chromadb < 0.4 persisted with duckdb+parquet: these files and an index/ directory
    for name in ("chroma-collections.parquet", "chroma-embeddings.parquet"):
        (tmp_path / name).write_bytes(b"PAR1")
    (tmp_path / "index").mkdir()
    result, _ = migrate("--collection", "foods", path=tmp_path)
    assert result.exit_code == 1
    assert "ChromaDB directory from before 0.4" in result.output
    assert "chroma-migrate" in result.output


def test_a_damaged_chroma_directory_says_so(migrate, tmp_path):
    (tmp_path / "chroma.sqlite3").write_bytes(b"not a database")
    result, _ = migrate("--collection", "foods", path=tmp_path)
    assert result.exit_code == 1
    assert f"cannot open {tmp_path} as a ChromaDB directory" in result.output
    assert "file is not a database" in result.output


def test_nothing_reaches_the_network(migrate, monkeypatch):
    """No telemetry, no model download (Chroma's default embedding function would fetch one)."""
    attempts: list[Any] = []
    local = ("127.0.0.1", "::1", "localhost")
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in local:
            attempts.append(address)
            raise OSError(f"test: no network ({address})")
        return connect(sock, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in local:
            attempts.append(host)
            raise socket.gaierror(f"test: no network ({host})")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    result, _ = migrate("--collection", "foods", "--compare-sample", "5", "--embed", "hash")
    assert result.exit_code == 0, result.output
    result, _ = migrate("--collection", "foods", "--compare-sample", "5")
    assert result.exit_code == 0, result.output
    assert attempts == []


def test_comparison_against_a_copy_agrees(migrate, tmp_path):
    questions = tmp_path / "questions.json"
    labelled = [
        {"question": d["text"].removeprefix(f"Dish {n} is made with "), "expected_ids": [d["id"]]}
        for n, d in enumerate(DOCUMENTS[:20])
    ]
    questions.write_text(json.dumps([*labelled, {"question": "zzzz", "expected_ids": []}]))
    result, summary = migrate(
        "--collection", "foods", "--compare", str(questions), "--embed", "hash", "--json"
    )
    assert result.exit_code == 0, result.output
    assert summary is not None
    comparison = summary["comparison"]
    assert (comparison["questions"], comparison["labelled"], comparison["k"]) == (21, 20, 5)
    # Both embed the same texts the same way: only ties and HNSW approximation may differ.
    assert comparison["overlap@5"] >= 0.9
    assert comparison["top1_agreement"] >= 0.9
    assert comparison["chroma_recall@5"] == comparison["index_recall@5"] >= 0.9
    assert comparison["index_ranking"] == "dense"

    # The ask path's ranking (dense blended with lexical coverage): what users get.
    args = ("--compare", str(questions), "--embed", "hash", "--index-ranking", "ask", "--json")
    result, summary = migrate("--collection", "foods", *args)
    assert result.exit_code == 0, result.output
    assert summary is not None
    assert summary["comparison"]["index_ranking"] == "ask"
    assert summary["comparison"]["index_recall@5"] >= 0.9


def test_comparison_table_on_a_sample_of_documents(migrate):
    result, _ = migrate("--collection", "foods", "--compare-sample", "8", "--embed", "hash")
    assert result.exit_code == 0, result.output
    assert "ChromaDB vs the index on 8 questions" in result.output
    assert "overlap@5" in result.output and "recall@1 (8 labelled)" in result.output


def test_comparison_with_the_wrong_embedding_function_says_so(migrate):
    result, _ = migrate("--collection", "foods", "--compare-sample", "3", "--embed", "hash:16")
    assert result.exit_code == 1
    assert "16-dimensional vectors but collection 'foods' holds 384-dimensional" in result.output


def test_compare_file_needs_an_embedding_function(migrate, tmp_path):
    questions = tmp_path / "questions.json"
    questions.write_text("[]")
    result, _ = migrate("--collection", "foods", "--compare", str(questions))
    assert result.exit_code == 1 and "--compare needs --embed" in result.output


def test_a_lost_item_exits_3_and_names_it(migrate, monkeypatch):
    upsert = VectorGateway.upsert

    def loses_one(self: VectorGateway, records: Any, **kwargs: Any) -> int:
        kept = [r for r in records if r.id != "dish-042"]
        return upsert(self, kept, **kwargs) + len(records) - len(kept)  # acknowledged, not stored

    monkeypatch.setattr(VectorGateway, "upsert", loses_one)
    result, summary = migrate("--collection", "foods", "--json", "--compare-sample", "3")
    assert result.exit_code == 3, result.output
    assert summary is not None
    assert summary["verification"]["lost"] == ["dish-042"]
    result, _ = migrate("--collection", "foods")
    assert result.exit_code == 3
    assert "LOST: 1 of 120 migrated items" in result.output and "dish-042" in result.output


def test_comparison_figures_by_hand():
    from ragfood_cli.compare import compare
    from ragfood_cli.evaluate import Question

    questions = [
        Question("a", ("x",)),  # both find x first: full agreement
        Question("b", ("y",)),  # only ChromaDB finds y
        Question("c", ()),  # unlabelled: counts for overlap only
    ]
    chroma = {"a": ["x", "p", "q"], "b": ["y", "p", "q"], "c": ["p", "q", "r"]}
    index = {"a": ["x", "p", "q"], "b": ["p", "z", "w"], "c": ["r", "s", "t"]}
    result = compare(
        questions, lambda qs: [chroma[q.question] for q in qs], index.__getitem__, k=3
    ).as_dict()
    assert result["overlap@3"] == round((1 + 1 / 3 + 1 / 3) / 3, 3)
    assert (result["chroma_recall@1"], result["index_recall@1"]) == (1.0, 0.5)
    assert (result["chroma_recall@3"], result["index_recall@3"]) == (1.0, 0.5)
    assert (result["only_chroma_found"], result["only_index_found"]) == (1, 0)
    assert result["top1_agreement"] == round(1 / 3, 3)
    assert [d["question"] for d in result["disagreements"]] == ["b", "c"]


def test_other_sources_are_left_alone_and_rollback_removes_only_the_migration(
    ragfood, migrate, vector_server, fresh_namespace, tmp_path
):
    upload = tmp_path / "kb.json"
    mine = {"id": "dish-001", "text": "Our own dish 1.", "region": "Peru"}
    upload.write_text(json.dumps([PHO, mine]))
    assert ragfood("ingest", str(upload), "--namespace", fresh_namespace).exit_code == 0

    result, summary = migrate("--collection", "foods", "--json")
    assert result.exit_code == 2, result.output  # dish-001 belongs to kb.json
    assert summary is not None
    assert summary["conflicts"] == [{"id": "dish-001", "owner": "kb.json"}]
    assert (
        "1 of 120 ids are already indexed by kb.json and were left alone: to migrate them too, "
        "migrate into a namespace of its own (--namespace)" in summary["warnings"]
    )
    assert (summary["upserted"], summary["verification"]["checked"]) == (119, 119)
    stored = _stored(vector_server, fresh_namespace)
    assert len(stored) == 121
    assert stored["dish-001"].metadata["source"] == "kb.json"
    assert stored["dish-001"].data == enrich(mine["text"], "Peru", None)

    rollback = ("migrate", "rollback", "--collection", "foods", "--namespace", fresh_namespace)
    result = ragfood(*rollback)
    assert result.exit_code == 2 and "deletions skipped" in result.output  # 119 of 121
    assert len(_stored(vector_server, fresh_namespace)) == 121
    result = ragfood(*rollback, "--allow-mass-delete", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["deleted"] == 119
    assert set(_stored(vector_server, fresh_namespace)) == {"pho", "dish-001"}


class _OllamaEmbed(BaseHTTPRequestHandler):
    """Ollama's /api/embed, answering with the hash embedder (the collection's function)."""

    embed = staticmethod(hash_embed())
    requests: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(body)
        if self.path != "/api/embed" or body.get("model") != "hash-model":
            payload, status = {"error": f"model {body.get('model')!r} not found"}, 404
        else:
            payload, status = {"model": body["model"], "embeddings": self.embed(body["input"])}, 200
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def ollama_url() -> Iterator[str]:
    with serving(_OllamaEmbed) as url:
        yield url


def test_comparison_embeds_questions_with_an_ollama_endpoint(migrate, ollama_url):
    result, summary = migrate(
        "--collection",
        "foods",
        "--compare-sample",
        "6",
        "--embed",
        f"ollama:{ollama_url}#hash-model",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert summary is not None
    assert summary["comparison"]["embedder"] == f"ollama:{ollama_url}#hash-model"
    assert summary["comparison"]["chroma_recall@1"] == 1.0
    assert _OllamaEmbed.requests[-1]["model"] == "hash-model"
    assert len(_OllamaEmbed.requests[-1]["input"]) == 6

    # Credentials in the endpoint's URL (basic auth of a proxy in front of it) never show.
    secret_url = ollama_url.replace("http://", "http://me:s3cret@")
    embed = f"ollama:{secret_url}#hash-model"
    result, summary = migrate("--collection", "foods", "--compare-sample", "2", "--embed", embed)
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    result, summary = migrate(
        "--collection", "foods", "--compare-sample", "2", "--embed", embed, "--json"
    )
    assert summary is not None and "s3cret" not in result.output
    assert summary["comparison"]["embedder"].startswith("ollama:http://***@127.0.0.1:")

    result, _ = migrate(
        "--collection", "foods", "--compare-sample", "2", "--embed", f"ollama:{ollama_url}#mxbai"
    )
    assert result.exit_code == 1
    assert "answered 404 for model 'mxbai'" in result.output


def test_the_cli_imports_chromadb_only_when_migrating():
    probe = (
        "import sys, ragfood_cli.main, ragfood_cli.migrate_cli; "
        "print(sorted(m for m in ('chromadb', 'ragfood_cli.chroma_source') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_verification_waits_until_the_index_has_indexed_the_writes():
    from ragfood.vector import IndexInfo
    from ragfood_cli.migrate import wait_until_indexed

    pending = [250, 40, 0]
    slept: list[float] = []

    class Indexing:  # Upstash reports pendingVectorCount while it indexes (local: always 0)
        def info(self) -> IndexInfo:
            return IndexInfo(0, 384, "COSINE", None, {"kb": 290}, {"kb": pending.pop(0)})

    assert wait_until_indexed(Indexing(), "kb", sleep=slept.append) == 0  # type: ignore[arg-type]
    assert slept == [1.0, 1.0]
    pending[:] = [9] * 5
    assert wait_until_indexed(Indexing(), "kb", timeout_s=3, sleep=slept.append) == 9  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "command",
    [
        ("chroma", "{path}", "--collection", "foods"),
        ("chroma", "{path}", "--collection", "foods", "--dry-run"),
        ("rollback", "--collection", "foods"),
    ],
    ids=["migrate", "dry-run", "rollback"],
)
def test_an_unreachable_index_fails_at_once(cli_env, chroma_dir, command):
    # Not after the sync's retry budget (600 s): the service is simply not there.
    env = {**cli_env, "UPSTASH_VECTOR_REST_URL": f"http://127.0.0.1:{free_port()}"}
    argv = [str(RAGFOOD), "migrate", *(a.format(path=chroma_dir) for a in command)]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=90)
    assert result.returncode == 1, result.stderr
    assert "cannot reach vector index at 127.0.0.1" in result.stderr
    assert "ragfood vector serve" in result.stderr and "Traceback" not in result.stderr


def test_rolling_back_a_collection_never_migrated_says_so(ragfood, fresh_namespace):
    result = ragfood("migrate", "rollback", "--collection", "fods", "--namespace", fresh_namespace)
    assert result.exit_code == 0  # nothing to undo is not a failure
    assert "nothing to roll back: no item of chroma:fods" in result.output


@pytest.mark.parametrize(
    "damage",
    ["DELETE FROM segments", "DROP TABLE embedding_metadata"],
    ids=["count-fails", "read-fails"],
)
def test_a_store_that_opens_but_cannot_be_read_says_so(cli_env, chroma_dir, tmp_path, damage):
    """A store copied while its app wrote to it opens, then chromadb fails reading it (seen with a
    live writer: "Failed to apply logs to the metadata segment"): a message, not a traceback."""
    import shutil
    import sqlite3

    damaged = tmp_path / "chroma_db"
    shutil.copytree(chroma_dir, damaged)
    with sqlite3.connect(damaged / "chroma.sqlite3") as db:
        db.execute(damage)
    db.close()
    argv = [str(RAGFOOD), "migrate", "chroma", str(damaged), "--collection", "foods"]
    result = subprocess.run(argv, env=cli_env, capture_output=True, text=True, timeout=90)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "cannot read collection 'foods'" in result.stderr
    assert "stop that app" in result.stderr


def test_ids_are_kept_exactly_even_with_surrounding_spaces(
    migrate, tmp_path, vector_server, fresh_namespace
):
    """Chroma ids are exact keys: "pho" and " pho " are two documents. An upload strips ids (a
    hand-written typo), which here stored " pho "'s document under the id "pho" and rejected the
    real "pho" as a duplicate."""
    documents = [
        {
            "id": " pho ",
            "text": "Injera is an Ethiopian flatbread.",
            "metadata": {"region": "Ethiopia"},
        },
        {
            "id": "pho",
            "text": "Pho is a Vietnamese noodle soup.",
            "metadata": {"region": "Vietnam"},
        },
        {
            "id": "tab\tid",
            "text": "Mochi is a Japanese rice cake.",
            "metadata": {"type": "dessert"},
        },
        {"id": "\u00fcn\u00efc\u00f8d\u00e9-\U0001f35c ", "text": "Ramen is a noodle soup."},
    ]
    path = _store(tmp_path / "chroma_db", "padded", documents)

    result, summary = migrate("--collection", "padded", "--json", path=path)
    assert result.exit_code == 0, result.output
    assert summary is not None
    assert (summary["upserted"], summary["rejected"]) == (4, [])
    assert summary["verification"] == {"checked": 4, "lost": [], "changed": []}
    stored = _stored(vector_server, fresh_namespace)
    assert set(stored) == {d["id"] for d in documents}
    for document in documents:
        assert stored[document["id"]].data.startswith(document["text"])

    result, summary = migrate(
        "--collection", "padded", "--compare-sample", "4", "--json", path=path
    )
    assert result.exit_code == 0, result.output
    assert summary is not None and summary["upserted"] == 0
    assert summary["comparison"]["chroma_recall@1"] == 1.0


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_an_interrupted_migration_stops_cleans_up_and_resumes(
    start_vector_server, chroma_dir, tmp_path, fresh_namespace, signal_name
):
    """Ctrl-C (or a SIGTERM) stops sending at once: it used to send every remaining batch first,
    and a SIGTERM left the private copy of the directory behind in TMPDIR (a SIGKILL still does:
    the next run removes it). Run again, it writes only what is missing and loses nothing."""
    server = start_vector_server(embedder="hash", latency_ms=400)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = ragfood_env(
        server, fresh_namespace, RAGFOOD_BATCH_SIZE="5", RAGFOOD_PARALLELISM="2", TMPDIR=str(tmpdir)
    )
    argv = [str(RAGFOOD), "migrate", "chroma", str(chroma_dir), "--collection", "foods", "--json"]
    index = server.index()

    def written() -> int:
        info = index.info().namespaces.get(fresh_namespace)
        return info.vector_count if info else 0

    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while written() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(getattr(signal, signal_name))
    _, stderr = process.communicate(timeout=60)
    time.sleep(1)  # a SIGKILL leaves requests in flight: let them land
    assert 0 < written() < 60  # 24 batches of 5, 2 at a time: it stopped after a few
    if signal_name == "SIGKILL":
        assert len(list(tmpdir.iterdir())) == 1  # nothing can clean up after a SIGKILL
    else:
        assert process.returncode == 130, stderr
        assert b"Traceback" not in stderr
        assert b"interrupted" in stderr and b"run the same command again" in stderr
        assert list(tmpdir.iterdir()) == []  # the private copy is gone

    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["upserted"] + summary["unchanged"] == 120
    assert summary["unchanged"] > 0  # what the first run wrote is not written (billed) again
    assert summary["verification"] == {"checked": 120, "lost": [], "changed": []}
    assert list(tmpdir.iterdir()) == []  # and no copy is left, a killed run's included


def test_a_migration_stopped_by_a_used_up_quota_reports_what_it_wrote(
    start_vector_server, chroma_dir, fresh_namespace
):
    """The report said "upserted": 0 while the batches sent before the quota ran out were in the
    index (owned by the migration): the figures must be what the index holds."""
    server = start_vector_server(embedder="hash", write_quota=3)
    env = ragfood_env(server, fresh_namespace, RAGFOOD_BATCH_SIZE="10", RAGFOOD_PARALLELISM="1")
    argv = [str(RAGFOOD), "migrate", "chroma", str(chroma_dir), "--collection", "foods", "--json"]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    stored = server.index().info().namespaces[fresh_namespace].vector_count
    assert summary["status"] == "failed" and stored == 30
    assert summary["upserted"] == stored
    assert "30 items were written before it stopped" in summary["error"]
    assert "ragfood migrate rollback" in summary["error"]


def test_records_without_a_document_are_rejected_in_chromadb_terms(migrate, tmp_path):
    documents = [
        {"id": "with-text", "text": "Pho is a Vietnamese noodle soup."},
        {"id": "vector-only", "text": None, "metadata": {"region": "Peru"}},
    ]
    path = _store(tmp_path / "chroma_db", "some-vectors", documents)
    result, summary = migrate("--collection", "some-vectors", "--json", path=path)
    assert result.exit_code == 2, result.output
    assert summary is not None and summary["upserted"] == 1
    assert summary["rejected"] == [
        {
            "index": 1,
            "id": "vector-only",
            "reason": "no document: ChromaDB kept only its embedding, so there is no text to index",
        }
    ]


def test_a_collection_of_the_same_name_from_another_directory_is_refused(
    migrate, tmp_path, vector_server, fresh_namespace
):
    """Two apps' directories with a collection of the same name (LangChain's default is
    "langchain"): the second migration took the first's items for its own, overwrote the ids
    both use and deleted the others. It is refused; the first's items stay as they were."""
    stores = {}
    for app, count in (("first", 5), ("second", 12)):
        documents = [
            {"id": f"{app}-{i}", "text": f"Dish {i} of the {app} app is made with rice."}
            for i in range(count)
        ] + [{"id": "shared", "text": f"The {app} app's own shared document."}]
        stores[app] = _store(tmp_path / app, "langchain", documents)

    result, summary = migrate("--collection", "langchain", "--json", path=stores["first"])
    assert result.exit_code == 0, result.output
    before = {k: v.data for k, v in _stored(vector_server, fresh_namespace).items()}
    assert len(before) == 6

    for args in (("--json",), ("--dry-run", "--json"), ("--allow-mass-delete",)):
        result, summary = migrate("--collection", "langchain", *args, path=stores["second"])
        assert result.exit_code == 1, result.output
        assert "already holds items migrated from another ChromaDB collection named" in (
            result.output
        )
        assert "--namespace" in result.output and "ragfood migrate rollback" in result.output
        after = {k: v.data for k, v in _stored(vector_server, fresh_namespace).items()}
        assert after == before

    # The same directory again is the same collection: a re-run, not a stranger.
    result, summary = migrate("--collection", "langchain", "--json", path=stores["first"])
    assert result.exit_code == 0, result.output
    assert summary is not None and summary["unchanged"] == 6


def test_a_collection_whose_every_id_another_source_owns_writes_nothing_and_says_so(
    ragfood, migrate, vector_server, fresh_namespace, tmp_path
):
    # The usual first try: the Chroma app was built from the foods.json already ingested here.
    upload = tmp_path / "foods.json"
    upload.write_text(json.dumps([{"id": d["id"], "text": d["text"]} for d in DOCUMENTS]))
    assert ragfood("ingest", str(upload), "--namespace", fresh_namespace).exit_code == 0
    before = {k: v.metadata for k, v in _stored(vector_server, fresh_namespace).items()}

    result, _ = migrate("--collection", "foods")
    assert result.exit_code == 2, result.output
    assert "120 of 120 ids are already indexed by foods.json" in result.output
    assert "nothing migrated (see above), so nothing to read back" in result.output
    assert "verified" not in result.output
    assert {k: v.metadata for k, v in _stored(vector_server, fresh_namespace).items()} == before


@pytest.mark.parametrize("namespace", ["#kb", "kb?v=2", "kb/2026"])
def test_a_namespace_the_index_url_cannot_carry_is_refused(
    ragfood, chroma_dir, vector_server, namespace
):
    """The namespace ends the REST path (/upsert-data/<namespace>): '#kb' wrote into the default
    namespace and 'kb?v=2' into 'kb', and read back from there too, so all looked verified."""
    index = vector_server.index()
    before = index.info().namespaces
    argv = ("migrate", "chroma", str(chroma_dir), "--collection", "foods")
    result = ragfood(*argv, "--namespace", namespace)
    assert result.exit_code == 1, result.output
    assert f"namespace {namespace!r} cannot be used" in result.output
    result = ragfood(*argv, env={"RAGFOOD_NAMESPACE": namespace})
    assert result.exit_code == 1, result.output
    assert "RAGFOOD_NAMESPACE" in result.output and "cannot be used" in result.output
    assert index.info().namespaces == before
