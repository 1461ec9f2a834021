"""Audit sampling: which would-be-auto-approved drafts a human checks anyway, and with what q.

Exploring, q is highest just above the threshold (where escapes hide) and never below the
floor; monitoring, q is the policy's lighter uniform `monitor` rate. Whether a
draft is sampled is a pure function of its id and q (a hash, not a random draw), so a replay of
the same stream samples the same drafts.
"""

from __future__ import annotations

import hashlib

from hitl_runtime.policy import AuditPolicy
from hitl_schemas.events import AuditPhase


def audit_probability(
    confidence: float,
    threshold: float,
    policy: AuditPolicy,
    boost: float = 1.0,
    phase: AuditPhase = "explore",
) -> float:
    """Sampling probability of an item at or above the threshold: the floor plus the ramp near
    the threshold while exploring, the uniform monitor rate once monitoring."""
    if phase == "monitor":
        return min(1.0, policy.monitor * boost)
    distance = max(0.0, confidence - threshold)
    near = policy.near_threshold * max(0.0, 1.0 - distance / policy.near_width)
    return min(1.0, (policy.floor + near) * boost)


def uniform(draft_id: str, seed: str = "hitl-audit") -> float:
    """A number in [0, 1) fixed by the draft id: the same draft always draws the same number."""
    digest = hashlib.blake2b(f"{seed}:{draft_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def sampled(draft_id: str, q: float, seed: str = "hitl-audit") -> bool:
    return uniform(draft_id, seed) < q
