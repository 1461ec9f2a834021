"""Who each Kafka client of the Helm chart signs in as (chart README, Kafka users).

Per-service ACLs only hold when every service signs in as its own principal, so the chart gives
each one a SASL user: its own `kafka.sasl.users.<service>` entry, else (with the Strimzi
KafkaUsers on) its KafkaUser and the Secret the User Operator makes for it, else the shared
`kafka.sasl` user. The topic Job signs in as `kafka.sasl.users.topics` or the shared user.
These tests render the chart offline (helm, as in test_deploy_manifests.py) and read the
variables each workload gets; wrong values must stop the render with the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.chartkit import (
    PRODUCTION,
    check_settings,
    clear_hitl_environment,
    component,
    containers,
    env_of,
    fake_env_value,
    helm_binary,
    of_kind,
    render,
    signing_values,
    template,
    write_signing_file,
)

pytestmark = pytest.mark.integration

# values key -> component name, for the four services; the Job's component is `topics`.
SERVICES = {
    "scorer": "scorer",
    "router": "router",
    "reviewApi": "review-api",
    "feedback": "feedback",
}
PRINCIPALS = {
    "scorer": "hitl-scorer",
    "router": "hitl-router",
    "reviewApi": "hitl-review-api",
    "feedback": "hitl-feedback",
}
SCRAM = {"securityProtocol": "SASL_SSL", "sasl": {"mechanism": "SCRAM-SHA-512"}}
STRIMZI = {"acls": {"strimzi": {"enabled": True, "cluster": "prod-kafka"}}}
SHARED = {"username": "hitl-gate", "existingSecret": "hitl-kafka", "passwordKey": "pw"}
ADMIN = {"username": "hitl-admin", "existingSecret": "hitl-kafka-admin"}


@pytest.fixture(scope="module")
def helm() -> str:
    return helm_binary()


@pytest.fixture(scope="module")
def signing_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_signing_file(tmp_path_factory.mktemp("signing"), signing_values())


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    """Values layered like several -f files: later maps win, key by key."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merged(out[key], value)
            else:
                out[key] = value
    return out


def kafka(**sasl: Any) -> dict[str, Any]:
    """SASL_SSL with SCRAM-SHA-512 and these `kafka.sasl` values."""
    return {"kafka": merged(SCRAM, {"sasl": sasl})}


def values_args(tmp_path: Path, signing_file: Path, values: dict[str, Any]) -> list[str]:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return ["-f", str(signing_file), "-f", str(path)]


def users_of(docs: list[dict[str, Any]]) -> dict[str, tuple[str | None, dict[str, Any] | None]]:
    """component -> (HITL_KAFKA_SASL_USERNAME, the password's secretKeyRef) of every workload."""
    out = {}
    for workload in of_kind(docs, "StatefulSet", "Deployment", "Job"):
        (container,) = containers(workload)
        env = env_of(container)
        username = env.get("HITL_KAFKA_SASL_USERNAME", {}).get("value")
        password = env.get("HITL_KAFKA_SASL_PASSWORD")
        ref = None if password is None else password["valueFrom"]["secretKeyRef"]
        out[component(workload)] = (username, ref)
    return out


def signed_in(username: str, secret: str, key: str = "password") -> tuple[str, dict[str, str]]:
    return (username, {"name": secret, "key": key})


def test_without_sasl_no_service_gets_a_user(helm: str, signing_file: Path) -> None:
    users = users_of(render(helm, "-f", str(signing_file)))
    assert set(users) == {*SERVICES.values(), "topics"}
    assert set(users.values()) == {(None, None)}


