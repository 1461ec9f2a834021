"""From a final decision to a training example: plain data in, plain data out."""

from __future__ import annotations

from datetime import datetime

from hitl_runtime.edits import edit_size, is_error
from hitl_runtime.policy import ContentTypePolicy
from hitl_schemas import Decision, FeedbackExample, Lineage

DEFAULT_TRIVIAL_EDIT = 10


def to_example(
    decision: Decision, lineage: Lineage, ct: ContentTypePolicy | None, now: datetime
) -> FeedbackExample:
    chars, tokens = edit_size(decision.draft.text, decision.final_text)
    bound = ct.trivial_edit_chars if ct is not None else DEFAULT_TRIVIAL_EDIT
    return FeedbackExample(
        draft_id=decision.draft_id,
        tenant=decision.tenant,
        content_type=decision.content_type,
        draft=decision.draft,
        final_text=decision.final_text,
        verdict=decision.verdict,
        reason_codes=decision.reason_codes,
        edit_chars=chars if decision.verdict == "edit" else 0,
        edit_tokens=tokens if decision.verdict == "edit" else 0,
        is_error=is_error(decision.verdict, decision.draft.text, decision.final_text, bound),
        score=decision.score,
        routing=decision.routing,
        reviewer_tier=decision.reviewer_tier,
        lineage=lineage,
        decided_at=decision.decided_at,
        emitted_at=now,
    )
