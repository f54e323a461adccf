"""Refusal features, held out: does anything beat the blend of dense score and coverage?

    .venv/bin/python bench/bench_refusal_features.py [--embedder minilm|hash] [--seeds 5]

Fetches every question's dense and sparse candidates once (the ask path's single batch request)
from the local hybrid index, for both labelled sets, then compares refusal rules offline. Every
rule ranks candidates as the product does (`ragfood.relevance.rank`, lexical weight --weight) and
refuses on a score of the best candidate's features:

- "blend": the product's relevance, (1 - w) * dense + w * coverage;
- "LR a+b+…": a logistic regression on those features (standardised, L2, answerable questions
  weighted by the targets' cost ratio 7.5), fitted on the training questions only.

Features of the best-ranked candidate: blend, dense (its dense score), coverage, dense_margin
(dense top1 - top2), agree (the dense and the sparse lists have the same top item), top3 (it is in
both top-3s), sparse_per_term (its BM25 score / the question's content words), blend_margin
(best - second relevance). Thresholds are chosen on the training questions as `ragfood eval
--calibrate` does (no training answerable question refused, middle of the gap). Figures: pooled
5-fold CV stratified by set and answerable (--seeds shuffles), and cross-set both ways.
This is a research bench (numpy); the product keeps plain-Python relevance.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence

import _common  # noqa: F401  (import paths)
import numpy as np
from bench_retrieval import SETS, fetch_candidates

from ragfood.relevance import RelevanceSettings, content_terms, merge_candidates, rank
from ragfood_cli import evaluate as ev

FEATURES = ("blend", "dense", "coverage", "dense_margin", "agree", "top3", "sparse_per_term",
            "blend_margin")  # fmt: skip
COST = 0.15 / 0.02  # a wrongly refused answerable question, in unanswerable ones let through
RULES: dict[str, tuple[str, ...]] = {
    "blend (the product)": ("blend",),
    "LR dense+coverage": ("dense", "coverage"),
    "LR blend+sparse_per_term": ("blend", "sparse_per_term"),
    "LR blend+agree": ("blend", "agree"),
    "LR blend+blend_margin": ("blend", "blend_margin"),
    "LR dense+coverage+dense_margin": ("dense", "coverage", "dense_margin"),
    "LR dense+coverage+top3": ("dense", "coverage", "top3"),
    "LR dense+coverage+agree+blend_margin": ("dense", "coverage", "agree", "blend_margin"),
}


def features(question: str, dense: Sequence, sparse: Sequence, weight: float) -> tuple[dict, list]:
    ranked = rank(merge_candidates(question, dense, sparse), RelevanceSettings(weight, 0.0))
    best, blend = ranked[0]
    d_ids, s_ids = [f.id for f in dense], [f.id for f in sparse]
    d_scores = [f.score for f in dense] + [0.0, 0.0]
    return {
        "blend": blend,
        "dense": best.dense,
        "coverage": best.coverage,
        "dense_margin": d_scores[0] - d_scores[1],
        "agree": float(bool(s_ids) and d_ids[:1] == s_ids[:1]),
        "top3": float(best.id in d_ids[:3] and best.id in s_ids[:3]),
        "sparse_per_term": next((f.score for f in sparse if f.id == best.id), 0.0)
        / max(1, len(content_terms(question))),
        "blend_margin": blend - (ranked[1][1] if len(ranked) > 1 else 0.0),
    }, [c.id for c, _ in ranked]


def fit(x: np.ndarray, answerable: np.ndarray, lam: float = 1.0) -> Callable:
    """Weighted L2 logistic regression by gradient descent; returns the decision function."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    weights = np.where(answerable, COST, 1.0)
    weights /= weights.mean()
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(3000):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        g = (p - answerable) * weights
        w -= 0.1 * (z.T @ g + lam * w) / len(g)
        b -= 0.1 * g.mean()
    return lambda xs: ((xs - mu) / sd) @ w + b


def threshold(scores: np.ndarray, answerable: np.ndarray) -> float:
    """No training answerable question refused; the middle of the gap below the lowest."""
    low = scores[answerable].min()
    below = scores[~answerable][scores[~answerable] < low]
    return (low + below.max()) / 2 if len(below) else low - 1e-6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedder", default="minilm", choices=["minilm", "hash"])
    parser.add_argument("--weight", type=float, default=0.40, help="Lexical weight of ranking.")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    fetched = fetch_candidates(args.embedder)
    rows = [features(q.question, dense, sparse, args.weight) for _, q, dense, sparse in fetched]
    sets = [name for name, _, _, _ in fetched]
    questions = [q for _, q, _, _ in fetched]
    x = np.array([[f[name] for name in FEATURES] for f, _ in rows])
    answerable = np.array([q.answerable for q in questions])
    position = np.array(
        [
            next((n for n, i in enumerate(ids, 1) if i in q.expected_ids), math.inf)
            for (_, ids), q in zip(rows, questions, strict=True)
        ]
    )
    group = np.array(sets)

    print(f"\nSeparation of answerable from unanswerable (AUC), lexical weight {args.weight}\n")
    print("feature".ljust(16) + "".join(name.rjust(16) for name in SETS))
    for j, feature in enumerate(FEATURES):
        aucs = []
        for name in SETS:
            a, u = x[(group == name) & answerable, j], x[(group == name) & ~answerable, j]
            aucs.append(np.mean((a[:, None] > u[None, :]) + 0.5 * (a[:, None] == u[None, :])))
        print(feature.ljust(16) + "".join(f"{auc:16.3f}" for auc in aucs))

    def run(cols: tuple[str, ...], train: np.ndarray, test: np.ndarray) -> np.ndarray:
        idx = [FEATURES.index(c) for c in cols]
        if cols == ("blend",):
            score: Callable = lambda xs: xs[:, 0]  # noqa: E731  (the product's rule, no fitting)
        else:
            score = fit(x[train][:, idx], answerable[train])
        t = threshold(score(x[train][:, idx]), answerable[train])
        passes = score(x[test][:, idx]) >= t
        a = answerable[test]
        return np.array([(a & passes & (position[test] <= 3)).sum(), a.sum(),
                         (~a & ~passes).sum(), (~a).sum(), (a & ~passes).sum()])  # fmt: skip

    def cell(c: np.ndarray) -> str:
        return (f"R@3 {c[0] / c[1]:.3f}  refused {c[2]}/{c[3]} ({c[2] / c[3]:.3f})  "
                f"wrongly {c[4]}/{c[1]} ({c[4] / c[1]:.3f})")  # fmt: skip

    everything = list(range(len(questions)))
    main_idx = np.flatnonzero(group == "questions.json")
    hold_idx = np.flatnonzero(group == "holdout")
    print(f"\nRefusal rules held out (pooled 5-fold CV x {args.seeds} shuffles; cross-set)\n")
    for rule, cols in RULES.items():
        total, per_seed = np.zeros(5, int), []
        for seed in range(args.seeds):
            seed_total = np.zeros(5, int)
            for test in ev.stratified_folds(questions, 5, seed, sets):
                train = np.array(sorted(set(everything) - set(test)))
                seed_total += run(cols, train, np.array(test))
            per_seed.append(f"{seed_total[2]}/{seed_total[4]}")
            total += seed_total
        print(f"{rule}\n  pooled CV      {cell(total)}  per shuffle refused/wrongly "
              f"{', '.join(per_seed)}")  # fmt: skip
        print(f"  main->holdout  {cell(run(cols, main_idx, hold_idx))}")
        print(f"  holdout->main  {cell(run(cols, hold_idx, main_idx))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
