"""Variants of lexical coverage and of its calibration, held out, against the product's rule.

    .venv/bin/python bench/bench_coverage_variants.py [--embedder minilm|hash] [--seeds 5]

Fetches every question's dense and sparse candidates once (the ask path's single batch request)
from the local hybrid index (MiniLM + BM25 by default), for the three labelled sets, then scores
each variant offline with the product's calibration (`ragfood_cli.evaluate.choose`: lexical weight
by inner cross-validation, min score with at most 1 % of training answerable questions refused).
Figures: pooled 5-fold CV stratified by set and answerable (--seeds shuffles), and each set
scored with the settings chosen on the other two. A variant is worth shipping only if it refuses
more unanswerable questions held out without refusing more answerable ones.

Variants (each changes one thing; written from what gets through, so only held-out figures count):
- "phrase mix b": coverage = (1 - b) * coverage + b * the share of the question's adjacent
  content-word pairs that are adjacent in the item ("Scotch egg" against "scotch bonnet ...
  scrambled eggs");
- "split pairs g": coverage minus g * the share of those pairs whose two words the item has, but
  never within 3 words of each other;
- "corpus IDF": each question word weighted by its rarity in the whole knowledge base (document
  frequencies over the enriched items: what the BM25 side knows) instead of among the candidates;
- "max false refusal f": the calibration may refuse f of the training answerable questions
  (the product: 0.01);
- "weights to 0.8": the lexical weight grid extended past the product's 0.6.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import _common  # noqa: F401  (import paths)
from bench_retrieval import SETS, fetch_candidates

from ragfood import relevance
from ragfood.enrichment import enrich
from ragfood.relevance import Candidate, Found, merge_candidates
from ragfood_cli import evaluate as ev

Fetched = tuple[str, ev.Question, list[Found], list[Found]]  # set, question, dense, sparse
Transform = Callable[[Fetched], list[Candidate]]
FRAMING = relevance.content_terms(relevance._FRAMING_WORDS)


def stems(text: str) -> list[str]:
    """A text's content stems in order (the tokenisation coverage uses)."""
    folded = relevance._fold(text)
    words = [w for w in relevance._WORD.findall(folded) if w not in relevance.STOP_WORDS]
    return relevance._stemmer.english.stemWords(words)


def question_pairs(question: str) -> set[tuple[str, str]]:
    terms = [t for t in stems(question) if t not in FRAMING]
    return {(a, b) for a, b in itertools.pairwise(terms) if a != b}


def near_pairs(terms: list[str], window: int) -> set[tuple[str, str]]:
    return {
        pair
        for i, a in enumerate(terms)
        for b in terms[i + 1 : i + 1 + window]
        for pair in ((a, b), (b, a))
    }


def product(row: Fetched) -> list[Candidate]:
    _, question, dense, sparse = row
    return merge_candidates(question.question, dense, sparse)


def with_stems(row: Fetched) -> Iterator[tuple[Candidate, list[str]]]:
    """The product's candidates, each with its document's stems in order."""
    documents = {f.id: f.document for f in [*row[2], *row[3]]}
    for candidate in product(row):
        yield candidate, stems(documents[candidate.id])


def phrase_mix(share: float) -> Transform:
    def transform(row: Fetched) -> list[Candidate]:
        pairs = question_pairs(row[1].question)
        out = []
        for c, terms in with_stems(row):
            found = near_pairs(terms, 1)
            phrase = sum(p in found for p in pairs) / len(pairs) if pairs else c.coverage
            out.append(c._replace(coverage=(1 - share) * c.coverage + share * phrase))
        return out

    return transform


def split_pairs(penalty: float) -> Transform:
    def transform(row: Fetched) -> list[Candidate]:
        pairs = question_pairs(row[1].question)
        out = []
        for c, terms in with_stems(row):
            near, present = near_pairs(terms, 3), set(terms)
            split = [p for p in pairs if p[0] in present and p[1] in present and p not in near]
            cut = penalty * len(split) / len(pairs) if pairs else 0.0
            out.append(c._replace(coverage=max(0.0, c.coverage - cut)))
        return out

    return transform


