"""Neighbourhood-relative dense evidence and more coverage variants, held out, against the
product's rule.

    .venv/bin/python bench/bench_relative_evidence.py [--embedder minilm|hash] [--seeds 5]
        [--skip-hubness]

The same machinery as bench/bench_coverage_variants.py: every question's dense and sparse
candidates fetched once (the ask path's single batch request) from the local hybrid index, then
each variant scored offline with the product's calibration (`ragfood_cli.evaluate.choose`), pooled
5-fold CV stratified by set and answerable (--seeds shuffles) and each set from the other two.
Variants that shift the dense score get a threshold grid reaching below 0 (the shift moves every
score; the grid's step is the product's). A variant is worth shipping only if it refuses more
unanswerable questions held out without refusing more answerable ones, pooled and on every set.

Variants (each changes one thing):
- "dense - s(list)": hubness on the question's side (CSLS-style): each candidate's dense score
  minus b times a statistic of the question's own dense list (its mean, its lowest, its second
  best), or the best's z-score within that list: a question close to everything (a generic one)
  gets less credit for being close to its best item;
- "dense - b r_item" / "CSLS": hubness on the item's side: r_item is the mean dense score of the
  item's 10 nearest other items (queried once per item here; the product would compute it at
  ingest and store it in metadata, no request on the ask path); "CSLS" subtracts half of both;
- "enrichment-only x l": a question word the item has only in its enrichment sentence ("This food
  is popular in X. It is a type of Y.") counts l of its weight;
- "joint top3 / all g": coverage minus g times what the union of the top 3 dense candidates (or
  of all candidates) covers beyond it: a question whose words are spread over several items is a
  near miss;
- "shrink c": coverage with c never-covered pseudo-words of the question's mean weight, so that a
  question of two or three content words needs more than word overlap;
- "prefix n": a question stem also matches a document stem that starts with it or that it starts
  with, both at least n letters ("thai" - "thailand", "japanes" - "japan");
- "sparse-only - d": a candidate only the sparse side found gets the dense list's lowest score
  minus d (the product: the lowest score, an upper bound on its own).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
from collections.abc import Callable

import _common  # noqa: F401  (import paths)
from bench_coverage_variants import Fetched, Transform, print_held_out, product
from bench_retrieval import SETS, fetch_candidates, indexed_sets
from upstash_vector import Index
from upstash_vector.types import QueryMode

from ragfood.enrichment import enrich
from ragfood.relevance import Candidate, content_terms, coverage, question_terms, term_weights
from ragfood_cli import evaluate as ev

# The product's threshold step, reaching below 0 for variants that shift dense scores.
WIDE = tuple(round(-0.6 + 0.0025 * i, 4) for i in range(int(1.6 / 0.0025) + 1))
NEIGHBOURS = 10


def documents(row: Fetched) -> dict[str, frozenset[str]]:
    """Every candidate's content stems, by id (dense list first, as `merge_candidates`)."""
    out: dict[str, frozenset[str]] = {}
    for found in [*row[2], *row[3]]:
        out.setdefault(found.id, content_terms(found.document))
    return out


def second(scores: list[float]) -> float:
    return sorted(scores, reverse=True)[min(1, len(scores) - 1)]


def dense_minus(share: float, statistic: Callable[[list[float]], float]) -> Transform:
    def transform(row: Fetched) -> list[Candidate]:
        scores = [f.score for f in row[2]]
        shift = share * statistic(scores) if scores else 0.0
        return [c._replace(dense=c.dense - shift) for c in product(row)]

    return transform


def dense_z(scale: float) -> Transform:
    def transform(row: Fetched) -> list[Candidate]:
        scores = [f.score for f in row[2]] or [0.0]
        mean, spread = statistics.mean(scores), statistics.pstdev(scores) or 1e-3
        return [c._replace(dense=0.7 + scale * (c.dense - mean) / spread) for c in product(row)]

    return transform


def item_hubness(r_item: dict[tuple[str, str], float], item: float, question: float) -> Transform:
    def transform(row: Fetched) -> list[Candidate]:
        scores = [f.score for f in row[2]]
        r_question = statistics.mean(scores) if scores else 0.0
        return [
            c._replace(dense=c.dense - item * r_item[(row[0], c.id)] - question * r_question)
            for c in product(row)
        ]

    return transform


def enrichment_only(share: float) -> Transform:
    def transform(row: Fetched) -> list[Candidate]:
        docs = documents(row)
        own = {f.id: content_terms(f.text) for f in [*row[2], *row[3]]}
        weights = term_weights(question_terms(row[1].question), list(docs.values()))
        total = sum(weights.values())
        out = []
        for c in product(row):
            found = [(t, w) for t, w in weights.items() if t in docs[c.id]]
            covered = sum(w if t in own[c.id] else share * w for t, w in found)
            out.append(c._replace(coverage=covered / total) if total > 0 else c)
        return out

    return transform


