"""Specification of evaluation and calibration (pure functions over fetched candidates)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ragfood.relevance import Candidate, RelevanceSettings
from ragfood_cli.evaluate import (
    Observation,
    Question,
    calibrate,
    choose,
    evaluate,
    stratified_folds,
    transfer,
)


def observation(n: int, answerable: bool, top: float) -> Observation:
    """A question whose best candidate has dense score `top`; the right one when answerable."""
    expected = (f"item{n}",) if answerable else ()
    best = Candidate(f"item{n}" if answerable else f"other{n}", top, 0.0, "", None, None)
    worse = Candidate(f"filler{n}", top - 0.05, 0.0, "", None, None)
    return Observation(Question(f"q{n}", expected, "x"), (worse, best))


def dataset(n_answerable: int = 20, n_unanswerable: int = 10) -> list[Observation]:
    answerable = [observation(n, True, 0.80 + n / 1000) for n in range(n_answerable)]
    unanswerable = [observation(100 + n, False, 0.60 + n / 1000) for n in range(n_unanswerable)]
    return answerable + unanswerable


def test_folds_are_disjoint_cover_everything_and_spread_unanswerable_questions():
    questions = [obs.question for obs in dataset(23, 7)]
    for seed in range(10):
        folds = stratified_folds(questions, 5, seed=seed)
        flat = sorted(i for fold in folds for i in fold)
        assert flat == list(range(30))
        # 7 unanswerable questions over 5 folds: 1 or 2 in each, whatever the shuffle.
        assert all(1 <= sum(not questions[i].answerable for i in fold) <= 2 for fold in folds)
        assert all(len(fold) == 6 for fold in folds)
    assert folds == stratified_folds(questions, 5, seed=9)  # deterministic
    with pytest.raises(ValueError):
        stratified_folds(questions, 1)


def test_pooled_folds_give_every_labelled_set_its_share_of_each_kind_of_question():
    # Two sets pooled: A has 20 answerable + 5 unanswerable, B 10 + 5. Stratifying by answerable
    # alone can put all of B's unanswerable questions in a few folds.
    a, b = dataset(20, 5), dataset(10, 5)
    questions = [obs.question for obs in a + b]
    groups = ["a"] * len(a) + ["b"] * len(b)
    for seed in range(10):
        folds = stratified_folds(questions, 5, seed=seed, groups=groups)
        assert sorted(i for fold in folds for i in fold) == list(range(len(questions)))
        for group, answerable, each in (("a", True, 4), ("a", False, 1), ("b", True, 2),
                                        ("b", False, 1)):  # fmt: skip
            counts = [
                sum(groups[i] == group and questions[i].answerable is answerable for i in fold)
                for fold in folds
            ]
            assert counts == [each] * 5, (seed, group, answerable, counts)
    with pytest.raises(ValueError):
        stratified_folds(questions, 5, groups=groups[:-1])


def test_calibrate_stratifies_its_folds_by_the_groups_it_is_given():
    a, b = dataset(20, 5), dataset(10, 5)
    pooled, groups = a + b, ["a"] * len(a) + ["b"] * len(b)
    b_unanswerable = {id(obs) for obs in b if not obs.question.answerable}
    held_out_b: list[int] = []

    def spy(train):
        trained = {id(obs) for obs in train}
        held_out_b.append(len(b_unanswerable - trained))
        return choose(train)

    for seed in range(5):
        held_out_b.clear()
        calibrate(pooled, k=5, seed=seed, choose_fn=spy, groups=groups)
        assert held_out_b[:5] == [1] * 5, (seed, held_out_b)  # B's 5 over 5 folds, one each


def test_cross_set_transfer_chooses_on_one_set_and_scores_only_the_other():
    train, test = dataset(20, 10), [*dataset(5, 3), observation(400, True, 0.70)]
    seen: list[set[str]] = []

    def spy(observations):
        seen.append({id(obs) for obs in observations})
        return choose(observations)

    setting, result = transfer(train, test, spy)
    assert seen == [{id(obs) for obs in train}]
    assert (result.answerable, result.unanswerable) == (6, 3)
    # The other set's answerable question below everything seen in training is refused: the
    # figure says so instead of hiding it.
    assert result.refused_wrongly == 1 and setting.min_score > 0.70 * (1 - setting.lexical_weight)


def test_no_setting_is_scored_on_the_questions_it_was_chosen_on():
    observations = dataset()
    seen: list[set[str]] = []

    def spy(train):
        seen.append({obs.question.question for obs in train})
        return choose(train)

    report = calibrate(observations, k=5, choose_fn=spy)
    folds = stratified_folds([obs.question for obs in observations], 5)
    for trained_on, fold in zip(seen, folds, strict=False):  # the last call: all questions
        held_out = {observations[i].question.question for i in fold}
        assert trained_on.isdisjoint(held_out)
    assert len(seen) == 6 and len(seen[-1]) == len(observations)
    assert report.held_out.answerable + report.held_out.unanswerable == len(observations)


def test_choose_separates_answerable_from_unanswerable_when_it_can():
    chosen = choose(dataset())
    scale = 1 - chosen.lexical_weight  # these candidates have no lexical coverage
    assert 0.609 * scale < chosen.min_score <= 0.80 * scale
    result = evaluate(dataset(), chosen)
    assert (result.refusal_rate, result.false_refusal_rate, result.recall(1)) == (1.0, 0.0, 1.0)


def test_choose_never_trades_answerable_questions_for_refusals_beyond_the_cap():
    overlapping = [*dataset(), observation(200, False, 0.9)]  # an unanswerable one scoring high
    chosen = choose(overlapping, max_false_refusal=0.0)
    assert evaluate(overlapping, chosen).false_refusal_rate == 0.0


def test_choose_may_refuse_one_answerable_question_in_a_hundred_but_not_two():
    # 10 unanswerable questions score above one odd answerable one: refusing them costs it.
    def obs(n: int, answerable: bool, top: float) -> Observation:
        plain = observation(n, answerable, top)  # coverage = dense: the same score at any weight
        same = tuple(c._replace(coverage=c.dense) for c in plain.candidates)
        return replace(plain, candidates=same)

    common = [obs(n, True, 0.80 + n / 10000) for n in range(100)]
    unanswerable = [obs(200 + n, False, 0.70 + n / 1000) for n in range(10)]
    one_odd = [*common, *unanswerable, obs(300, True, 0.60)]
    result = evaluate(one_odd, choose(one_odd))
    assert (result.refusal_rate, result.false_refusal_rate) == (1.0, 1 / 101)
    two_odd = [*one_odd, obs(301, True, 0.61)]
    assert evaluate(two_odd, choose(two_odd)).false_refusal_rate == 0.0


def test_a_wrongly_refused_answerable_question_is_a_recall_miss():
    result = evaluate(dataset(), RelevanceSettings(0.0, 0.81))
    assert result.false_refusal_rate > 0
    assert result.recall(5) == 1 - result.false_refusal_rate


def test_held_out_figures_are_honest_about_an_unseen_kind_of_question():
    # Trained where answerable questions score >= 0.8; one held-out answerable scores 0.7.
    observations = [*dataset(), observation(300, True, 0.70)]
    report = calibrate(observations, k=3)
    assert report.held_out.refused_wrongly == 1
