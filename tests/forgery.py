"""Forged records for the signed topics (decisions, scorer-models, router-thresholds): what a
plain producer with write access, but without the owning service's private key, can send."""

from __future__ import annotations

from hitl_runtime.cloudevents import ce_headers
from hitl_runtime.serde import encode
from hitl_runtime.signing import Headers, Signer, generate, private_key
from hitl_schemas import Event

ROGUE = Signer("rogue", private_key(generate()[0]))


def forged(
    topic: str, key: str, event: Event, trusted: Signer, kind: str, *, other: Event | None = None
) -> tuple[bytes, Headers]:
    """(value, headers) of one forgery of `event`:
    - `unsigned`: what any Kafka client sends (CloudEvents headers, no signature);
    - `rogue_key`: signed by a key nobody trusts, under the trusted key's id;
    - `rogue_id`: signed by a key nobody trusts, under its own id;
    - `tampered`: a real signature of `event`, sent with `other`'s bytes."""
    value = encode(event)
    headers = ce_headers(event, source="/hitl-gate/review-api", subject=key)
    if kind == "unsigned":
        return value, headers
    if kind == "rogue_key":
        return value, Signer(trusted.kid, ROGUE.key).sign(topic, key, value, headers)
    if kind == "rogue_id":
        return value, ROGUE.sign(topic, key, value, headers)
    if kind == "tampered":
        assert other is not None
        return encode(other), trusted.sign(topic, key, value, headers)
    raise ValueError(kind)


KINDS = ("unsigned", "rogue_key", "rogue_id", "tampered")
REASONS = {
    "unsigned": "unsigned",
    "rogue_key": "bad_signature",
    "rogue_id": "unknown_key",
    "tampered": "bad_signature",
}
# What the dead letter's message says for each reason.
WORDS = {
    "unsigned": "no signature",
    "unknown_key": "not among the trusted keys",
    "bad_signature": "does not match",
}
