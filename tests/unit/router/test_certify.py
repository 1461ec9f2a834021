from __future__ import annotations

import pytest
from scipy.stats import beta, binomtest

from router.certify import (
    Tail,
    binomial_p_value,
    clopper_pearson_upper,
    fixed_sequence,
    minimum_clean_audits,
    upper_bound,
)


@pytest.mark.parametrize(
    ("n", "k", "target"),
    [(150, 0, 0.02), (500, 3, 0.02), (1000, 25, 0.03), (60, 1, 0.05), (2000, 9, 0.005)],
)
def test_binomial_p_value_matches_scipys_exact_test(n: int, k: int, target: float) -> None:
    exact = binomtest(k, n, target, alternative="less").pvalue
    assert binomial_p_value(n, k, target) == pytest.approx(exact, rel=1e-9)


@pytest.mark.parametrize(("n", "k", "delta"), [(150, 0, 0.05), (500, 3, 0.05), (80, 7, 0.1)])
def test_clopper_pearson_matches_the_beta_quantile(n: int, k: int, delta: float) -> None:
    assert clopper_pearson_upper(n, k, delta) == pytest.approx(beta.ppf(1 - delta, k + 1, n - k))


def test_the_bound_and_the_test_agree() -> None:
    # Certified (bound <= target) exactly when the exact test rejects at delta.
    for n, k in [(149, 0), (148, 0), (400, 3), (400, 5)]:
        certified = clopper_pearson_upper(n, k, 0.05) <= 0.02
        assert certified == (binomial_p_value(n, k, 0.02) <= 0.05)


def test_minimum_evidence_for_a_two_percent_target() -> None:
    assert minimum_clean_audits(0.02, 0.05) == 149
    assert minimum_clean_audits(0.005, 0.05) == 598


def test_fractional_decayed_counts_round_against_us() -> None:
    assert clopper_pearson_upper(149.9, 0.2, 0.05) == clopper_pearson_upper(149, 1, 0.05)


def tail(
    reviewed: float = 0, errors: float = 0, sampled: float = 0, sampled_errors: float = 0
) -> Tail:
    return Tail(reviewed, errors, sampled, sampled_errors, floor=0.02)


def test_mixed_evidence_uses_bonferroni_halves_weighted_by_share() -> None:
    mixed = tail(reviewed=1000, errors=5, sampled=40, sampled_errors=0)
    share = 1000 / (1000 + 40 / 0.02)
    expected = share * clopper_pearson_upper(1000, 5, 0.025) + (1 - share) * (
        clopper_pearson_upper(40, 0, 0.025)
    )
    assert upper_bound(mixed, 0.05) == pytest.approx(expected)
    assert upper_bound(tail(), 0.05) is None


CANDIDATES = [0.99, 0.98, 0.97, 0.96]


@pytest.mark.parametrize(
    ("tails", "certified", "tested"),
    [
        # all pass: the loosest is certified
        ([tail(200), tail(400), tail(600), tail(800)], 0.96, 4),
        # the walk stops at the first failure even though a looser one would pass
        ([tail(200), tail(400, 30), tail(600), tail(800)], 0.99, 2),
        # strict candidates with too few verdicts are skipped, not failed
        ([tail(20), tail(100), tail(600), tail(800)], 0.96, 2),
        # the first tested fails: nothing is certified
        ([tail(300, 20), tail(400), tail(600), tail(800)], None, 1),
        # never enough evidence
        ([tail(5), tail(10), tail(20), tail(40)], None, 0),
    ],
)
def test_fixed_sequence_walk(tails: list[Tail], certified: float | None, tested: int) -> None:
    result = fixed_sequence(CANDIDATES, tails, target=0.02, delta=0.05)
    assert result.threshold == certified
    assert len(result.bounds) == tested
