"""The router's evidence: bucketed e-process sums, pending verdicts, the fixed-sequence walk."""

from __future__ import annotations

import json
import math
import random

import pytest

from router import confseq
from router.evidence import (
    FLOOR_BETS,
    REVIEW_ALL_BETS,
    SLICES,
    Evidence,
    certified_at,
    close,
    line,
    log_e_now,
    needed,
    routed,
    verdict,
    walk,
)
from router.tally import Tallies

TARGET, DELTA, FLOOR, MONITOR = 0.02, 0.05, 0.02, 0.005
CANDIDATES = (0.99, 0.98, 0.97, 0.96, 0.95, 0.90)


def fresh() -> Evidence:
    return Evidence(target=TARGET, floor=FLOOR, monitor=MONITOR)


# (q, bets, outcome): outcome None = auto-approved unseen, True/False = a verdict that came.
SEQUENCE_CASES = [
    [(1.0, REVIEW_ALL_BETS, False)] * 200,
    [(1.0, REVIEW_ALL_BETS, False)] * 150 + [(1.0, REVIEW_ALL_BETS, True)] * 2,
    [(0.02, FLOOR_BETS, None)] * 3000 + [(0.05, FLOOR_BETS, False)] * 40,
    [(0.02, FLOOR_BETS, None)] * 500 + [(0.02, FLOOR_BETS, True)] + [(1.0, FLOOR_BETS, False)] * 9,
]


@pytest.mark.parametrize("sequence", SEQUENCE_CASES)
def test_bucket_sums_equal_the_e_process_fed_draft_by_draft(
    sequence: list[tuple[float, int, bool | None]],
) -> None:
    """The same drafts through `confseq.update` one by one (the reference) and through the
    ledger's sums (pending first, then the verdict) give the same e-value."""
    ev = fresh()
    reference = {b: confseq.fresh(TARGET, ev.q_min(b)) for b in (FLOOR_BETS, REVIEW_ALL_BETS)}
    for q, bets, outcome in sequence:
        routed(ev, at=0, score=0.975, q=q, bets=bets, reviewed=outcome is not None)
        if outcome is not None:
            assert verdict(ev, at=0, score=0.975, q=q, bets=bets, audit=q < 1, error=outcome)
        reference[bets] = confseq.update(reference[bets], q=q, error=outcome)
    expected = sum(float(confseq.log_mixture(r.log_capital)) for r in reference.values())
    if all(b == sequence[0][1] for _, b, _ in sequence):  # one class: one mixture
        assert log_e_now(ev, 0.97) == pytest.approx(expected, abs=1e-9)
    assert log_e_now(ev, 0.98) == 0.0  # nothing routed above it


def test_a_pending_draft_counts_as_an_error_until_its_verdict_comes() -> None:
    clean, waiting, rejected = fresh(), fresh(), fresh()
    for ev in (clean, waiting, rejected):
        routed(ev, at=0, score=0.96, q=1.0, bets=REVIEW_ALL_BETS, reviewed=False, drafts=300)
        routed(ev, at=0, score=0.96, q=1.0, bets=REVIEW_ALL_BETS, reviewed=True)
    verdict(clean, at=0, score=0.96, q=1.0, bets=REVIEW_ALL_BETS, audit=False, error=False)
    verdict(rejected, at=0, score=0.96, q=1.0, bets=REVIEW_ALL_BETS, audit=False, error=True)
    assert log_e_now(waiting, 0.95) == pytest.approx(log_e_now(rejected, 0.95))
    assert log_e_now(waiting, 0.95) < log_e_now(clean, 0.95)


VERDICT_CASES = [  # (routed as, verdict as) -> learnt?
    ((0.96, REVIEW_ALL_BETS, True), (0.96, REVIEW_ALL_BETS), True),
    ((0.96, REVIEW_ALL_BETS, False), (0.96, REVIEW_ALL_BETS), False),  # auto-approved: no verdict
    ((0.96, REVIEW_ALL_BETS, True), (0.50, REVIEW_ALL_BETS), False),  # another bucket
    ((0.96, REVIEW_ALL_BETS, True), (0.96, FLOOR_BETS), False),  # another bet class
]


@pytest.mark.parametrize(("routed_as", "verdict_as", "learnt"), VERDICT_CASES)
def test_a_verdict_is_learnt_only_for_a_draft_routed_for_review(
    routed_as: tuple[float, int, bool], verdict_as: tuple[float, int], learnt: bool
) -> None:
    ev = fresh()
    score, bets, reviewed = routed_as
    routed(ev, at=0, score=score, q=1.0, bets=bets, reviewed=reviewed)
    before = ev.open.copy()
    score, bets = verdict_as
    assert verdict(ev, at=0, score=score, q=1.0, bets=bets, audit=False, error=False) is learnt
    assert bool((ev.open != before).any()) is learnt
    assert ev.total("labelled") == int(learnt)
    # The same verdict a second time finds no draft waiting.
    assert not verdict(ev, at=0, score=score, q=1.0, bets=bets, audit=False, error=False)


