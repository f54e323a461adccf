"""Retrieval quality, held out: dense, the server's RRF and DBSF fusion, and ours.

    .venv/bin/python bench/bench_retrieval.py [--embedder minilm|hash] [--skip-serve]
        [--seeds 5] [--max-false-refusal 0.01]

Starts the local vector service as `ragfood vector serve` runs by default (hybrid: MiniLM dense +
BM25), ingests data/foods.json and every held-out set's foods (data/eval/holdout*/foods.json: the
SETS below) into their own namespaces, and fetches every question's results once per method.
Then, for each method (its own score, and a min score chosen by the same calibration as `ragfood
eval --calibrate`):

- data/eval/questions.json: 5-fold cross-validation; every figure is on questions the setting
  was not chosen on;
- every holdout set: the setting chosen on ALL of questions.json, applied once.

Then, for the product's rule ("ours"), the figures the shipped defaults are judged by:

- all sets pooled, 5-fold cross-validation stratified by set and by answerable, repeated over
  --seeds shuffles (one row per shuffle: how stable the held-out figures are);
- each set scored with the setting chosen on the other sets;
- the setting chosen on all sets pooled: what the shipped defaults (RAGFOOD_LEXICAL_WEIGHT,
  RAGFOOD_MIN_SCORE in shared/ragfood/config.py) are chosen by; and the shipped defaults scored on
  each set (held out only on sets added after they were chosen).

Methods: "dense" (queryMode DENSE, normalised cosine), "rrf" / "dbsf" (one HYBRID query fused by
the server; refusal on the fused score), "ours" (the product: dense + sparse candidates in one
batch, ranked and refused by dense score blended with lexical coverage; its lexical weight and min
score chosen by the calibration).

Last, unless --skip-serve: the product as users get it, through `ragfood serve` (HTTP POST /ask,
no generator, top_k 3) with the DEFAULT settings, on every set: recall@3 counts an answer whose
sources include an expected id, "refused" an answer with no sources.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import _common  # noqa: F401  (import paths)
import httpx
from pydantic import SecretStr
from upstash_vector import Index
from upstash_vector.types import FusionAlgorithm, QueryMode

from ragfood import config
from ragfood.relevance import Candidate, Found, RelevanceSettings
from ragfood.retrieval import Retriever
from ragfood.retry import RetryPolicy
from ragfood.sync import sync_foods
from ragfood.vector import VectorGateway, make_client
from ragfood_cli import evaluate as ev
from ragfood_vector.launcher import VectorServer
from tests.support.serve import ragfood_serve

REPO = Path(__file__).resolve().parents[1]
HOLDOUTS = ("holdout", "holdout2", "holdout3", "holdout4")
SETS = {
    "questions.json": (REPO / "data" / "foods.json", REPO / "data/eval/questions.json", "main"),
    **{
        name: (
            REPO / f"data/eval/{name}/foods.json",
            REPO / f"data/eval/{name}/questions.json",
            name,
        )
        for name in HOLDOUTS
    },
}
DEPTH = 10


def local_gateway(server: VectorServer) -> VectorGateway:
    """The layer's gateway on the local service, retrying as a loaded machine needs."""
    return VectorGateway(
        server.url, SecretStr(server.token), make_client(RetryPolicy(4, 0.1, 1.0), 60.0)
    )


@contextmanager
def indexed_sets(embedder: str) -> Iterator[tuple[VectorServer, VectorGateway]]:
    """A fresh local hybrid index holding every labelled set's foods, each in its namespace."""
    with (
        tempfile.TemporaryDirectory(prefix="ragfood-bench-sets-") as data_dir,
        VectorServer(
            embedder=embedder, sparse="bm25", data_dir=data_dir, startup_timeout=180
        ) as server,
    ):
        gateway = local_gateway(server)
        for foods, _, namespace in SETS.values():
            sync_foods(foods.read_bytes(), gateway, namespace=namespace, source=foods.name)
        yield server, gateway


def fetch_candidates(embedder: str) -> list[tuple[str, ev.Question, list[Found], list[Found]]]:
    """Every labelled question's dense and sparse candidates, as the ask path's single batch
    request returns them, from a fresh local hybrid index: (set, question, dense, sparse)."""
    rows = []
    with indexed_sets(embedder) as (_, gateway):
        for name, (_, questions_path, namespace) in SETS.items():
            for q in ev.load_questions(questions_path):
                dense, sparse = gateway.find(
                    q.question, namespace=namespace, hybrid=True, depth=DEPTH
                )
                rows.append((name, q, dense, sparse))
    return rows


