"""Signed events: proof of who wrote a decision, a model version or a threshold.

Ed25519 (asymmetric), not HMAC: a reader holds only public keys, so a reader that is
compromised (feedback and the router read decisions, the scorer reads models) still cannot
forge what it reads; with HMAC every reader would hold the writer's secret. Each writing
service has its own private key: review-api signs `decisions`, feedback `scorer-models`, the
router `router-thresholds`.

What is signed (`signed_bytes`): the registered topic name (so a record cannot be replayed onto
another topic), the record key, the `ce_type` and `ce_id` headers and the value bytes, each
length-prefixed, so no two records share a signed form. The key id travels in `hitl_sig_kid`,
the base64 signature in `hitl_sig`. Rotation: readers accept every key id they are given; the
writer signs with its one active key.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import logging
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hitl_runtime.metrics import SIGNING_DISABLED, UNVERIFIED_EVENTS

if TYPE_CHECKING:
    from hitl_runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

SIG_HEADER = "hitl_sig"
KID_HEADER = "hitl_sig_kid"
KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# The topics whose records are signed, and the settings field of each one's public keys.
SIGNED_TOPICS: dict[str, str] = {
    "decisions": "decisions_verify_keys",
    "scorer-models": "scorer_models_verify_keys",
    "router-thresholds": "router_thresholds_verify_keys",
}
_DOMAIN = b"hitl-gate/signed-record/v1"

Headers = list[tuple[str, str | bytes | None]]
# Bounded label values of hitl_unverified_events_total.
Unverified = Literal["unsigned", "unknown_key", "malformed_signature", "bad_signature"]
REASONS: tuple[Unverified, ...] = (
    "unsigned",
    "unknown_key",
    "malformed_signature",
    "bad_signature",
)


class KeyFormatError(ValueError):
    """A key that is not what a setting needs; the message never holds the key itself."""


def _raw(data: str | bytes | None) -> bytes | None:
    if data is None:
        return None
    return data.encode() if isinstance(data, str) else data


def signed_bytes(
    topic: str, key: bytes | None, ce_type: bytes | None, ce_id: bytes | None, value: bytes | None
) -> bytes:
    """The canonical form a signature covers. Absent and empty differ (a marker byte each)."""
    out = bytearray(_DOMAIN)
    for part in (topic.encode(), key, ce_type, ce_id, value):
        if part is None:
            out += b"\x00"
        else:
            out += b"\x01" + len(part).to_bytes(8, "big") + part
    return bytes(out)


def _header(headers: Sequence[tuple[str, str | bytes | None]], name: str) -> bytes | None:
    """The last value of a header (a record may repeat a name; the last one is the one read)."""
    found: bytes | None = None
    for header, value in headers:
        if header == name:
            found = _raw(value)
    return found


def _decode_b64(text: str) -> bytes:
    try:
        return base64.b64decode(text.strip() + "=" * (-len(text.strip()) % 4), altchars=b"-_")
    except (binascii.Error, ValueError):
        raise KeyFormatError("is not base64") from None


def private_key(text: str) -> Ed25519PrivateKey:
    raw = _decode_b64(text)
    if len(raw) != 32:
        raise KeyFormatError(f"decodes to {len(raw)} bytes; an Ed25519 private key is 32")
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key(text: str) -> Ed25519PublicKey:
    raw = _decode_b64(text)
    if len(raw) != 32:
        raise KeyFormatError(f"decodes to {len(raw)} bytes; an Ed25519 public key is 32")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise KeyFormatError("is not an Ed25519 public key") from None


def public_text(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


@dataclass(frozen=True)
class Signer:
    """Signs the records one service writes to its one signed topic."""

    kid: str
    key: Ed25519PrivateKey = field(repr=False)

    def sign(
        self, topic: str, key: str | bytes | None, value: str | bytes | None, headers: Headers
    ) -> Headers:
        """`headers` plus the signature headers (any earlier ones replaced)."""
        form = signed_bytes(
            topic,
            _raw(key),
            _header(headers, "ce_type"),
            _header(headers, "ce_id"),
            _raw(value),
        )
        signature = base64.b64encode(self.key.sign(form))
        kept = [(n, v) for n, v in headers if n not in (SIG_HEADER, KID_HEADER)]
        return [*kept, (KID_HEADER, self.kid.encode()), (SIG_HEADER, signature)]

    @property
    def public(self) -> str:
        return public_text(self.key)


@dataclass(frozen=True)
class Verifier:
    """Checks the records of one signed topic against the public keys trusted for it.

    `enforce=False` (signing turned off for local development) accepts everything."""

    topic: str
    keys: Mapping[str, Ed25519PublicKey] = field(repr=False)
    enforce: bool = True
    service: str = "hitl"  # the reading service, for its metrics

    def check(
        self,
        key: str | bytes | None,
        value: str | bytes | None,
        headers: Sequence[tuple[str, str | bytes | None]],
    ) -> Unverified | None:
        """None when a trusted key signed this record, else why it is not trusted."""
        if not self.enforce:
            return None
        return unverified_reason(self.topic, key, value, headers, self.keys)


def unverified_reason(
    topic: str,
    key: str | bytes | None,
    value: str | bytes | None,
    headers: Sequence[tuple[str, str | bytes | None]],
    keys: Mapping[str, Ed25519PublicKey],
) -> Unverified | None:
    kid, signature = _header(headers, KID_HEADER), _header(headers, SIG_HEADER)
    if kid is None and signature is None:
        return "unsigned"
    if kid is None or signature is None:
        return "malformed_signature"
    trusted = keys.get(kid.decode("utf-8", "replace"))
    if trusted is None:
        return "unknown_key"
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return "malformed_signature"
    if len(raw) != 64:
        return "malformed_signature"
    form = signed_bytes(
        topic, _raw(key), _header(headers, "ce_type"), _header(headers, "ce_id"), _raw(value)
    )
    try:
        trusted.verify(raw, form)
    except InvalidSignature:
        return "bad_signature"
    return None


def describe(
    reason: Unverified, topic: str, headers: Sequence[tuple[str, str | bytes | None]]
) -> str:
    """The dead letter's message: what is wrong and what the operator should look at."""
    kid = (_header(headers, KID_HEADER) or b"").decode("utf-8", "replace")[:64]
    what = {
        "unsigned": "no signature: only the owning service may write this topic",
        "unknown_key": f"signed with key id {kid!r}, which is not among the trusted keys",
        "malformed_signature": f"the {SIG_HEADER} or {KID_HEADER} header is missing or malformed",
        "bad_signature": f"the signature (key id {kid!r}) does not match the record: forged "
        "or altered after signing",
    }[reason]
    return f"unverified record on {topic}: {what}"


