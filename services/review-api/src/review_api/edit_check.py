"""A reviewer's edit, re-read by the scorer's own checks before the decision is sent.

A reviewer fixing one figure can type another that the sources do not support, or paste an
e-mail address or phone number. The edited text is read by the same grounding and PII signals
the scorer ran on the draft (`scorer.signals`, one home for each check), against the draft's
own sources; what they find is a warning beside the editor, never a block: the reviewer may
know better than the sources. A finding is `new` when the draft as written did not have it
(the figure or the personal data was typed by the reviewer).

Toxicity and tone are not re-read here: they need the scorer's classifier loaded in this
process, and a reviewer's own words are the reviewer's responsibility.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from hitl_schemas import Draft
from scorer.signals.base import SignalResult
from scorer.signals.grounding import TooManyClaims, grounding
from scorer.signals.pii import pii

MAX_WARNINGS = 50  # a reviewer reads a few; the count of the rest is kept

Check = Literal["grounding", "pii"]
CHECKS: dict[Check, Callable[[Draft], SignalResult]] = {"grounding": grounding, "pii": pii}


class EditWarning(BaseModel):
    start: int = Field(description="Code-point offset into the edited text.")
    end: int
    check: Check
    label: str = Field(description="What was found, as the scorer labels it.")
    new: bool = Field(description="Not in the draft as written: the edit brought it in.")


class EditCheck(BaseModel):
    warnings: list[EditWarning]
    left_out: int = Field(default=0, description="Further findings not listed.")


def check_edit(draft: Draft, final_text: str) -> EditCheck:
    """What the scorer's grounding and PII checks find in `final_text`, read against `draft`'s
    sources, each marked `new` when the draft as written did not have it."""
    edited = draft.model_copy(update={"text": final_text})
    found: list[EditWarning] = []
    for name, run in CHECKS.items():
        try:
            after = run(edited)
        except TooManyClaims as exc:  # the check's own cap: say it was not done
            found.append(EditWarning(start=0, end=0, check=name, label=str(exc), new=True))
            continue
        before = _written(run, draft)
        for span in after.spans:
            written = final_text[span.start : span.end]
            found.append(
                EditWarning(
                    start=span.start,
                    end=span.end,
                    check=name,
                    label=span.label,
                    new=written not in before,
                )
            )
    found.sort(key=lambda w: (not w.new, w.start))
    return EditCheck(warnings=found[:MAX_WARNINGS], left_out=max(0, len(found) - MAX_WARNINGS))


def _written(run: Callable[[Draft], SignalResult], draft: Draft) -> set[str]:
    """The stretches of the draft as written that the check flags."""
    try:
        return {draft.text[s.start : s.end] for s in run(draft).spans}
    except TooManyClaims:
        return set()
