"""The simulated world: deterministic, realistic, with defects a reviewer can fix."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from hitl_sim import templates
from hitl_sim.scenario import Drift, Scenario, TypeMix
from hitl_sim.world import producer_confidence, stream

TYPES = ["customer_email", "chat_reply", "refund_offer", "legal_clause"]


def scenario(**overrides: object) -> Scenario:
    base: dict[str, object] = {
        "seed": 3,
        "drafts": 2000,
        "content_types": {t: TypeMix(share=0.25, defect_rate=0.2) for t in TYPES},
    }
    return Scenario.model_validate(base | overrides)


def test_the_same_seed_gives_the_same_stream() -> None:
    first = [(s.draft.text, s.truth) for s in stream(scenario(), count=200)]
    again = [(s.draft.text, s.truth) for s in stream(scenario(), count=200)]
    other = [(s.draft.text, s.truth) for s in stream(scenario(seed=4), count=200)]
    assert first == again
    assert first != other


def test_defect_rate_and_shares_follow_the_scenario() -> None:
    sims = list(stream(scenario()))
    defects = sum(s.truth.is_defect for s in sims) / len(sims)
    shares = Counter(s.draft.content_type for s in sims)
    assert 0.16 < defects < 0.24
    assert all(400 < shares[t] < 600 for t in TYPES)


def test_a_defective_draft_differs_from_its_fixed_text_and_a_clean_one_does_not() -> None:
    for sim in stream(scenario(), count=500):
        if sim.truth.is_defect:
            assert sim.draft.text != sim.truth.fixed_text
            assert sim.truth.verdict in ("edit", "reject")
            assert sim.truth.reason_codes
        else:
            assert sim.draft.text == sim.truth.fixed_text
            assert sim.truth.verdict == "approve"


def test_the_truth_never_travels_with_the_draft() -> None:
    for sim in stream(scenario(), count=300):
        payload = sim.draft.model_dump_json()
        assert sim.truth.defect is None or f'"{sim.truth.defect}"' not in payload
        assert "defect" not in sim.draft.metadata


@pytest.mark.parametrize("kind", sorted(templates.DEFECTS))
def test_every_defect_kind_applies_to_the_types_that_list_it(kind: str) -> None:
    rng = random.Random(1)
    types = [t for t, mix in templates.DEFECT_MIX.items() if kind in mix]
    assert types, f"{kind} is listed for no content type"
    for content_type in types:
        for i in range(20):
            f = templates.facts(rng, i)
            written = templates.write(content_type, f, rng)
            assert templates.DEFECTS[kind].inject(written, f, rng) != written.text


@pytest.mark.parametrize(
    ("skill", "overconfidence", "separated"),
    [(0.9, 0.0, True), (0.0, 0.0, False), (0.6, 0.5, True)],
)
def test_producer_confidence_is_informative_only_with_skill(
    skill: float, overconfidence: float, separated: bool
) -> None:
    rng = random.Random(5)
    mix = TypeMix(share=1, defect_rate=0.1, confidence_skill=skill, overconfidence=overconfidence)
    clean = sum(producer_confidence(False, mix, rng) for _ in range(3000)) / 3000
    defect = sum(producer_confidence(True, mix, rng) for _ in range(3000)) / 3000
    assert (clean - defect > 0.1) is separated


def test_overconfidence_raises_every_confidence() -> None:
    honest = TypeMix(share=1, defect_rate=0.1, confidence_skill=0.8)
    proud = honest.model_copy(update={"overconfidence": 0.6})
    a = [producer_confidence(True, honest, random.Random(i)) for i in range(200)]
    b = [producer_confidence(True, proud, random.Random(i)) for i in range(200)]
    assert all(y >= x for x, y in zip(a, b, strict=True))


def test_drift_changes_a_type_from_its_point_in_the_stream() -> None:
    s = scenario(
        drafts=4000,
        content_types={"customer_email": TypeMix(share=1, defect_rate=0.02)},
        drift=[Drift(at=0.5, content_type="customer_email", defect_rate=0.3)],
    )
    sims = list(stream(s))
    before = sum(x.truth.is_defect for x in sims[:2000]) / 2000
    after = sum(x.truth.is_defect for x in sims[2000:]) / 2000
    assert before < 0.05 < 0.25 < after
