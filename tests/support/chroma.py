"""Build real ChromaDB persistent directories for the migration tests and benchmark.

Embeddings are always computed here and passed explicitly, with `embedding_function=None`:
Chroma's default embedding function downloads a model at run time, which cannot work offline.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ragfood.foods import enrich

Embed = Callable[[Sequence[str]], list[list[float]]]

REGIONS = ["Japan", "Mexico", "India", "Peru", "Ghana", "Norway", "Vietnam", "Brazil"]
TYPES = ["soup", "dessert", "main dish", "bread", "snack", "drink", "salad", "street food"]
WORDS = [
    "rice",
    "beans",
    "pork",
    "beef",
    "chicken",
    "fish",
    "noodles",
    "cheese",
    "tomato",
    "chili",
    "garlic",
    "onion",
    "ginger",
    "lemon",
    "honey",
    "butter",
    "flour",
    "corn",
    "potato",
    "coconut",
    "yoghurt",
    "lamb",
    "mushroom",
    "pepper",
    "sesame",
    "vinegar",
]


def generated_documents(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Food documents as a Chroma app stores them: text, region/type and some extra metadata."""
    rng = random.Random(seed)
    documents = []
    for i in range(count):
        documents.append(
            {
                "id": f"dish-{i:03d}",
                "text": f"Dish {i} is made with {' '.join(rng.choices(WORDS, k=10))}.",
                "metadata": {
                    "region": rng.choice(REGIONS),
                    "type": rng.choice(TYPES),
                    "spicy": rng.random() < 0.5,
                    "rating": rng.randint(1, 5),
                    "origin": rng.choice(["family recipe", "street stall", "restaurant"]),
                },
            }
        )
    return documents


def hash_embed(dimension: int = 384) -> Embed:
    from ragfood_vector.embedders import HashEmbedder

    embedder = HashEmbedder(dimension)
    return lambda texts: embedder.embed(list(texts)).tolist()


def index_text(document: dict[str, Any]) -> str:
    """What the index embeds for a document: embedding the same makes Chroma a copy of it."""
    meta = document.get("metadata") or {}
    return enrich(document["text"], meta.get("region"), meta.get("type"))


def add_collection(
    client: Any,
    name: str,
    documents: Sequence[dict[str, Any]],
    embed: Embed,
    *,
    space: str = "cosine",
    with_documents: bool = True,
) -> Any:
    collection = client.create_collection(
        name, embedding_function=None, metadata={"hnsw:space": space}
    )
    if not documents:
        return collection
    texts = [index_text(d) if d["text"] else "empty" for d in documents]
    collection.add(
        ids=[d["id"] for d in documents],
        embeddings=embed(texts),
        documents=[d["text"] for d in documents] if with_documents else None,
        metadatas=[d.get("metadata") or None for d in documents],
    )
    return collection


def chroma_client(path: Path) -> Any:
    import chromadb
    from chromadb.config import Settings

    return chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))


def tree_digest(path: Path) -> dict[str, str]:
    """sha256 of every file under `path` (relative name -> digest)."""
    digests = {}
    for root, _, names in os.walk(path):
        for name in names:
            file = Path(root) / name
            digests[str(file.relative_to(path))] = hashlib.sha256(file.read_bytes()).hexdigest()
    return digests
