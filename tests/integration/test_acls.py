"""The per-service Kafka ACLs of the Helm values (`acls` in deploy/helm/hitl-gate/values.yaml),
applied on a private broker with SASL/PLAIN and the KRaft StandardAuthorizer: each principal
writes only the topics it owns. A producer application is refused `decisions`
(TOPIC_AUTHORIZATION_FAILED) while review-api writes it; only feedback writes `scorer-models`.

The broker runs from the jars of deploy/local/kafka.sh on free ports of its own, never the
shared broker's; it is stopped at the end of the module.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from hitl_runtime.kafka import make_admin, make_producer
from hitl_runtime.settings import ServiceSettings
from hitl_runtime.topics import create_topics
from hitl_sim.infra import free_port_pair
from testkit import wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
JARS = ROOT / ".local" / "kafka" / "jars"
VALUES = ROOT / "deploy" / "helm" / "hitl-gate" / "values.yaml"
PREFIX = "acl."
ADMIN = ("admin", "admin-secret")
RESOURCES = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "transactionalId": ResourceType.TRANSACTIONAL_ID,
}
PATTERNS = {"literal": ResourcePatternType.LITERAL, "prefixed": ResourcePatternType.PREFIXED}


def acl_bindings(rules: list[dict[str, Any]], principal: str, prefix: str) -> list[AclBinding]:
    """The Helm values' rules of one principal as Kafka ACL bindings (as the KafkaUser does)."""
    out = []
    for rule in rules:
        name = f"{prefix}{rule['name']}" if rule.get("scoped", True) else rule["name"]
        for operation in rule["operations"]:
            out.append(
                AclBinding(
                    RESOURCES[rule["type"]],
                    name,
                    PATTERNS[rule.get("patternType", "literal")],
                    f"User:{principal}",
                    "*",
                    AclOperation[_snake(operation)],
                    AclPermissionType.ALLOW,
                )
            )
    return out


def _snake(operation: str) -> str:
    return "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(operation)).upper()


def _properties(state: Path, port: int, users: dict[str, str]) -> Path:
    everyone = {ADMIN[0]: ADMIN[1], **users}  # the broker's own login is a user too
    jaas_users = " ".join(f'user_{name}="{password}"' for name, password in everyone.items())
    props = state / "server.properties"
    props.write_text(
        f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{port + 1}
listeners=SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{port + 1}
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=\
org.apache.kafka.common.security.plain.PlainLoginModule required \
username="{ADMIN[0]}" password="{ADMIN[1]}" {jaas_users};
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:{ADMIN[0]};User:ANONYMOUS
log.dirs={state / "data"}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
"""
    )
    return props


def settings_of(bootstrap: str, user: str, password: str) -> ServiceSettings:
    return ServiceSettings(
        kafka_bootstrap=bootstrap,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username=user,
        kafka_sasl_password=password,
        topic_prefix=PREFIX,
        service_name="acl-test",
    )


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(VALUES.read_text())["acls"]
    return loaded


@pytest.fixture(scope="module")
def passwords(values: dict[str, Any]) -> dict[str, str]:
    return {principal: uuid.uuid4().hex for principal in values["principals"].values()}


@pytest.fixture(scope="module")
def sasl_broker(
    tmp_path_factory: pytest.TempPathFactory, passwords: dict[str, str]
) -> Iterator[str]:
    # On a fresh clone this may run before any broker has started: fetch the jars the way the
    # local broker does (from Maven Central, once).
    fetched = subprocess.run(  # noqa: S603 - our own script
        [str(ROOT / "deploy" / "local" / "kafka.sh"), "jars"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if fetched.returncode != 0 or not JARS.is_dir():
        pytest.fail(f"could not fetch the broker jars into {JARS}:\n{fetched.stderr[-2000:]}")
    state = tmp_path_factory.mktemp("sasl-kafka")
    port = free_port_pair()
    props = _properties(state, port, passwords)
    log4j = ROOT / "deploy" / "local" / "log4j2.properties"
    java = [
        "java",
        "-Xms128m",
        "-Xmx384m",
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp",
        f"{JARS}/*",
    ]
    cluster = subprocess.run(  # noqa: S603 - our own arguments
        [*java, "kafka.tools.StorageTool", "random-uuid"], capture_output=True, text=True,
        check=True, timeout=120,
    ).stdout.strip()  # fmt: skip
    subprocess.run(  # noqa: S603
        [*java, "kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(props)],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    log = (state / "broker.log").open("wb")
    broker = subprocess.Popen([*java, "kafka.Kafka", str(props)], stdout=log, stderr=log)  # noqa: S603
    bootstrap = f"127.0.0.1:{port}"
    admin = make_admin(settings_of(bootstrap, *ADMIN))
    deadline = time.monotonic() + 120
    while True:
        try:
            admin.list_topics(timeout=5)
            break
        except KafkaException:
            if broker.poll() is not None or time.monotonic() > deadline:
                tail = (state / "broker.log").read_text()[-3000:]
                pytest.fail(f"SASL broker did not start:\n{tail}")
            time.sleep(0.5)  # the broker is starting; bounded by the deadline
    try:
        yield bootstrap
    finally:
        broker.terminate()
        try:
            broker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def granted(sasl_broker: str, values: dict[str, Any], passwords: dict[str, str]) -> str:
    """The registered topics under PREFIX, and every principal's ACLs from the Helm values."""
    admin = make_admin(settings_of(sasl_broker, *ADMIN))
    create_topics(admin, prefix=PREFIX, partitions=1)
    bindings = [
        binding
        for key, principal in values["principals"].items()
        for binding in acl_bindings(values["rules"][key], principal, PREFIX)
    ]
    for future in admin.create_acls(bindings).values():
        future.result(timeout=30)
    # Created is not yet in force: the authorizer applies them from the metadata log. It
    # describes what it enforces, so wait until it describes them all.
    every = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                             AclOperation.ANY, AclPermissionType.ANY)  # fmt: skip
    wait_for(
        lambda: len(admin.describe_acls(every).result(timeout=10)) >= len(bindings),
        timeout=60,
        what="the ACLs in force",
    )
    return sasl_broker


