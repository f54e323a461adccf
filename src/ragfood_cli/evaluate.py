"""Retrieval evaluation and calibration over a labelled question set (`ragfood eval`).

Each question lists the ids that answer it (none for questions the data cannot answer). For each
question we fetch the candidates ONCE (the same single vector request the ask path makes), then
score any relevance setting offline with the pure functions below:

- `evaluate`: recall@k (a relevant item among the first k sources actually returned, so a refused
  answerable question is a miss), MRR, unanswerable questions refused, answerable ones wrongly
  refused;
- `calibrate`: stratified k-fold cross-validation. In each fold the setting (lexical weight, min
  score) is chosen on the other folds only and scored on the held-out one; the figures printed are
  pooled over the held-out folds. The setting to deploy is then chosen the same way on all
  questions: the held-out figures estimate how that procedure does on questions it has not seen.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ragfood.relevance import Candidate, RelevanceSettings, rank
from ragfood.vector import VectorGateway, check_namespace
from ragfood_cli.question_file import Question, QuestionFile, read_questions

KS = (1, 3, 5)

# The settings calibration chooses from. Lexical weight 0 is plain dense retrieval.
WEIGHTS = tuple(round(w, 2) for w in np.arange(0.0, 0.61, 0.05))
MIN_SCORES = tuple(round(t, 4) for t in np.arange(0.40, 1.0001, 0.0025))
# Answerable questions a setting may refuse on its training folds: half the 2 % target, so that
# held-out questions unlike the training ones keep a margin. With zero (no training question
# refused) the threshold sits below the oddest answerable question and about 30 % of unanswerable
# ones got through held out; with 1 %, 15 %, for about the same share of answerable ones refused
# (docs/performance.md, Retrieval).
MAX_FALSE_REFUSAL = 0.01
# Folds of the inner cross-validation that chooses the lexical weight.
INNER_FOLDS = 5
# What refusing an answerable question costs, in unanswerable questions let through: the ratio of
# the targets (at most 15 % of unanswerable questions answered, at most 2 % of answerable ones
# refused). Without it a few more refusals on a small labelled set outweigh refused users.
FALSE_REFUSAL_COST = 0.15 / 0.02


@dataclass(frozen=True)
class Observation:
    """A question and every candidate retrieval found for it (unranked)."""

    question: Question
    candidates: tuple[Candidate, ...]


@dataclass
class EvalResult:
    min_score: float
    lexical_weight: float = 0.0
    answerable: int = 0
    unanswerable: int = 0
    hits_at: dict[int, int] = field(default_factory=lambda: {k: 0 for k in KS})
    reciprocal_rank_sum: float = 0.0
    refused_correctly: int = 0
    refused_wrongly: int = 0
    by_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    misses: list[dict[str, Any]] = field(default_factory=list)

    def recall(self, k: int) -> float:
        return self.hits_at[k] / self.answerable if self.answerable else 0.0

    @property
    def mrr(self) -> float:
        return self.reciprocal_rank_sum / self.answerable if self.answerable else 0.0

    @property
    def refusal_rate(self) -> float:
        return self.refused_correctly / self.unanswerable if self.unanswerable else 0.0

    @property
    def false_refusal_rate(self) -> float:
        return self.refused_wrongly / self.answerable if self.answerable else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "questions": self.answerable + self.unanswerable,
            "answerable": self.answerable,
            "unanswerable": self.unanswerable,
            # A rate over no questions is null, not 0.0: a set without unanswerable questions
            # has not shown that nothing is refused.
            **{f"recall@{k}": _rate(self.recall(k), self.answerable) for k in KS},
            "mrr": _rate(self.mrr, self.answerable),
            "min_score": self.min_score,
            "lexical_weight": self.lexical_weight,
            "no_answer_refused": _rate(self.refusal_rate, self.unanswerable),
            "answerable_wrongly_refused": _rate(self.false_refusal_rate, self.answerable),
            "by_kind": self.by_kind,
            "misses": self.misses,
        }


def _rate(value: float, over: int) -> float | None:
    return round(value, 3) if over else None


def load_questions(path: Path) -> list[Question]:
    """The file's questions (format and checks: `question_file`)."""
    return read_questions(path).questions