def _clean_review_all(ev: Evidence, score: float, drafts: int) -> None:
    for _ in range(drafts):
        routed(ev, at=0, score=score, q=1.0, bets=REVIEW_ALL_BETS, reviewed=True)
        verdict(ev, at=0, score=score, q=1.0, bets=REVIEW_ALL_BETS, audit=False, error=False)


def _errors(ev: Evidence, score: float, errors: int) -> None:
    for _ in range(errors):
        routed(ev, at=0, score=score, q=1.0, bets=REVIEW_ALL_BETS, reviewed=True)
        verdict(ev, at=0, score=score, q=1.0, bets=REVIEW_ALL_BETS, audit=False, error=True)


FIRST = needed(TARGET, DELTA)  # clean review-all verdicts before anything can certify


def test_needed_is_the_published_count_for_a_two_percent_target() -> None:
    # Each of the two processes is held to delta / 2. An ideal bettor then needs
    # ln(40) / -ln(0.98) = 182.6 clean verdicts; the mixture over seven bets pays at most ln 7
    # nats on top.
    assert math.ceil(math.log(40) / -math.log(0.98)) == 183
    assert 183 <= FIRST <= math.ceil((math.log(40) + math.log(7)) / -math.log(0.98))
    assert FIRST == confseq.clean_drafts_to_certify(TARGET, DELTA / 2, 1.0) == 215
    assert line(DELTA) == pytest.approx(math.log(40))


# Drafts per score as (score, clean, errors) -> the certified threshold. A draft at 0.995 is in
# every candidate's tail: where all are clean, the walk goes all the way to 0.90.
WALK_CASES = [
    ([], None),
    ([(0.995, FIRST, 0)], 0.90),
    ([(0.995, FIRST - 1, 0)], None),  # one short
    ([(0.995, FIRST, 0), (0.955, 0, 3)], 0.96),  # 0.95's tail holds three errors
    ([(0.995, FIRST, 0), (0.985, 0, 3)], 0.99),  # 0.98 fails: the walk stops there
    ([(0.995, FIRST, 0), (0.985, 0, 3), (0.965, 3 * FIRST, 0)], 0.99),  # whatever is below
    ([(0.995, 5, 0), (0.965, FIRST, 0), (0.91, 0, 3)], 0.95),  # too few above 0.97: skipped
    ([(0.955, 4 * FIRST, 0), (0.91, 0, 30)], 0.95),  # nothing above 0.96: the walk starts at 0.95
]


@pytest.mark.parametrize(("drafts", "certified"), WALK_CASES)
def test_fixed_sequence_walk(drafts: list[tuple[float, int, int]], certified: float | None) -> None:
    ev = fresh()
    for score, clean, errors in drafts:
        _clean_review_all(ev, score, clean)
        _errors(ev, score, errors)
    assert walk(ev, CANDIDATES, DELTA).threshold == certified


def test_a_crossing_is_never_taken_back_by_later_errors() -> None:
    ev = fresh()
    _clean_review_all(ev, 0.995, FIRST)
    assert walk(ev, CANDIDATES, DELTA).threshold == 0.90
    _errors(ev, 0.995, 5)
    result = walk(ev, CANDIDATES, DELTA)
    assert max(result.log_e) < math.log(1 / DELTA)  # the e-values fell back below the line
    assert result.threshold == 0.90 and certified_at(ev, 0.99)  # the certificates hold


def test_evidence_survives_json_and_refuses_a_malformed_value() -> None:
    ev = fresh()
    _clean_review_all(ev, 0.995, FIRST)
    routed(ev, at=0, score=0.9, q=0.05, bets=FLOOR_BETS, reviewed=True)
    walk(ev, CANDIDATES, DELTA)
    back = Evidence.from_dict(json.loads(json.dumps(ev.to_dict())))
    assert back.to_dict() == ev.to_dict()
    data = ev.to_dict()
    data["closed"] = data["closed"][:-1]
    with pytest.raises(ValueError, match="expected"):
        Evidence.from_dict(data)
    with pytest.raises(ValueError, match="kind"):
        Evidence.from_dict({**ev.to_dict(), "kind": "escape-eprocess-v0"})