def joint(gamma: float, top: int | None) -> Transform:
    def transform(row: Fetched) -> list[Candidate]:
        docs = documents(row)
        weights = term_weights(question_terms(row[1].question), list(docs.values()))
        ids = [f.id for f in row[2]][:top] if top else list(docs)
        union = frozenset().union(*(docs[i] for i in ids))
        out = []
        for c in product(row):
            beyond = coverage(weights, docs[c.id] | union) - c.coverage
            out.append(c._replace(coverage=max(0.0, c.coverage - gamma * beyond)))
        return out

    return transform


def shrink(pseudo_words: float) -> Transform:
    def transform(row: Fetched) -> list[Candidate]:
        docs = documents(row)
        weights = term_weights(question_terms(row[1].question), list(docs.values()))
        total = sum(weights.values())
        if total <= 0:
            return product(row)
        factor = total / (total + pseudo_words * total / len(weights))
        return [c._replace(coverage=c.coverage * factor) for c in product(row)]

    return transform


def prefix(letters: int) -> Transform:
    def matched(words: frozenset[str], doc: frozenset[str]) -> frozenset[str]:
        related = {
            t
            for t in words - doc
            for d in doc
            if min(len(t), len(d)) >= letters and (d.startswith(t) or t.startswith(d))
        }
        return doc | related

    def transform(row: Fetched) -> list[Candidate]:
        words = question_terms(row[1].question)
        docs = {i: matched(words, d) for i, d in documents(row).items()}
        weights = term_weights(words, list(docs.values()))
        return [c._replace(coverage=coverage(weights, docs[c.id])) for c in product(row)]

    return transform


def sparse_only(drop: float) -> Transform:
    def transform(row: Fetched) -> list[Candidate]:
        return [c if c.dense_known else c._replace(dense=c.dense - drop) for c in product(row)]

    return transform


def item_neighbourhoods(embedder: str) -> dict[tuple[str, str], float]:
    """Per (set, item id): the mean dense score of the item's nearest other items, queried with
    its enriched text (DENSE mode) in a fresh local index."""
    out = {}
    with indexed_sets(embedder) as (server, _):
        index = Index(url=server.url, token=server.token, retries=0, allow_telemetry=False)
        for name, (foods, _, namespace) in SETS.items():
            for item in json.loads(foods.read_text(encoding="utf-8")):
                text = enrich(item["text"], item.get("region"), item.get("type"))
                results = index.query(
                    data=text, top_k=NEIGHBOURS + 1, namespace=namespace, query_mode=QueryMode.DENSE
                )
                scores = [r.score for r in results if r.id != item["id"]][:NEIGHBOURS]
                out[(name, item["id"])] = statistics.mean(scores)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedder", default="minilm", choices=["minilm", "hash"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--skip-hubness", action="store_true", help="no item-side hubness")
    args = parser.parse_args()
    rows: list[Fetched] = fetch_candidates(args.embedder)
    choose, wide = ev.choose, functools.partial(ev.choose, min_scores=WIDE)
    variants: dict[str, tuple[Transform, Callable]] = {
        "the product": (product, choose),
        "dense - mean(list)": (dense_minus(1.0, statistics.mean), wide),
        "dense - 0.5 mean(list)": (dense_minus(0.5, statistics.mean), wide),
        "dense - min(list)": (dense_minus(1.0, min), wide),
        "dense - 0.5 min(list)": (dense_minus(0.5, min), wide),
        "dense - second(list)": (dense_minus(1.0, second), wide),
        "dense z-score x 0.03": (dense_z(0.03), wide),
    }
    if not args.skip_hubness:
        r_item = item_neighbourhoods(args.embedder)
        variants |= {
            "dense - 0.5 r_item": (item_hubness(r_item, 0.5, 0.0), wide),
            "dense - r_item": (item_hubness(r_item, 1.0, 0.0), wide),
            "CSLS (dense - 0.5 r_item - 0.5 mean(list))": (item_hubness(r_item, 0.5, 0.5), wide),
        }
    variants |= {
        "enrichment-only x 0.5": (enrichment_only(0.5), choose),
        "enrichment-only x 0": (enrichment_only(0.0), choose),
        "joint top3 g 0.5": (joint(0.5, 3), choose),
        "joint top3 g 1": (joint(1.0, 3), choose),
        "joint all g 0.5": (joint(0.5, None), choose),
        "shrink 0.5": (shrink(0.5), choose),
        "shrink 1": (shrink(1.0), choose),
        "shrink 1.5": (shrink(1.5), choose),
        "prefix 4": (prefix(4), choose),
        "prefix 5": (prefix(5), choose),
        "sparse-only - 0.02": (sparse_only(0.02), choose),
        "sparse-only - 0.05": (sparse_only(0.05), choose),
    }
    print_held_out(rows, variants, args.seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