def observe(
    questions: Sequence[Question],
    candidates: Callable[..., Sequence[Candidate]],
    progress: Callable[[int, int], None] | None = None,
) -> list[Observation]:
    """One retrieval per question; everything after this is offline. `candidates(text)` is
    called with `filter_=` as well for a question that has one (its region / type);
    `progress(done, total)` after each."""
    observations = []
    for q in questions:
        found = candidates(q.question, filter_=q.filter_) if q.filter_ else candidates(q.question)
        observations.append(Observation(q, tuple(found)))
        if progress is not None:
            progress(len(observations), len(questions))
    return observations


def evaluate(observations: Sequence[Observation], settings: RelevanceSettings) -> EvalResult:
    """Score one setting: the sources a user would get, up to max(KS), best first."""
    result = EvalResult(min_score=settings.min_score, lexical_weight=settings.lexical_weight)
    kinds: dict[str, list[float]] = {}
    for obs in observations:
        q = obs.question
        ranked = rank(obs.candidates, settings)
        passes = bool(ranked) and ranked[0][1] >= settings.min_score
        ids = [c.id for c, _ in ranked[: max(KS)]] if passes else []
        if not q.answerable:
            result.unanswerable += 1
            result.refused_correctly += not passes
            kinds.setdefault(q.kind, []).append(float(not passes))
            if passes:
                result.misses.append(_miss(q, ids[:1], refused=False))
            continue
        result.answerable += 1
        position = next((n for n, i in enumerate(ids, start=1) if i in q.expected_ids), None)
        for k in KS:
            result.hits_at[k] += position is not None and position <= k
        result.reciprocal_rank_sum += 1 / position if position else 0.0
        result.refused_wrongly += not passes
        kinds.setdefault(q.kind, []).append(float(position is not None and position <= 3))
        if position != 1:
            result.misses.append(_miss(q, ids[:3], refused=not passes))
    result.by_kind = {
        kind: {"questions": len(v), "score": round(sum(v) / len(v), 3)} for kind, v in kinds.items()
    }
    return result


def _miss(question: Question, got: list[str], *, refused: bool) -> dict[str, Any]:
    """One miss, always the same keys and types (`got` a list; [] when refused), so that a
    script reading `--json` never meets a string where it iterates ids."""
    return {
        "question": question.question,
        "got": got,
        "refused": refused,
        "expected": list(question.expected_ids),
    }


