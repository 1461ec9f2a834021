"""Shared runtime without a broker: settings errors, CloudEvents headers, logging."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from hitl_runtime.cloudevents import ce_headers, read_headers
from hitl_runtime.kafka import Throttle, client_config
from hitl_runtime.logs import JsonFormatter
from hitl_runtime.settings import ServiceSettings, SettingsError, load_settings
from hitl_schemas import examples


@pytest.mark.parametrize(
    ("env", "value", "words"),
    [
        ("HITL_KAFKA_BOOTSTRAP", "localhost", "host:port"),
        ("HITL_KAFKA_BOOTSTRAP", "a:1,,b", "host:port"),
        ("HITL_KAFKA_SECURITY_PROTOCOL", "TLS", "PLAINTEXT"),
        ("HITL_METRICS_PORT", "70000", "less than or equal"),
        ("HITL_MAX_TEXT_CHARS", "ten", "integer"),
        ("HITL_LOG_LEVEL", "chatty", "DEBUG"),
        ("HITL_TOPIC_PREFIX", "a b", "pattern"),
    ],
)
def test_a_bad_setting_names_the_variable_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, words: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(ServiceSettings)
    text = str(caught.value)
    assert env in text
    assert "Fix: set" in text
    assert words in text


def test_sasl_without_credentials_is_refused_without_echoing_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HITL_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("HITL_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("HITL_KAFKA_SASL_PASSWORD", "hunter2-secret")
    with pytest.raises(SettingsError) as caught:
        load_settings(ServiceSettings)
    assert "kafka_sasl_username" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_sasl_settings_reach_the_client_config_and_the_password_stays_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HITL_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("HITL_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("HITL_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("HITL_KAFKA_SASL_PASSWORD", "hunter2-secret")
    settings = load_settings(ServiceSettings)
    assert "hunter2" not in repr(settings)
    conf = client_config(settings)
    assert conf["sasl.password"] == "hunter2-secret"
    assert conf["security.protocol"] == "SASL_SSL"


def test_defaults_point_at_the_local_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HITL_KAFKA_BOOTSTRAP", raising=False)  # a developer's own broker
    settings = load_settings(ServiceSettings)
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.limits.max_text_chars == 50_000


def test_cloudevents_headers_follow_the_kafka_binding() -> None:
    when = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    headers = ce_headers(
        examples.draft(), source="/hitl-gate/scorer", subject="d-1", event_id="id-1", time=when
    )
    read = read_headers(headers)
    assert read == {
        "ce_specversion": "1.0",
        "ce_id": "id-1",
        "ce_source": "/hitl-gate/scorer",
        "ce_type": "io.hitlgate.draft.v1",
        "ce_time": "2026-11-02T09:30:00Z",
        "content-type": "application/json",
        "ce_subject": "d-1",
    }
    assert all(isinstance(v, bytes) for _, v in headers)


def test_read_headers_ignores_other_headers_and_tolerates_none() -> None:
    assert read_headers([("trace", b"x"), ("ce_id", None)]) == {}
    assert read_headers(None) == {}


def test_json_log_lines_carry_fields() -> None:
    record = logging.LogRecord("svc", logging.INFO, __file__, 1, "scored %d", (3,), None)
    record.fields = {"batch": 3}
    line = json.loads(JsonFormatter("scorer").format(record))
    assert line["msg"] == "scored 3"
    assert line["batch"] == 3
    assert line["service"] == "scorer"
    assert line["level"] == "info"


@pytest.mark.parametrize(
    ("times", "admitted"),
    [
        ([0.0], [0]),  # the first of its kind always gets through
        ([0.0, 1.0, 2.0], [0, None, None]),  # repeats inside the window are held back
        ([0.0, 1.0, 2.0, 31.0], [0, None, None, 2]),  # the next line says how many were held
        ([0.0, 30.0, 60.0], [0, 0, 0]),  # one per window is never held
    ],
)
def test_the_throttle_lets_one_line_through_per_window_and_counts_the_rest(
    times: list[float], admitted: list[int | None]
) -> None:
    clock = iter(times)
    throttle = Throttle(every=30.0, clock=lambda: next(clock))
    assert [throttle.admit("_TRANSPORT") for _ in times] == admitted


def test_the_throttle_keeps_kinds_apart() -> None:
    throttle = Throttle(every=30.0, clock=lambda: 0.0)
    assert throttle.admit("_TRANSPORT") == 0
    assert throttle.admit("_ALL_BROKERS_DOWN") == 0
    assert throttle.admit("_TRANSPORT") is None