def score_only(
    index: Index, namespace: str, mode: QueryMode, fusion: FusionAlgorithm | None = None
) -> Callable[[str], list[Candidate]]:
    """A server-ranked method: candidates carry the server's score; no lexical evidence."""

    def fetch(question: str) -> list[Candidate]:
        results = index.query(
            data=question,
            top_k=DEPTH,
            include_metadata=False,
            namespace=namespace,
            query_mode=mode,
            fusion_algorithm=fusion,
        )
        return [Candidate(r.id, float(r.score), 0.0, "", None, None) for r in results]

    return fetch


def threshold_grid(observations: Sequence[ev.Observation]) -> tuple[float, ...]:
    """Midpoints between the best scores (fused scores are not on a 0..1 scale)."""
    tops = sorted({max((c.dense for c in o.candidates), default=0.0) for o in observations})
    mids = [(a + b) / 2 for a, b in itertools.pairwise(tops)]
    return (tops[0] - 1e-6, *mids, tops[-1] + 1e-6)


def row(method: str, data_set: str, result: ev.EvalResult, setting: str) -> list[str]:
    return [
        method,
        data_set,
        *(f"{result.recall(k):.3f}" for k in ev.KS),
        f"{result.mrr:.3f}",
        f"{result.refusal_rate:.3f} ({result.refused_correctly}/{result.unanswerable})",
        f"{result.false_refusal_rate:.3f} ({result.refused_wrongly}/{result.answerable})",
        setting,
    ]


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(r, widths, strict=True)))


def serve_measure(server: VectorServer, questions_path: Path, namespace: str) -> ev.EvalResult:
    """POST /ask to `ragfood serve` (defaults, no generator, top_k 3) for every question."""
    env = {
        **os.environ,
        **server.client_env(),
        "RAGFOOD_NAMESPACE": namespace,
        "GENERATOR_URL": "",
        "RAGFOOD_CACHE_SIZE": "0",
    }
    for name in ("RAGFOOD_MIN_SCORE", "RAGFOOD_LEXICAL_WEIGHT", "RAGFOOD_RETRIEVAL"):
        env.pop(name, None)  # the defaults, as a user gets them
    with ragfood_serve(env) as url:
        result = ev.EvalResult(min_score=float("nan"))
        for q in ev.load_questions(questions_path):
            body = httpx.post(
                f"{url}/ask", json={"question": q.question, "top_k": 3}, timeout=60
            ).json()
            ids = [source["id"] for source in body["sources"]]
            if not q.answerable:
                result.unanswerable += 1
                result.refused_correctly += not ids
                continue
            result.answerable += 1
            result.refused_wrongly += not ids
            position = next((n for n, i in enumerate(ids, 1) if i in q.expected_ids), None)
            for k in ev.KS:
                result.hits_at[k] += position is not None and position <= k
            result.reciprocal_rank_sum += 1 / position if position else 0.0
        return result