def test_tallies_group_a_batch_by_type_version_and_bet_class() -> None:
    tallies = Tallies()
    tallies.add("a", 3, 7, score=0.97, q=0.05, review_all=False, phase="explore", reviewed=False)
    tallies.add("a", 3, 7, score=0.971, q=0.05, review_all=False, phase="explore", reviewed=True)
    tallies.add("a", 3, 7, score=0.5, q=1.0, review_all=False, phase="explore", reviewed=True)
    tallies.add("a", 4, 7, score=0.97, q=1.0, review_all=True, phase="explore", reviewed=True)
    tallies.add("a", 4, 8, score=0.97, q=1.0, review_all=True, phase="explore", reviewed=True)
    out = {(t.content_type, t.threshold_version, t.slice, t.review_all): t
           for t in tallies.drain()}  # fmt: skip
    assert set(out) == {("a", 3, 7, False), ("a", 4, 7, True), ("a", 4, 8, True)}
    cells = {c.bucket: (c.auto, c.reviewed, c.audit_q) for c in out["a", 3, 7, False].cells}
    assert cells == {97: (1, 0, [0.05]), 50: (0, 1, [])}
    assert tallies.drain() == []


def test_a_slice_is_fed_in_routing_order_once_its_verdicts_are_in() -> None:
    ev = fresh()
    for at in (0, 1, 2):
        routed(ev, at=at, score=0.96, q=1.0, bets=REVIEW_ALL_BETS, reviewed=True, drafts=2)
    for at in (1, 2):  # slice 0 still waits for both its verdicts
        for _ in range(2):
            verdict(ev, at=at, score=0.96, q=1.0, bets=REVIEW_ALL_BETS, audit=False, error=False)
    close(ev, now=10)
    assert ev.closed_through == -1 and not ev.closed.any()  # slice 0 blocks those after it
    verdict(ev, at=0, score=0.96, q=1.0, bets=REVIEW_ALL_BETS, audit=False, error=False)
    close(ev, now=10)
    assert ev.closed_through == -1  # one verdict of slice 0 is still out
    close(ev, now=SLICES)  # slice 0 is SLICES old: fed, its missing verdict as an error
    assert ev.closed_through == 2 and not ev.slices and not ev.open.any()
    reference = confseq.fresh(TARGET, 1.0)
    for error in (False, True, False, False, False, False):
        reference = confseq.update(reference, q=1.0, error=error)
    assert log_e_now(ev, 0.95) == pytest.approx(float(confseq.log_mixture(reference.log_capital)))
    # Its verdict, when it comes, is refused; so is a draft heard of after its slice was fed.
    assert not verdict(ev, at=0, score=0.96, q=1.0, bets=REVIEW_ALL_BETS, audit=False, error=False)
    assert not routed(ev, at=1, score=0.96, q=1.0, bets=REVIEW_ALL_BETS, reviewed=False)


def test_the_slice_now_and_the_one_before_stay_open_for_batches_in_flight() -> None:
    ev = fresh()
    for at in (4, 5):
        routed(ev, at=at, score=0.96, q=1.0, bets=REVIEW_ALL_BETS, reviewed=False)
    close(ev, now=5)
    assert ev.closed_through == -1
    close(ev, now=6)
    assert ev.closed_through == 4 and set(ev.slices) == {5}


def _validity_run(seed: int, rate: float, drafts: int) -> bool:
    """One stream at a true escape rate, review-all, verdicts late and rejects later still, fed
    in tallies of 20 drafts, one slice each; does the walk ever certify 0.95?"""
    rng = random.Random(seed)
    ev, waiting = fresh(), []
    for at, _start in enumerate(range(0, drafts, 20)):
        routed(ev, at=at, score=0.96, q=1.0, bets=REVIEW_ALL_BETS, reviewed=True, drafts=20)
        for _ in range(20):
            error = rng.random() < rate
            waiting.append((at + rng.randint(0, 2) * (4 if error else 1), at, error))
        for _, slice_at, error in [w for w in waiting if w[0] <= at]:
            verdict(ev, at=slice_at, score=0.96, q=1.0, bets=REVIEW_ALL_BETS, audit=False,
                    error=error)  # fmt: skip
        waiting = [w for w in waiting if w[0] > at]
        close(ev, now=at)
        if walk(ev, (0.95,), DELTA).threshold is not None:
            return True
    return False


def test_a_stream_at_the_target_certifies_in_at_most_delta_of_runs() -> None:
    """500 seeded streams whose true rate is the target itself (the hardest null): the share
    that ever certifies, looked at after every tally, is at most delta up to its error bar.
    The long version (more runs, audits, a step change) is `bench.certificate_validity_bench`."""
    runs = 500
    certified = sum(_validity_run(seed, TARGET, 2000) for seed in range(runs))
    share = certified / runs
    assert share <= DELTA + 2 * math.sqrt(DELTA * (1 - DELTA) / runs), share
    # The same test has power: at a quarter of the target most runs certify.
    assert sum(_validity_run(seed, TARGET / 4, 2000) for seed in range(50)) >= 40