def test_each_service_signs_in_as_its_own_user(
    helm: str, signing_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = {key: {"username": f"user-{key}", "existingSecret": f"secret-{key}"} for key in SERVICES}
    own["feedback"]["passwordKey"] = "feedback-password"
    docs = render(
        helm,
        *values_args(tmp_path, signing_file, kafka(**SHARED, users={**own, "topics": ADMIN})),
    )
    assert users_of(docs) == {
        "scorer": signed_in("user-scorer", "secret-scorer"),
        "router": signed_in("user-router", "secret-router"),
        "review-api": signed_in("user-reviewApi", "secret-reviewApi"),
        "feedback": signed_in("user-feedback", "secret-feedback", "feedback-password"),
        "topics": signed_in("hitl-admin", "hitl-kafka-admin"),
    }
    # What each service gets is a whole set of its settings: user, mechanism and password.
    clear_hitl_environment(monkeypatch)
    for workload in of_kind(docs, "StatefulSet", "Deployment"):
        (container,) = containers(workload)
        env = {n: fake_env_value(n, e) for n, e in env_of(container).items()}
        assert env["HITL_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        check_settings(component(workload), env)


def test_clients_without_a_user_of_their_own_share_kafka_sasl(
    helm: str, signing_file: Path, tmp_path: Path
) -> None:
    own = {"router": {"username": "hitl-router", "existingSecret": "hitl-kafka-router"}}
    users = users_of(render(helm, *values_args(tmp_path, signing_file, kafka(**SHARED, users=own))))
    shared = signed_in("hitl-gate", "hitl-kafka", "pw")
    assert users == {
        "scorer": shared,
        "router": signed_in("hitl-router", "hitl-kafka-router"),
        "review-api": shared,
        "feedback": shared,
        "topics": shared,
    }


def test_strimzi_kafka_users_give_each_service_its_own_credentials(
    helm: str, signing_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The shared user is set too: the KafkaUsers still win for the services, and the shared
    # user is left to the topic Job, which no KafkaUser may serve.
    docs = render(helm, *values_args(tmp_path, signing_file, merged(kafka(**SHARED), STRIMZI)))
    users = users_of(docs)
    assert users == {
        **{
            name: signed_in(PRINCIPALS[key], PRINCIPALS[key])  # the User Operator's Secret
            for key, name in SERVICES.items()
        },
        "topics": signed_in("hitl-gate", "hitl-kafka", "pw"),
    }
    # Each service's user is a KafkaUser the chart renders, carrying that service's ACLs.
    kafka_users = {u["metadata"]["name"] for u in of_kind(docs, "KafkaUser")}
    assert {users[name][0] for name in SERVICES.values()} <= kafka_users
    clear_hitl_environment(monkeypatch)
    for workload in of_kind(docs, "StatefulSet", "Deployment"):
        (container,) = containers(workload)
        check_settings(
            component(workload), {n: fake_env_value(n, e) for n, e in env_of(container).items()}
        )


def test_an_own_user_beats_the_strimzi_kafka_user(
    helm: str, signing_file: Path, tmp_path: Path
) -> None:
    own = {
        "scorer": {"username": "hitl-scorer", "existingSecret": "kafka-hitl-scorer"},
        "topics": ADMIN,
    }
    users = users_of(
        render(helm, *values_args(tmp_path, signing_file, merged(kafka(users=own), STRIMZI)))
    )
    assert users["scorer"] == signed_in("hitl-scorer", "kafka-hitl-scorer")
    assert users["router"] == signed_in("hitl-router", "hitl-router")
    assert users["topics"] == signed_in("hitl-admin", "hitl-kafka-admin")


def test_production_example_gives_every_client_its_own_user(helm: str, signing_file: Path) -> None:
    production = yaml.safe_load(PRODUCTION.read_text())
    assert not production["kafka"]["sasl"].get("username"), "the example shares no user"
    users = users_of(render(helm, "-f", str(PRODUCTION), "-f", str(signing_file)))
    given = production["kafka"]["sasl"]["users"]
    for key, name in SERVICES.items():
        # the services' users are the principals the ACLs are written for
        assert given[key]["username"] == PRINCIPALS[key]
        assert users[name] == signed_in(given[key]["username"], given[key]["existingSecret"])
    assert users["topics"] == signed_in(
        given["topics"]["username"], given["topics"]["existingSecret"]
    )
    assert len({secret["name"] for _, secret in users.values() if secret}) == len(users)


def test_a_disabled_service_needs_no_user(helm: str, signing_file: Path, tmp_path: Path) -> None:
    own = {key: {"username": key, "existingSecret": key} for key in ("scorer", "router")}
    values = merged(
        kafka(users={**own, "topics": ADMIN}),
        {"reviewApi": {"enabled": False}, "feedback": {"enabled": False}},
    )
    users = users_of(render(helm, *values_args(tmp_path, signing_file, values)))
    assert set(users) == {"scorer", "router", "topics"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            kafka(users={"scorer": {"username": "hitl-scorer"}}),
            "kafka.sasl.users.scorer is incomplete: set both kafka.sasl.users.scorer.username and"
            " kafka.sasl.users.scorer.existingSecret",
        ),
        (
            kafka(users={"reviewApi": {"existingSecret": "s"}}),
            "kafka.sasl.users.reviewApi is incomplete",
        ),
        (
            kafka(users={"feedback": {"passwordKey": "k"}}),
            "kafka.sasl.users.feedback is incomplete",
        ),
        (
            kafka(users={"topics": {"username": "hitl-admin"}}),
            "kafka.sasl.users.topics is incomplete",
        ),
        (
            merged(kafka(users={"router": {"username": "r"}}), STRIMZI),
            "or remove the entry to sign in as its KafkaUser, acls.principals.router",
        ),
        (
            kafka(**SHARED, users={"review-api": {"username": "u", "existingSecret": "s"}}),
            "kafka.sasl.users.review-api: the chart runs no such Kafka client; use scorer, router,"
            " reviewApi, feedback or topics",
        ),
        (
            kafka(**SHARED, users={"scorer": {"username": "u", "password": "p"}}),
            "kafka.sasl.users.scorer.password is not a setting",
        ),
        (kafka(**SHARED, users={"scorer": "hitl-scorer"}), "kafka.sasl.users.scorer must be a map"),
        (
            {"kafka": {"sasl": {"users": {"scorer": {"username": "u", "existingSecret": "s"}}}}},
            "kafka.sasl.users.scorer is set but kafka.securityProtocol is PLAINTEXT",
        ),
        (
            kafka(username="hitl-gate"),
            "kafka.sasl.username and kafka.sasl.existingSecret go together",
        ),
        (
            kafka(),
            "scorer has no SASL user with kafka.securityProtocol SASL_SSL and mechanism"
            " SCRAM-SHA-512. Fix: set its own kafka.sasl.users.scorer.username and"
            " .existingSecret",
        ),
        (
            kafka(users={"scorer": {"username": "u", "existingSecret": "s"}}),
            "router has no SASL user",
        ),
        (
            kafka(users={key: {"username": key, "existingSecret": key} for key in SERVICES}),
            "the topic Job (topics.create) has no SASL user with kafka.securityProtocol SASL_SSL."
            " Fix: set kafka.sasl.users.topics.username and .existingSecret, an admin user",
        ),
        (
            merged(kafka(), STRIMZI),
            "the topic Job (topics.create) has no SASL user with kafka.securityProtocol SASL_SSL"
            " (the chart's KafkaUsers may not create topics",
        ),
        (
            merged(
                kafka(users={"topics": ADMIN}), STRIMZI, {"acls": {"principals": {"feedback": ""}}}
            ),
            "or acls.principals.feedback (the name of its KafkaUser)",
        ),
        (
            merged(kafka(mechanism="SCRAM-SHA-256", users={"topics": ADMIN}), STRIMZI),
            "scorer signs in as its KafkaUser hitl-scorer (acls.strimzi.authentication"
            " scram-sha-512), a SCRAM-SHA-512 user, but kafka.sasl.mechanism is SCRAM-SHA-256",
        ),
        (
            STRIMZI,
            "acls.strimzi.authentication scram-sha-512 makes SCRAM users, but"
            " kafka.securityProtocol is PLAINTEXT",
        ),
    ],
)
def test_missing_or_wrong_users_stop_the_render_with_the_fix(
    helm: str, signing_file: Path, tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    result = template(helm, *values_args(tmp_path, signing_file, values))
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_topics_create_off_needs_no_admin_user(
    helm: str, signing_file: Path, tmp_path: Path
) -> None:
    values = merged(kafka(), STRIMZI, {"topics": {"create": False}})
    users = users_of(render(helm, *values_args(tmp_path, signing_file, values)))
    assert "topics" not in users
    assert users["feedback"] == signed_in("hitl-feedback", "hitl-feedback")
