"""Signed events (hitl_runtime.signing): sign, verify, rotate, tamper; and the settings that
carry the keys, which stop a service at start when a key it needs is missing or malformed."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from feedback.config import FeedbackSettings
from hitl_runtime.settings import ServiceSettings, SettingsError, load_settings
from hitl_runtime.signing import (
    KID_HEADER,
    SIG_HEADER,
    SIGNED_TOPICS,
    Headers,
    Signer,
    Verifier,
    generate,
    main,
    private_key,
    public_key,
    signed_bytes,
    signer_for,
    unverified_reason,
    verifier_for,
)
from review_api.config import ReviewApiSettings
from router.config import RouterSettings
from scorer.config import ScorerSettings

OLD_PRIVATE, OLD_PUBLIC = generate()
NEW_PRIVATE, NEW_PUBLIC = generate()
OTHER_PRIVATE, _ = generate()
OLD = Signer("k-old", private_key(OLD_PRIVATE))
NEW = Signer("k-new", private_key(NEW_PRIVATE))
TRUSTED = {"k-old": public_key(OLD_PUBLIC), "k-new": public_key(NEW_PUBLIC)}
CE: Headers = [("ce_id", b"d-1"), ("ce_type", b"io.hitlgate.decision.v1"), ("ce_source", b"/x")]
KEY, VALUE = b"draft-1", b'{"verdict": "approve"}'


def signed(signer: Signer = NEW) -> Headers:
    return signer.sign("decisions", KEY, VALUE, list(CE))


def replace(headers: Headers, name: str, value: bytes | None) -> Headers:
    return [(n, value if n == name else v) for n, v in headers]


def drop(headers: Headers, name: str) -> Headers:
    return [(n, v) for n, v in headers if n != name]


def flip_last_byte(headers: Headers) -> Headers:
    raw = bytearray(base64.b64decode(dict(headers)[SIG_HEADER] or b""))
    raw[-1] ^= 1
    return replace(headers, SIG_HEADER, base64.b64encode(bytes(raw)))


# (case, topic, key, value, headers, expected reason)
CASES: list[tuple[str, str, bytes | None, bytes | None, Callable[[], Headers], str | None]] = [
    ("signed by the active key", "decisions", KEY, VALUE, signed, None),
    ("signed by the previous key (rotation)", "decisions", KEY, VALUE, lambda: signed(OLD), None),
    ("no signature at all", "decisions", KEY, VALUE, lambda: list(CE), "unsigned"),
    ("value altered", "decisions", KEY, VALUE.replace(b"approve", b"reject"), signed,
     "bad_signature"),
    ("one byte appended", "decisions", KEY, VALUE + b" ", signed, "bad_signature"),
    ("key altered", "decisions", b"draft-2", VALUE, signed, "bad_signature"),
    ("key removed", "decisions", None, VALUE, signed, "bad_signature"),
    ("value removed", "decisions", KEY, None, signed, "bad_signature"),
    ("replayed onto another topic", "scorer-models", KEY, VALUE, signed, "bad_signature"),
    ("ce_type altered", "decisions", KEY, VALUE,
     lambda: replace(signed(), "ce_type", b"io.hitlgate.draft.v1"), "bad_signature"),
    ("ce_id altered (a new identity)", "decisions", KEY, VALUE,
     lambda: replace(signed(), "ce_id", b"d-2"), "bad_signature"),
    ("ce_id removed", "decisions", KEY, VALUE, lambda: drop(signed(), "ce_id"), "bad_signature"),
    ("ce_source altered (not signed: the key says who)", "decisions", KEY, VALUE,
     lambda: replace(signed(), "ce_source", b"/elsewhere"), None),
    ("signature bit flipped", "decisions", KEY, VALUE, lambda: flip_last_byte(signed()),
     "bad_signature"),
    ("untrusted key under a trusted id", "decisions", KEY, VALUE,
     lambda: signed(Signer("k-new", private_key(OTHER_PRIVATE))), "bad_signature"),
    ("untrusted key id", "decisions", KEY, VALUE,
     lambda: signed(Signer("k-rogue", private_key(OTHER_PRIVATE))), "unknown_key"),
    ("key id without signature", "decisions", KEY, VALUE, lambda: drop(signed(), SIG_HEADER),
     "malformed_signature"),
    ("signature without key id", "decisions", KEY, VALUE, lambda: drop(signed(), KID_HEADER),
     "malformed_signature"),
    ("signature not base64", "decisions", KEY, VALUE,
     lambda: replace(signed(), SIG_HEADER, b"%%%"), "malformed_signature"),
    ("signature too short", "decisions", KEY, VALUE,
     lambda: replace(signed(), SIG_HEADER, base64.b64encode(b"x" * 63)), "malformed_signature"),
    ("signature header empty", "decisions", KEY, VALUE,
     lambda: replace(signed(), SIG_HEADER, None), "malformed_signature"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("topic", "key", "value", "headers", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_verification_cases(
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: Callable[[], Headers],
    expected: str | None,
) -> None:
    assert unverified_reason(topic, key, value, headers(), TRUSTED) == expected


def test_a_retired_key_is_refused_and_the_new_one_accepted() -> None:
    after_rotation = Verifier("decisions", {"k-new": TRUSTED["k-new"]})
    assert after_rotation.check(KEY, VALUE, signed(OLD)) == "unknown_key"
    assert after_rotation.check(KEY, VALUE, signed(NEW)) is None


def test_a_verifier_turned_off_accepts_anything() -> None:
    assert Verifier("decisions", {}, enforce=False).check(KEY, VALUE, []) is None


def test_signing_again_replaces_the_old_signature() -> None:
    twice = NEW.sign("decisions", KEY, VALUE, OLD.sign("decisions", KEY, VALUE, list(CE)))
    assert [n for n, _ in twice].count(SIG_HEADER) == 1
    assert dict(twice)[KID_HEADER] == b"k-new"
    assert unverified_reason("decisions", KEY, VALUE, twice, TRUSTED) is None


def test_absent_and_empty_parts_sign_differently() -> None:
    forms = {
        signed_bytes("decisions", None, b"t", b"i", b"v"),
        signed_bytes("decisions", b"", b"t", b"i", b"v"),
        signed_bytes("decisions", b"t", b"", b"i", b"v"),
        signed_bytes("decisions", b"", b"ti", b"", b"v"),
    }
    assert len(forms) == 4


def test_the_private_key_never_shows_in_repr() -> None:
    assert OLD_PRIVATE not in repr(OLD)
    settings = ReviewApiSettings(signing_key_id="k", signing_key=OLD_PRIVATE)
    assert OLD_PRIVATE not in repr(settings) and OLD_PRIVATE not in str(settings.model_dump())


# --- settings -------------------------------------------------------------------------------

SIGNING_ENV = ["HITL_SIGNING_KEY", "HITL_SIGNING_KEY_ID", "HITL_SIGNING_DISABLED",
               *(f"HITL_{name.upper()}" for name in SIGNED_TOPICS.values())]  # fmt: skip


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment with no signing settings (the test run sets some for every test)."""
    for name in SIGNING_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