def print_robustness(
    observed: dict[str, dict[str, list[ev.Observation]]], seeds: int, max_false_refusal: float
) -> None:
    """The product's rule held out on every set: pooled CV per shuffle, then leave one set out."""

    def choose(observations: Sequence[ev.Observation]) -> RelevanceSettings:
        return ev.choose(observations, max_false_refusal=max_false_refusal)

    sets = {name: methods["ours"] for name, methods in observed.items()}
    pooled = [obs for observations in sets.values() for obs in observations]
    groups = [name for name, observations in sets.items() for _ in observations]
    header = ["evaluation", "set", "R@1", "R@3", "R@5", "MRR", "refused", "wrongly refused",
              "setting chosen (per fold / once)"]  # fmt: skip
    rows, total = [], ev.EvalResult(min_score=float("nan"))
    for seed in range(seeds):
        cv = ev.calibrate(pooled, k=5, seed=seed, groups=groups, choose_fn=choose)
        ev._accumulate(total, cv.held_out)
        chosen = ", ".join(f"{f['lexical_weight']:.2f}/{f['min_score']:.4g}" for f in cv.folds)
        rows.append(row(f"pooled 5-fold CV, seed {seed}", "all", cv.held_out, chosen))
    rows.append(row(f"pooled 5-fold CV, {seeds} seeds", "all", total, "all folds above"))
    for name, test in sets.items():
        train = [
            obs for other, observations in sets.items() if other != name for obs in observations
        ]
        setting, result = ev.transfer(train, test, choose)
        chosen = f"w {setting.lexical_weight:.2f}, min {setting.min_score:.4g}"
        rows.append(row("chosen on the other sets", name, result, chosen))
    chosen_all = choose(pooled)
    defaults = RelevanceSettings(config.LEXICAL_WEIGHT, config.MIN_SCORE)
    for label, setting in (("shipped defaults", defaults), ("chosen on all sets", chosen_all)):
        for name, observations in sets.items():
            shown = f"w {setting.lexical_weight:.2f}, min {setting.min_score:.4g}"
            rows.append(row(label, name, ev.evaluate(observations, setting), shown))
    print("\nThe product's rule held out on every labelled set (blend of dense + coverage)\n")
    print_table(header, rows)
    print(
        f"\nChosen on all sets pooled (what the shipped defaults are chosen by): "
        f"RAGFOOD_LEXICAL_WEIGHT={chosen_all.lexical_weight} "
        f"RAGFOOD_MIN_SCORE={chosen_all.min_score}; shipped: "
        f"{defaults.lexical_weight} / {defaults.min_score}. The last two blocks are in-sample "
        f"except on sets added after the defaults were chosen."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedder", default="minilm", choices=["minilm", "hash"])
    parser.add_argument("--skip-serve", action="store_true")
    parser.add_argument("--seeds", type=int, default=5, help="Shuffles of the pooled CV.")
    parser.add_argument(
        "--max-false-refusal",
        type=float,
        default=ev.MAX_FALSE_REFUSAL,
        help="Share of training answerable questions the calibration may refuse (product: 0.01).",
    )
    args = parser.parse_args()
    with indexed_sets(args.embedder) as (server, gateway):
        index = Index(url=server.url, token=server.token, retries=0, allow_telemetry=False)
        observed: dict[str, dict[str, list[ev.Observation]]] = {}
        for name, (_, questions_path, namespace) in SETS.items():
            questions = ev.load_questions(questions_path)
            retriever = Retriever(gateway, RelevanceSettings(0.0, 0.0), mode="hybrid")
            methods = {
                "dense": score_only(index, namespace, QueryMode.DENSE),
                "rrf": score_only(index, namespace, QueryMode.HYBRID, FusionAlgorithm.RRF),
                "dbsf": score_only(index, namespace, QueryMode.HYBRID, FusionAlgorithm.DBSF),
                "ours": lambda q, r=retriever, ns=namespace: r.candidates(q, namespace=ns),
            }
            observed[name] = {m: ev.observe(questions, fetch) for m, fetch in methods.items()}

        header = ["method", "set", "R@1", "R@3", "R@5", "MRR", "refused", "wrongly refused",
                  "setting (chosen on questions.json)"]  # fmt: skip
        rows = []
        for method in ("dense", "rrf", "dbsf", "ours"):
            train = observed["questions.json"][method]
            if method == "ours":
                choose: Callable[[Sequence[ev.Observation]], RelevanceSettings] = ev.choose
            else:
                grid = threshold_grid(train)

                def choose(obs, grid=grid):
                    return ev.choose_threshold(obs, 0.0, grid)

            cv = ev.calibrate(train, k=5, seed=0, choose_fn=choose)
            per_fold = ", ".join(f"{f['min_score']:.4g}" for f in cv.folds)
            rows.append(row(method, "questions.json (5-fold CV)", cv.held_out, per_fold))
            setting = f"w {cv.chosen.lexical_weight:.2f}, min {cv.chosen.min_score:.4g}"
            for name in HOLDOUTS:
                held = ev.evaluate(observed[name][method], cv.chosen)
                rows.append(row(method, f"{name} (never tuned on)", held, setting))
        print(f"\nHeld-out retrieval ({args.embedder} + BM25 hybrid index, top_k up to 5)\n")
        print_table(header, rows)
        print_robustness(observed, args.seeds, args.max_false_refusal)

        if not args.skip_serve:
            print("\nThrough `ragfood serve` (defaults, no generator, top_k 3)\n")
            serve_rows = []
            for name, (_, questions_path, namespace) in SETS.items():
                result = serve_measure(server, questions_path, namespace)
                serve_rows.append(row("default", name, result, "defaults"))
            print_table(header, serve_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
