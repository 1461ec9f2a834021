"""The one registry of signal names: the scorer's own, and the plug-ins a policy declares.

Every service reads hard rules by signal name (the scorer reports signals by name, the router
checks a rule against them), so a rule naming a signal that does not exist would trip on every
draft ("signal unavailable" counts as tripped) and send the whole type to review. The policy
loader checks each rule's signal against this registry instead, and stops naming the rule.

A team adds its own signal as a plug-in: a callable `(draft) -> SignalResult` (the scorer's
`scorer.signals.base` contract) published under the entry-point group `PLUGIN_GROUP` by an
installed package, and named in the policy's top-level `signals:` list, so that services which
never load it (router, review-api) know the name too. The scorer loads each declared plug-in at
start and stops if one is not installed (`scorer.plugins`).
"""

from __future__ import annotations

import difflib

PLUGIN_GROUP = "hitl_gate.signals"

# The scorer's own signals, in the order it reports them.
BUILTIN_SIGNALS: tuple[str, ...] = (
    "producer_confidence",
    "pii",
    "toxicity",
    "tone",
    "commitments",
    "grounding",
    "form",
)


def unknown_signal(name: str, known: frozenset[str]) -> str:
    """What to say about a signal name that is not in `known`."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return (
        f"unknown signal {name!r}; {hint}known signals: {', '.join(sorted(known))} (a plug-in "
        "signal must be listed in the policy's top-level `signals:`)"
    )