TRUST = json.dumps({"k-old": OLD_PUBLIC})
# (case, settings class, environment, words the error must hold (None: it starts))
SETTINGS_CASES: list[tuple[str, type[ServiceSettings], dict[str, str], list[str] | None]] = [
    ("review-api without its key", ReviewApiSettings,
     {"HITL_ROUTER_THRESHOLDS_VERIFY_KEYS": TRUST}, ["HITL_SIGNING_KEY is required", "hitl-keys"]),
    ("review-api without the router's keys", ReviewApiSettings,
     {"HITL_SIGNING_KEY": OLD_PRIVATE, "HITL_SIGNING_KEY_ID": "k-old"},
     ["HITL_ROUTER_THRESHOLDS_VERIFY_KEYS is required"]),
    ("review-api complete", ReviewApiSettings,
     {"HITL_SIGNING_KEY": OLD_PRIVATE, "HITL_SIGNING_KEY_ID": "k-old",
      "HITL_ROUTER_THRESHOLDS_VERIFY_KEYS": TRUST}, None),
    ("scorer without feedback's keys", ScorerSettings, {},
     ["HITL_SCORER_MODELS_VERIFY_KEYS is required", "HITL_SIGNING_DISABLED"]),
    ("scorer with them (it signs nothing)", ScorerSettings,
     {"HITL_SCORER_MODELS_VERIFY_KEYS": TRUST}, None),
    ("router: its own key verifies the thresholds it writes", RouterSettings,
     {"HITL_SIGNING_KEY": OLD_PRIVATE, "HITL_SIGNING_KEY_ID": "k-old",
      "HITL_DECISIONS_VERIFY_KEYS": TRUST}, None),
    ("router without review-api's keys", RouterSettings,
     {"HITL_SIGNING_KEY": OLD_PRIVATE, "HITL_SIGNING_KEY_ID": "k-old"},
     ["HITL_DECISIONS_VERIFY_KEYS is required"]),
    ("feedback replica that does not retrain needs no private key", FeedbackSettings,
     {"HITL_RETRAIN_ENABLED": "false", "HITL_DECISIONS_VERIFY_KEYS": TRUST}, None),
    ("feedback replica that retrains does", FeedbackSettings,
     {"HITL_DECISIONS_VERIFY_KEYS": TRUST}, ["HITL_SIGNING_KEY is required", "scorer-models"]),
    ("key without its id", ScorerSettings,
     {"HITL_SCORER_MODELS_VERIFY_KEYS": TRUST, "HITL_SIGNING_KEY": OLD_PRIVATE},
     ["HITL_SIGNING_KEY_ID go together"]),
    ("malformed private key", ReviewApiSettings,
     {"HITL_SIGNING_KEY": "bm90IGEga2V5", "HITL_SIGNING_KEY_ID": "k"},
     ["HITL_SIGNING_KEY:", "32", "Fix: set HITL_SIGNING_KEY"]),
    ("private key not base64", ReviewApiSettings,
     {"HITL_SIGNING_KEY": "sec%ret", "HITL_SIGNING_KEY_ID": "k"}, ["HITL_SIGNING_KEY:", "base64"]),
    ("malformed public key", ScorerSettings,
     {"HITL_SCORER_MODELS_VERIFY_KEYS": json.dumps({"k": "c2hvcnQ="})},
     ["HITL_SCORER_MODELS_VERIFY_KEYS:", "'k'", "JSON map"]),
    ("bad key id in the trust map", ScorerSettings,
     {"HITL_SCORER_MODELS_VERIFY_KEYS": json.dumps({"a b": OLD_PUBLIC})},
     ["HITL_SCORER_MODELS_VERIFY_KEYS:", "'a b'"]),
    ("trust map not JSON", ScorerSettings, {"HITL_SCORER_MODELS_VERIFY_KEYS": "k=abc"},
     ["HITL_SCORER_MODELS_VERIFY_KEYS"]),
    ("turned off explicitly (local development)", ReviewApiSettings,
     {"HITL_SIGNING_DISABLED": "true"}, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("cls", "env", "words"),
    [case[1:] for case in SETTINGS_CASES],
    ids=[case[0] for case in SETTINGS_CASES],
)
def test_signing_settings(
    no_keys: pytest.MonkeyPatch,
    cls: type[ServiceSettings],
    env: dict[str, str],
    words: list[str] | None,
) -> None:
    for name, value in env.items():
        no_keys.setenv(name, value)
    if words is None:
        load_settings(cls)
        return
    with pytest.raises(SettingsError) as raised:
        load_settings(cls)
    message = str(raised.value)
    for word in words:
        assert word in message, message
    for secret in (OLD_PRIVATE, "bm90IGEga2V5", "sec%ret"):
        assert secret not in message  # a key, even a broken one, is never echoed


def test_settings_build_the_signer_and_the_verifiers(no_keys: pytest.MonkeyPatch) -> None:
    settings: Any = RouterSettings(
        signing_key_id="router-1", signing_key=OLD_PRIVATE, decisions_verify_keys={"r": NEW_PUBLIC}
    )
    signer = signer_for(settings)
    assert signer is not None and signer.kid == "router-1"
    thresholds = verifier_for(settings, "router-thresholds")
    assert thresholds.check(KEY, VALUE, signer.sign("router-thresholds", KEY, VALUE, [])) is None
    decisions = verifier_for(settings, "decisions")  # its own key is not trusted for decisions
    assert decisions.check(KEY, VALUE, signer.sign("decisions", KEY, VALUE, [])) == "unknown_key"
    assert decisions.check(KEY, VALUE, NEW.sign("decisions", KEY, VALUE, [])) == "unknown_key"
    assert (
        decisions.check(KEY, VALUE, Signer("r", NEW.key).sign("decisions", KEY, VALUE, [])) is None
    )
    off: Any = RouterSettings(signing_disabled=True)
    assert signer_for(off) is None and verifier_for(off, "decisions").enforce is False


def test_keygen_prints_a_working_pair(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "--kid", "review-api-2026-07"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    env = dict(line.split("=", 1) for line in lines[:2])
    trust = json.loads(lines[2])
    signer = Signer(env["HITL_SIGNING_KEY_ID"], private_key(env["HITL_SIGNING_KEY"]))
    verifier = Verifier("decisions", {k: public_key(v) for k, v in trust.items()})
    assert verifier.check(KEY, VALUE, signer.sign("decisions", KEY, VALUE, [])) is None


def test_a_local_stack_gets_a_key_pair_per_writing_service(no_keys: pytest.MonkeyPatch) -> None:
    from hitl_runtime.signing import OWNERS, dev_service_env

    shared, own = dev_service_env()
    for topic_name, service in OWNERS.items():
        env = shared | own[service]
        signer = Signer(env["HITL_SIGNING_KEY_ID"], private_key(env["HITL_SIGNING_KEY"]))
        for other in SIGNED_TOPICS:
            trust = json.loads(shared[f"HITL_{SIGNED_TOPICS[other].upper()}"])
            verifier = Verifier(other, {k: public_key(v) for k, v in trust.items()})
            reason = verifier.check(KEY, VALUE, signer.sign(other, KEY, VALUE, []))
            assert (reason is None) == (other == topic_name), (service, other, reason)