def corpus_idf(frequencies: dict[str, tuple[int, dict[str, int]]]) -> Transform:
    def transform(row: Fetched) -> list[Candidate]:
        size, df = frequencies[row[0]]

        def weights(words: frozenset[str], documents: Sequence[frozenset[str]]) -> dict:
            w = {t: math.log((size + 1) / (df.get(t, 0) + 0.5)) for t in words}
            least = relevance.WEIGHT_FLOOR * max(w.values(), default=0.0)
            return {t: max(v, least) for t, v in w.items()}

        original, relevance.term_weights = relevance.term_weights, weights
        try:
            return product(row)
        finally:
            relevance.term_weights = original

    return transform


def document_frequencies() -> dict[str, tuple[int, dict[str, int]]]:
    out = {}
    for name, (foods, _, _) in SETS.items():
        items = json.loads(Path(foods).read_text(encoding="utf-8"))
        df: dict[str, int] = {}
        for item in items:
            text = enrich(item["text"], item.get("region"), item.get("type"))
            for term in relevance.content_terms(text):
                df[term] = df.get(term, 0) + 1
        out[name] = (len(items), df)
    return out


def held_out(rows: list[Fetched], transform: Transform, choose: Callable, seeds: int) -> list[str]:
    groups = [r[0] for r in rows]
    observations = [ev.Observation(r[1], tuple(transform(r))) for r in rows]
    total = ev.EvalResult(min_score=math.nan)
    for seed in range(seeds):
        for test in ev.stratified_folds([o.question for o in observations], 5, seed, groups):
            held = set(test)
            setting = choose([o for i, o in enumerate(observations) if i not in held])
            ev._accumulate(total, ev.evaluate([observations[i] for i in test], setting))
    lines = [f"  pooled CV x{seeds:<3} {cell(total)}"]
    for name in SETS:
        train = [o for o, g in zip(observations, groups, strict=True) if g != name]
        test = [o for o, g in zip(observations, groups, strict=True) if g == name]
        setting = choose(train)
        lines.append(
            f"  others -> {name:<15} {cell(ev.evaluate(test, setting))}"
            f"  (w {setting.lexical_weight:.2f}, min {setting.min_score:.4f})"
        )
    return lines


def cell(result: ev.EvalResult) -> str:
    return (
        f"R@3 {result.recall(3):.3f}  refused {result.refused_correctly}/{result.unanswerable}"
        f" ({result.refusal_rate:.3f})  wrongly {result.refused_wrongly}/{result.answerable}"
        f" ({result.false_refusal_rate:.3f})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedder", default="minilm", choices=["minilm", "hash"])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    rows: list[Fetched] = fetch_candidates(args.embedder)
    choose = ev.choose
    variants: dict[str, tuple[Transform, Callable]] = {
        "the product": (product, choose),
        "phrase mix 0.2": (phrase_mix(0.2), choose),
        "phrase mix 0.4": (phrase_mix(0.4), choose),
        "split pairs 0.3": (split_pairs(0.3), choose),
        "split pairs 0.6": (split_pairs(0.6), choose),
        "corpus IDF": (corpus_idf(document_frequencies()), choose),
        "max false refusal 0.015": (product, functools.partial(choose, max_false_refusal=0.015)),
        "max false refusal 0.02": (product, functools.partial(choose, max_false_refusal=0.02)),
        "weights to 0.8": (
            product,
            functools.partial(choose, weights=tuple(round(0.05 * i, 2) for i in range(17))),
        ),
    }
    print_held_out(rows, variants, args.seeds)
    return 0


def print_held_out(
    rows: list[Fetched], variants: dict[str, tuple[Transform, Callable]], seeds: int
) -> None:
    print(f"\nHeld out, {len(rows)} questions over {len(SETS)} sets\n")
    for label, (transform, chooser) in variants.items():
        print(label)
        print("\n".join(held_out(rows, transform, chooser, seeds)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