def choose(
    observations: Sequence[Observation],
    *,
    weights: Sequence[float] = WEIGHTS,
    min_scores: Sequence[float] = MIN_SCORES,
    max_false_refusal: float = MAX_FALSE_REFUSAL,
    inner_folds: int = INNER_FOLDS,
) -> RelevanceSettings:
    """The setting that does best on these questions (and only these).

    The lexical weight is chosen by an inner cross-validation on these questions: for each
    weight, thresholds chosen on part of them are scored on the rest (`_utility`), and the middle
    of the best-scoring weights wins. Choosing it on the same questions as its threshold would
    pick the weight that fits them best, not the one that generalises (on our labelled set the
    two differ). The min score for that weight is then chosen on all these questions.
    """
    questions = [obs.question for obs in observations]
    n_unanswerable = sum(not q.answerable for q in questions)
    if len(weights) == 1 or n_unanswerable < inner_folds or len(questions) < 2 * inner_folds:
        return _best_threshold(observations, weights, min_scores, max_false_refusal)[1]
    folds = stratified_folds(questions, inner_folds)
    utilities = []
    for weight in weights:
        pooled = EvalResult(min_score=float("nan"))
        for test in folds:
            held = set(test)
            train = [obs for i, obs in enumerate(observations) if i not in held]
            setting = choose_threshold(train, weight, min_scores, max_false_refusal)
            _accumulate(pooled, evaluate([observations[i] for i in test], setting))
        utilities.append(round(_utility(pooled), 9))
    # Several weights usually do equally well: take the middle of the best plateau, the choice
    # least likely to fall off it on other questions.
    best = [w for w, u in zip(weights, utilities, strict=True) if u >= max(utilities)]
    weight = best[len(best) // 2]
    return choose_threshold(observations, weight, min_scores, max_false_refusal)


def _utility(result: EvalResult) -> float:
    """Held-out value of a weight: unanswerable questions refused plus recall@3, minus
    FALSE_REFUSAL_COST per answerable question refused (recall@3 already counts it once)."""
    return result.refusal_rate + result.recall(3) - FALSE_REFUSAL_COST * result.false_refusal_rate


def choose_threshold(
    observations: Sequence[Observation],
    weight: float,
    min_scores: Sequence[float] = MIN_SCORES,
    max_false_refusal: float = MAX_FALSE_REFUSAL,
) -> RelevanceSettings:
    """The min score for one lexical weight (see `_best_threshold`)."""
    return _best_threshold(observations, (weight,), min_scores, max_false_refusal)[1]


def _best_threshold(
    observations: Sequence[Observation],
    weights: Sequence[float],
    min_scores: Sequence[float],
    max_false_refusal: float,
) -> tuple[tuple[Any, ...], RelevanceSettings]:
    """Among settings that refuse at most `max_false_refusal` of the answerable questions: the
    most unanswerable questions refused plus recall@3; then the best MRR; then the min score
    farthest from every question's best score (the middle of the gap); then the smaller weight.
    With no such setting, the fewest false refusals.
    """
    thresholds = np.asarray(min_scores, dtype=np.float64)
    answerable = np.array([obs.question.answerable for obs in observations])
    n_answerable = max(1, int(answerable.sum()))
    n_unanswerable = max(1, int((~answerable).sum()))
    best: tuple[tuple[Any, ...], RelevanceSettings] | None = None
    for weight in weights:
        tops, positions = _tops_and_positions(observations, weight)
        passes = tops[:, None] >= thresholds[None, :]  # question x threshold
        false_refusal = (~passes[answerable]).sum(axis=0) / n_answerable
        refused = (~passes[~answerable]).sum(axis=0) / n_unanswerable
        found = passes[answerable] & (positions[answerable] <= 3)[:, None]
        recall3 = found.sum(axis=0) / n_answerable
        rr = np.where(positions[answerable] <= max(KS), 1.0 / positions[answerable], 0.0)
        mrr = (passes[answerable] * rr[:, None]).sum(axis=0) / n_answerable
        # Distance to the nearest question's best score, in units of their spread (weights change
        # the scale): among equally good thresholds, the one in the middle of the gap is the least
        # likely to flip on questions not seen here.
        spread = float(np.std(tops[np.isfinite(tops)])) or 1.0
        margin = np.abs(tops[:, None] - thresholds[None, :]).min(axis=0) / spread
        for j, threshold in enumerate(thresholds):
            feasible = false_refusal[j] <= max_false_refusal + 1e-9
            key = (
                feasible,
                round(float(refused[j] + recall3[j]), 9) if feasible else -false_refusal[j],
                round(float(mrr[j]), 9),
                round(float(margin[j]), 4),
                -weight,
            )
            if best is None or key > best[0]:
                best = (key, RelevanceSettings(float(weight), float(threshold)))
    assert best is not None, "no settings to choose from"
    return best


def _tops_and_positions(
    observations: Sequence[Observation], weight: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per question: the best relevance, and the position of the first expected id (inf: none)."""
    settings = RelevanceSettings(weight, 0.0)
    tops, positions = [], []
    for obs in observations:
        ranked = rank(obs.candidates, settings)
        tops.append(ranked[0][1] if ranked else -np.inf)
        ids = [c.id for c, _ in ranked]
        expected = obs.question.expected_ids
        positions.append(next((n for n, i in enumerate(ids, 1) if i in expected), np.inf))
    return np.asarray(tops, dtype=np.float64), np.asarray(positions, dtype=np.float64)


def stratified_folds(
    questions: Sequence[Question], k: int, seed: int = 0, groups: Sequence[str] | None = None
) -> list[list[int]]:
    """k disjoint folds of question indexes, each with its share of unanswerable questions.

    With ``groups`` (one label per question, e.g. the labelled set it comes from), each fold also
    gets its share of every group: pooled sets are then cross-validated evenly, not by chance.
    """
    if k < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    labels = list(groups) if groups is not None else [""] * len(questions)
    if len(labels) != len(questions):
        raise ValueError("one group label per question")
    rng = random.Random(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for group in dict.fromkeys(labels):
        for answerable in (True, False):
            stratum = [
                i
                for i, q in enumerate(questions)
                if q.answerable is answerable and labels[i] == group
            ]
            rng.shuffle(stratum)
            for n, index in enumerate(stratum):
                folds[(n + offset) % k].append(index)
            offset += len(stratum)  # the next stratum starts where this one stopped
    return [sorted(fold) for fold in folds]


def transfer(
    train: Sequence[Observation],
    test: Sequence[Observation],
    choose_fn: Callable[[Sequence[Observation]], RelevanceSettings] = choose,
) -> tuple[RelevanceSettings, EvalResult]:
    """Cross-set validation: the setting chosen on one labelled set, scored once on another (its
    own knowledge base, its own questions). Harder than k-fold on one set: the questions were
    written by other hands over other foods, as a user's are."""
    setting = choose_fn(train)
    return setting, evaluate(test, setting)


@dataclass
class Calibration:
    folds: list[dict[str, Any]]  # per fold: the setting chosen without it, its held-out figures
    held_out: EvalResult  # pooled over the held-out folds (each question scored once)
    chosen: RelevanceSettings  # chosen on all questions: the setting to deploy

    def as_dict(self) -> dict[str, Any]:
        held = self.held_out.as_dict()
        held.pop("min_score")
        held.pop("lexical_weight")
        return {
            "folds": self.folds,
            "held_out": held,
            "chosen": {
                "RAGFOOD_MIN_SCORE": self.chosen.min_score,
                "RAGFOOD_LEXICAL_WEIGHT": self.chosen.lexical_weight,
            },
        }


def calibrate(
    observations: Sequence[Observation],
    *,
    k: int = 5,
    seed: int = 0,
    choose_fn: Callable[[Sequence[Observation]], RelevanceSettings] = choose,
    groups: Sequence[str] | None = None,
) -> Calibration:
    """k-fold cross-validation of `choose_fn`; no setting is scored on questions it was tuned on.

    ``groups`` stratifies the folds by labelled set as well (see `stratified_folds`)."""
    folds = stratified_folds([obs.question for obs in observations], k, seed, groups)
    pooled = EvalResult(min_score=float("nan"))
    per_fold = []
    for n, test in enumerate(folds):
        held = set(test)
        train = [obs for i, obs in enumerate(observations) if i not in held]
        setting = choose_fn(train)
        result = evaluate([observations[i] for i in test], setting)
        per_fold.append(
            {
                "fold": n + 1,
                "questions": len(test),
                "lexical_weight": setting.lexical_weight,
                "min_score": setting.min_score,
                **{f"recall@{k}": round(result.recall(k), 3) for k in KS},
                "no_answer_refused": round(result.refusal_rate, 3),
                "answerable_wrongly_refused": round(result.false_refusal_rate, 3),
            }
        )
        _accumulate(pooled, result)
    return Calibration(per_fold, pooled, choose_fn(observations))


def _accumulate(total: EvalResult, part: EvalResult) -> None:
    total.answerable += part.answerable
    total.unanswerable += part.unanswerable
    for k in KS:
        total.hits_at[k] += part.hits_at[k]
    total.reciprocal_rank_sum += part.reciprocal_rank_sum
    total.refused_correctly += part.refused_correctly
    total.refused_wrongly += part.refused_wrongly
    total.misses.extend(part.misses)
    for kind, values in part.by_kind.items():
        old = total.by_kind.get(kind, {"questions": 0, "score": 0.0})
        count = old["questions"] + values["questions"]
        score = (old["score"] * old["questions"] + values["score"] * values["questions"]) / count
        total.by_kind[kind] = {"questions": count, "score": round(score, 3)}


def check_against_index(
    path: Path, file: QuestionFile, namespace: str, gateway: VectorGateway
) -> list[str]:
    """Warnings about labels the index cannot match; a ValueError when nothing could be measured
    (an empty namespace, or none of the expected ids in it: the wrong namespace or index)."""
    check_namespace(namespace)
    where = f"namespace {namespace!r}" if namespace else "the default namespace"
    info = gateway.info()
    # Just-written vectors may still be pending (Upstash indexes them asynchronously).
    counts = {ns: n + info.pending.get(ns, 0) for ns, n in info.namespaces.items()}
    if not counts.get(namespace):
        others = ", ".join(f"{ns or '(default)'!s} ({n} items)" for ns, n in counts.items() if n)
        hint = f"ragfood ingest FILE{f' --namespace {namespace}' if namespace else ''}"
        elsewhere = f"; the index holds {others}" if others else ""
        raise ValueError(
            f"{where} of the index holds no items: ingest the knowledge base the questions are "
            f"about (`{hint}`) or choose its namespace (--namespace / RAGFOOD_NAMESPACE)"
            f"{elsewhere}"
        )
    ids = sorted({i for q in file.questions for i in q.expected_ids})
    if not ids:
        return []
    found = gateway.fetch_items(ids, namespace)
    missing = [i for i in ids if i not in found]
    near = _near_ids(missing, namespace, gateway)
    if len(missing) == len(ids):
        sample = ", ".join(repr(i) for i in ids[:3]) + (", ..." if len(ids) > 3 else "")
        hint = "; ".join(f"the index has {near[i]!r} for {i!r}" for i in list(near)[:3])
        raise ValueError(
            f"{path}: none of its {len(ids)} expected ids ({sample}) is in {where}: "
            + (
                f"{hint} (ids must match exactly)"
                if near
                else "are the questions about another knowledge base or namespace?"
            )
        )
    if not missing:
        return []
    named = []
    for i in missing[:5]:
        items = [w for q, w in zip(file.questions, file.where, strict=True) if i in q.expected_ids]
        more_items = ", ..." if len(items) > 3 else ""
        like = f"; the index has {near[i]!r}" if i in near else ""
        named.append(f"{i!r} ({', '.join(items[:3])}{more_items}{like})")
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return [
        f"{path}: {len(missing)} expected id(s) not in {where} (a typo, or an item not ingested): "
        f"{'; '.join(named)}{more}; questions naming only these count as misses"
    ]


def _near_ids(missing: Sequence[str], namespace: str, gateway: VectorGateway) -> dict[str, str]:
    """For ids the index lacks, an id it holds that differs only in case, surrounding spaces or
    spaces for hyphens ("Cornish pasty" for "cornish-pasty"): one more fetch."""
    variants: dict[str, str] = {}
    for i in missing[:1000]:
        plain = i.strip()
        for variant in (
            plain,
            plain.casefold(),
            "-".join(plain.casefold().replace("_", " ").split()),
        ):
            if variant != i:
                variants.setdefault(variant, i)
    if not variants:
        return {}
    found = gateway.fetch_items(list(variants), namespace)
    near: dict[str, str] = {}
    for variant in variants:
        if variant in found:
            near.setdefault(variants[variant], variant)
    return near


def calibration_problem(questions: Sequence[Question], folds: int) -> str | None:
    """Why these questions cannot support a calibration with `folds` folds, if they cannot: each
    held-out fold needs an answerable and an unanswerable question to score a setting, and every
    training part both kinds to choose one."""
    answerable = sum(q.answerable for q in questions)
    unanswerable = len(questions) - answerable
    if not unanswerable:
        return (
            '--calibrate needs some unanswerable questions (with "expected_ids": []) to choose '
            "when to refuse; every question here has an answer"
        )
    if not answerable:
        return (
            '--calibrate needs some answerable questions (with their "expected_ids") to choose '
            "when to answer; every question here is unanswerable"
        )
    if min(answerable, unanswerable) < folds:
        return (
            f"--calibrate with {folds} folds needs at least {folds} answerable and {folds} "
            f"unanswerable questions (one of each per fold); there are {answerable} answerable "
            f"and {unanswerable} unanswerable: add questions"
            + (
                f" or use --folds {min(answerable, unanswerable)}"
                if min(answerable, unanswerable) >= 2
                else ""
            )
        )
    return None


def calibration_note(report: Calibration) -> str | None:
    """What the user must know before setting the chosen values, if anything."""
    held = report.held_out
    if held.unanswerable and not held.refused_correctly:
        return (
            "held out, no setting refused an unanswerable question without refusing answerable "
            "ones: on this index their scores do not tell them apart, so the chosen min score "
            "answers (almost) everything. More varied questions, or another embedding model, "
            "may separate them"
        )
    return None
