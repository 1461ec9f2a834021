"""The scorer bounds what it reports (issue 15): at most MAX_SPANS_PER_SIGNAL spans per signal,
the rest counted, so one draft at the size limits cannot make a ScoredDraft too large to send."""

from __future__ import annotations

from hitl_runtime.limits import event_bytes
from hitl_runtime.serde import encode
from hitl_schemas import Draft, DraftContext, ScoredDraft, Signal, SourceDocument, examples
from scorer.config import ScorerSettings
from scorer.model import Combiner
from scorer.scoring import MAX_SPANS_PER_SIGNAL, Scorer


def by_name(scorer: Scorer, model: Combiner, draft: Draft) -> dict[str, Signal]:
    return {s.name: s for s in scorer.score(draft, model).signals}


def test_the_issue_draft_gets_a_scored_draft_that_can_be_sent(
    scorer: Scorer, model: Combiner
) -> None:
    # "$1 " repeated, against a source without those amounts: one grounding span per "$1"
    # (unless grounding refuses that many claims: then it fails, and has no span).
    source = SourceDocument(source_id="s", text="€" * 330_000)
    draft = examples.draft(text=("$1 " * 17_000)[:50_000], context=DraftContext(sources=[source]))
    score = scorer.score(draft, model)
    grounding = {s.name: s for s in score.signals}["grounding"]
    assert grounding.failed or len(grounding.spans) + grounding.spans_omitted == 16_667
    assert all(len(s.spans) <= MAX_SPANS_PER_SIGNAL == 50 for s in score.signals)
    size = len(encode(ScoredDraft(draft=draft, score=score)))
    assert size < event_bytes(ScoredDraft, 1_048_576)  # was 2,134,251 bytes: over the limit
    assert size - len(encode(draft)) < 20_000


def test_a_signal_keeps_its_first_spans_and_counts_the_rest(
    scorer: Scorer, model: Combiner
) -> None:
    draft = examples.draft(text="shit " * 10_000)
    uncapped = Scorer(policy=scorer.policy, toxicity=scorer.toxicity, max_spans_per_signal=10_000)
    every = by_name(uncapped, model, draft)["tone"].spans
    tone = by_name(scorer, model, draft)["tone"]
    assert len(every) > 50
    assert (tone.spans, tone.spans_omitted) == (every[:50], len(every) - 50)  # the first ones


def test_the_cap_is_a_setting_and_a_small_draft_keeps_every_span(
    scorer: Scorer, model: Combiner
) -> None:
    assert ScorerSettings().max_spans_per_signal == MAX_SPANS_PER_SIGNAL
    two = Scorer(policy=scorer.policy, toxicity=scorer.toxicity, max_spans_per_signal=2)
    draft = examples.draft(text="shit, shit, shit and shit.")
    capped, whole = by_name(two, model, draft)["tone"], by_name(scorer, model, draft)["tone"]
    assert (len(capped.spans), capped.spans_omitted) == (2, 2)
    assert (len(whole.spans), whole.spans_omitted) == (4, 0)
    assert capped.value == whole.value and capped.spans == whole.spans[:2]