def signer_for(settings: ServiceSettings) -> Signer | None:
    """The service's signer (None when signing is turned off). Settings validation already
    checked that a service which signs has its key."""
    if _disabled(settings) or settings.signing_key is None or settings.signing_key_id is None:
        return None
    return Signer(settings.signing_key_id, private_key(settings.signing_key.get_secret_value()))


def verifier_for(settings: ServiceSettings, topic: str) -> Verifier:
    """The verifier of one signed topic: its configured public keys, plus the service's own key
    when the service itself writes that topic (router replicas read the thresholds they write)."""
    if _disabled(settings):
        return Verifier(topic, {}, enforce=False, service=settings.service_name)
    keys = {kid: public_key(text) for kid, text in getattr(settings, SIGNED_TOPICS[topic]).items()}
    own = signer_for(settings)
    if own is not None and settings.signed_topic() == topic:
        keys.setdefault(own.kid, own.key.public_key())
    for reason in REASONS:  # series at 0 from the start: the first refusal is an increase
        UNVERIFIED_EVENTS.labels(settings.service_name, topic, reason)
    return Verifier(topic, keys, service=settings.service_name)


def _disabled(settings: ServiceSettings) -> bool:
    SIGNING_DISABLED.labels(settings.service_name).set(1 if settings.signing_disabled else 0)
    if settings.signing_disabled:
        log.warning(
            "signing is turned off (HITL_SIGNING_DISABLED=true): forged decisions, models and "
            "thresholds are accepted; never run so in a shared deployment"
        )
    return settings.signing_disabled


def generate() -> tuple[str, str]:
    """A new key pair as (private, public), both base64 text."""
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes_raw()
    return base64.b64encode(raw).decode(), public_text(key)


def dev_env(kid: str = "dev") -> dict[str, str]:
    """HITL_* variables for one fresh key pair that signs and is trusted on every signed topic:
    for tests and local runs that want signing on without managing keys."""
    return {f"HITL_{name.upper()}": str(value) for name, value in dev_settings(kid).items()}


def dev_settings(kid: str = "dev") -> dict[str, Any]:
    """`dev_env` as settings fields, for a service built in-process (benchmarks); the key maps
    are JSON text, as in the environment (the settings read both)."""
    private, public = generate()
    trust = json.dumps({kid: public})
    fields: dict[str, Any] = {"signing_key_id": kid, "signing_key": private}
    fields.update({name: trust for name in SIGNED_TOPICS.values()})
    return fields


# The service that signs each signed topic (the key ids dev_service_env makes are named after it).
OWNERS = {"decisions": "review-api", "scorer-models": "feedback", "router-thresholds": "router"}


def dev_service_env() -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Fresh keys for a local stack (`make demo`, the simulator): a key pair per writing
    service, as in production. (variables every service gets: the public keys; variables of
    each writing service: its private key)."""
    shared: dict[str, str] = {}
    own: dict[str, dict[str, str]] = {}
    for topic_name, service in OWNERS.items():
        private, public = generate()
        kid = f"dev-{service}"
        shared[f"HITL_{SIGNED_TOPICS[topic_name].upper()}"] = json.dumps({kid: public})
        own[service] = {"HITL_SIGNING_KEY_ID": kid, "HITL_SIGNING_KEY": private}
    return shared, own


def main(argv: list[str] | None = None) -> int:
    """`hitl-keys new --kid review-api-2026-07`: a key pair, as the settings that carry it."""
    parser = argparse.ArgumentParser(prog="hitl-keys", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["new"])
    parser.add_argument("--kid", required=True, help="the key id, e.g. review-api-2026-07")
    args = parser.parse_args(argv)
    if not KEY_ID.match(args.kid):
        parser.error("--kid: 1 to 64 letters, digits, '.', '_' or '-'")
    private, public = generate()
    sys.stdout.write(
        f"# the writing service's secret (mount it from a secret store):\n"
        f"HITL_SIGNING_KEY_ID={args.kid}\nHITL_SIGNING_KEY={private}\n"
        f"# readers of its topic add this entry to HITL_<TOPIC>_VERIFY_KEYS (public):\n"
        f"{json.dumps({args.kid: public})}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