def write(bootstrap: str, user: str, password: str, topic_name: str) -> str | None:
    """Produce one record as `user`: None when the broker took it, else the error's name."""
    producer = make_producer(
        settings_of(bootstrap, user, password), **{"message.timeout.ms": 20000}
    )
    errors: list[KafkaError] = []
    producer.produce(f"{PREFIX}{topic_name}", b"{}", b"k",
                     on_delivery=lambda err, _msg: errors.append(err))  # fmt: skip
    producer.flush(30)
    assert len(errors) == 1, "no delivery report within 30 s"
    return None if errors[0] is None else str(errors[0].name())


# (principal key in the values, topic, expected error)
CASES = [
    ("producer", "drafts", None),
    ("producer", "decisions", "TOPIC_AUTHORIZATION_FAILED"),
    ("producer", "scorer-models", "TOPIC_AUTHORIZATION_FAILED"),
    ("producer", "router-thresholds", "TOPIC_AUTHORIZATION_FAILED"),
    ("reviewApi", "decisions", None),
    ("reviewApi", "scorer-models", "TOPIC_AUTHORIZATION_FAILED"),
    ("feedback", "scorer-models", None),
    ("feedback", "decisions", "TOPIC_AUTHORIZATION_FAILED"),
    ("router", "router-thresholds", None),
    ("router", "decisions", "TOPIC_AUTHORIZATION_FAILED"),
    ("scorer", "scored", None),
    ("scorer", "scorer-models", "TOPIC_AUTHORIZATION_FAILED"),
]


@pytest.mark.parametrize(("who", "topic_name", "expected"), CASES)
def test_each_principal_writes_only_what_it_owns(
    granted: str,
    values: dict[str, Any],
    passwords: dict[str, str],
    who: str,
    topic_name: str,
    expected: str | None,
) -> None:
    principal = values["principals"][who]
    assert write(granted, principal, passwords[principal], topic_name) == expected


def test_the_rules_name_only_known_operations_and_resources(values: dict[str, Any]) -> None:
    assert set(values["rules"]) == set(values["principals"])
    for key, rules in values["rules"].items():
        assert acl_bindings(rules, values["principals"][key], PREFIX), key
