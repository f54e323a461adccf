"""The straightforward client people write for this job, kept as the baseline we compare against.

Ingest: sequential upserts of 100 items with the plain SDK, as migration guides do — no diffing,
so every run re-upserts (and re-embeds, and pays for) everything.
Ask: a new client per question, an `info()` check, then the query, then the generation.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from upstash_vector import Index
from upstash_vector.types import Data


def naive_ingest(url: str, token: str, items: list[dict[str, Any]], namespace: str) -> int:
    index = Index(url=url, token=token)
    for start in range(0, len(items), 100):
        batch = items[start : start + 100]
        index.upsert(
            [
                Data(
                    id=item["id"],
                    data=f"{item['text']} This food is popular in {item.get('region')}. "
                    f"It is a type of {item.get('type')}.",
                    metadata={"text": item["text"], "region": item.get("region")},
                )
                for item in batch
            ],
            namespace=namespace,
        )
    return len(items)


def naive_ask(url: str, token: str, generator_url: str, question: str, namespace: str) -> str:
    index = Index(url=url, token=token)
    index.info()  # "make sure the index is there"
    results = index.query(data=question, top_k=3, include_metadata=True, namespace=namespace)
    context = "\n".join(r.metadata["text"] for r in results if r.metadata)
    response = httpx.post(
        f"{generator_url}/api/chat",
        json={
            "model": "llama3.2",
            "stream": False,
            "messages": [{"role": "user", "content": f"[1] {context}\n\nQuestion: {question}"}],
        },
        timeout=30,
    )
    return json.loads(response.text)["message"]["content"]
