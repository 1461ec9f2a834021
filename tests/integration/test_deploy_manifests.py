"""The deployment files, checked offline: the Helm chart and the compose stack.

`helm lint`; `helm template` with the default and the production values; every rendered manifest
validated against the Kubernetes JSON schemas that the kubernetes-validate package ships (the
Prometheus Operator's two kinds against the subset of their CRD schema we use); and the settings
each manifest gives a service checked against that service's own settings class, so a misspelt
or invalid HITL_* variable fails here rather than in a crash-looping pod. Needs `helm` on PATH
(.ci/run installs it); without it the tests fail and say how to install it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from dotenv import dotenv_values

from hitl_runtime.policy import load_policy
from hitl_runtime.signing import private_key, public_text
from tests.integration.chartkit import (
    CHART,
    KUBE_VERSIONS,
    OWNERS,
    PRODUCTION,
    ROOT,
    SETTINGS,
    WRITERS,
    check_settings,
    clear_hitl_environment,
    component,
    containers,
    env_of,
    fake_env_value,
    helm_binary,
    of_kind,
    render,
    run_helm,
    signing_values,
    write_signing_file,
)

pytestmark = pytest.mark.integration

VALUES = {"default": [], "production": ["-f", str(PRODUCTION)]}

METRICS_PORTS = {"scorer": 9401, "router": 9402, "feedback": 9403}
STREAMS = ("scorer", "router", "feedback")
WORKLOADS = ("StatefulSet", "Deployment", "Job")
# Signed events: the public key maps (variable: `signing.verifyKeys` entry) each service reads;
# chartkit.WRITERS names the `signing` entry each writer signs with.
VERIFY_KEYS = {
    "HITL_DECISIONS_VERIFY_KEYS": "decisions",
    "HITL_SCORER_MODELS_VERIFY_KEYS": "scorerModels",
    "HITL_ROUTER_THRESHOLDS_VERIFY_KEYS": "routerThresholds",
}
READS = {
    "scorer": {"HITL_SCORER_MODELS_VERIFY_KEYS"},
    "router": {"HITL_DECISIONS_VERIFY_KEYS", "HITL_ROUTER_THRESHOLDS_VERIFY_KEYS"},
    "feedback": {"HITL_DECISIONS_VERIFY_KEYS", "HITL_SCORER_MODELS_VERIFY_KEYS"},
    "review-api": {"HITL_ROUTER_THRESHOLDS_VERIFY_KEYS"},
}
BASE64_KEY = re.compile(r"[A-Za-z0-9+/]{43}=")  # an Ed25519 key, public or private


@pytest.fixture(scope="module")
def helm() -> str:
    return helm_binary()


@pytest.fixture(scope="module")
def signing() -> dict[str, Any]:
    return signing_values()


@pytest.fixture(scope="module")
def signing_file(signing: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_signing_file(tmp_path_factory.mktemp("signing"), signing)


@pytest.fixture(scope="module")
def chart_values(signing_file: Path) -> dict[str, list[str]]:
    """The helm arguments of each values set, with the signing values last."""
    return {name: [*args, "-f", str(signing_file)] for name, args in VALUES.items()}


@pytest.fixture(scope="module", params=sorted(VALUES))
def rendered(
    request: pytest.FixtureRequest, helm: str, chart_values: dict[str, list[str]]
) -> list[dict[str, Any]]:
    return render(helm, *chart_values[request.param])


# -- the chart's copies of repository files -------------------------------------------------------


def test_chart_copies_of_policy_and_alert_rules_are_fresh() -> None:
    pairs = {
        ROOT / "policy" / "default.yaml": CHART / "files" / "policy.yaml",
        ROOT / "deploy" / "prometheus" / "alerts.yml": CHART / "files" / "alerts.yml",
    }
    stale = []
    for source, copy in pairs.items():
        if source.exists() != copy.exists() or (
            source.exists() and source.read_bytes() != copy.read_bytes()
        ):
            stale.append(str(copy.relative_to(ROOT)))
    assert not stale, f"stale chart copies {stale}: run deploy/helm/sync-files.sh (or make helm)"


# -- helm lint and schema validation ---------------------------------------------------------------


@pytest.mark.parametrize("values", sorted(VALUES))
def test_helm_lint_is_clean(helm: str, values: str, chart_values: dict[str, list[str]]) -> None:
    result = run_helm(helm, "lint", "--strict", str(CHART), *chart_values[values])
    assert result.returncode == 0, result.stdout + result.stderr


_DURATION = {"type": "string", "pattern": r"^(\d+(ms|s|m|h|d|w|y))+$"}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "labels": _STRING_MAP},
}
# The fields of the Prometheus Operator's CRDs (monitoring.coreos.com/v1) the chart uses, as
# its CRD schema defines them; an unknown field is an error, as in a strict apply.
CRD_SCHEMAS: dict[str, dict[str, Any]] = {
    "ServiceMonitor": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["selector", "endpoints"],
                "additionalProperties": False,
                "properties": {
                    "jobLabel": {"type": "string"},
                    "selector": {
                        "type": "object",
                        "properties": {"matchLabels": _STRING_MAP},
                        "additionalProperties": False,
                    },
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["port"],
                            "additionalProperties": False,
                            "properties": {
                                "port": {"type": "string"},
                                "path": {"type": "string"},
                                "interval": _DURATION,
                                "scrapeTimeout": _DURATION,
                            },
                        },
                    },
                },
            },
        },
    },
    "PrometheusRule": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["groups"],
                "additionalProperties": False,
                "properties": {
                    "groups": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name", "rules"],
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string", "minLength": 1},
                                "interval": _DURATION,
                                "rules": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["expr"],
                                        "oneOf": [
                                            {"required": ["alert"]},
                                            {"required": ["record"]},
                                        ],
                                        "additionalProperties": False,
                                        "properties": {
                                            "alert": {"type": "string"},
                                            "record": {"type": "string"},
                                            "expr": {"type": ["string", "integer"]},
                                            "for": _DURATION,
                                            "keep_firing_for": _DURATION,
                                            "labels": _STRING_MAP,
                                            "annotations": _STRING_MAP,
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("values", sorted(VALUES))
def test_rendered_manifests_are_valid_kubernetes(
    helm: str, values: str, kube_version: str, chart_values: dict[str, list[str]]
) -> None:
    docs = render(helm, *chart_values[values], kube_version=kube_version)
    errors = []
    for doc in docs:
        where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            if doc["kind"] in CRD_SCHEMAS:
                jsonschema.validate(doc, CRD_SCHEMAS[doc["kind"]])
            else:
                kubernetes_validate.validate(doc, kube_version, strict=True)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
            errors.append(f"{where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:  # a kind it has no schema for
            errors.append(f"{where}: {exc}")
    assert not errors, "\n".join(errors)
    kinds = {d["kind"] for d in docs}
    assert {"StatefulSet", "Deployment", "Service", "ConfigMap", "PodDisruptionBudget"} <= kinds
    if values == "production":
        assert {"HorizontalPodAutoscaler", "ServiceMonitor", "PrometheusRule"} <= kinds


# -- what the manifests say ------------------------------------------------------------------------


def test_every_service_runs_non_root_on_a_read_only_filesystem(
    rendered: list[dict[str, Any]],
) -> None:
    workloads = of_kind(rendered, *WORKLOADS)
    assert {component(w) for w in workloads} >= set(SETTINGS)
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        mounts_by_volume = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            # A mount path in the pod, not a temporary file here.
            scratch = mounts["/tmp"]  # noqa: S108
            assert "emptyDir" in mounts_by_volume[scratch]
            if workload["kind"] != "Job":
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    assert probe in container, (component(workload), probe)
                assert container["resources"]["requests"]


def test_probes_and_ports_match_the_services_settings(rendered: list[dict[str, Any]]) -> None:
    for workload in of_kind(rendered, "StatefulSet", "Deployment"):
        name = component(workload)
        (container,) = containers(workload)
        env = env_of(container)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        if name in STREAMS:
            assert ports == {"metrics": METRICS_PORTS[name]}
            assert env["HITL_METRICS_PORT"]["value"] == str(METRICS_PORTS[name])
            paths = {"/metrics", "/livez", "/readyz"}
            assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        else:
            assert env["HITL_HTTP_PORT"]["value"] == str(ports["http"])
            assert env["HITL_HTTP_HOST"]["value"] == "0.0.0.0"
            paths = {"/healthz", "/readyz"}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["port"] in ports
            assert container[probe]["httpGet"]["path"] in paths


def test_exactly_once_services_have_stable_unique_ids_per_replica(
    rendered: list[dict[str, Any]],
) -> None:
    by_name = {component(w): w for w in of_kind(rendered, "StatefulSet")}
    assert set(by_name) == set(STREAMS), "scorer, router and feedback run as StatefulSets"
    for name, workload in by_name.items():
        (container,) = containers(workload)
        names = [e["name"] for e in container["env"]]
        id_var = "HITL_TRANSACTIONAL_ID" if name == "scorer" else "HITL_INSTANCE_ID"
        assert env_of(container)[id_var]["value"] == "$(POD_NAMESPACE).$(POD_NAME)"
        # Kubernetes expands $(VAR) only from variables defined earlier in the list.
        assert names.index("POD_NAME") < names.index(id_var)
        assert names.index("POD_NAMESPACE") < names.index(id_var)
        assert workload["spec"]["serviceName"] == workload["metadata"]["name"]


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    clear_hitl_environment(monkeypatch)
    yield


@pytest.mark.usefixtures("clean_environment")
def test_every_variable_is_a_setting_of_its_service_and_loads(
    rendered: list[dict[str, Any]],
) -> None:
    for workload in of_kind(rendered, "StatefulSet", "Deployment"):
        (container,) = containers(workload)
        env = {n: fake_env_value(n, e) for n, e in env_of(container).items()}
        check_settings(component(workload), env)


def test_secrets_are_references_only(
    rendered: list[dict[str, Any]], signing: dict[str, Any]
) -> None:
    assert not of_kind(rendered, "Secret"), "the chart creates no Secret: it refers to yours"
    secret_vars = {
        "HITL_KAFKA_SASL_PASSWORD",
        "HITL_WEBHOOK_SECRET",
        "HITL_SMTP_PASSWORD",
        "HITL_DATABASE_URL",
        "HITL_SIGNING_KEY",
    }
    # No key material but the public keys given: a private key decodes to 32 bytes as well.
    public = {key for keys in signing["verifyKeys"].values() for key in keys.values()}
    assert set(BASE64_KEY.findall(json.dumps(rendered))) == public
    seen = set()
    for workload in of_kind(rendered, *WORKLOADS):
        for container in containers(workload):
            for name, entry in env_of(container).items():
                if name not in secret_vars:
                    continue
                seen.add(name)
                if name == "HITL_DATABASE_URL" and str(entry.get("value", "")).startswith("sqlite"):
                    continue  # SQLite in the pod: a path, no credential
                assert "secretKeyRef" in entry.get("valueFrom", {}), (component(workload), name)
    production = any(d["kind"] == "ServiceMonitor" for d in rendered)
    if production:
        assert seen == secret_vars


def test_every_service_gets_the_signing_settings_it_needs(
    rendered: list[dict[str, Any]], signing: dict[str, Any]
) -> None:
    workloads = of_kind(rendered, "StatefulSet", "Deployment")
    assert {component(w) for w in workloads} == set(READS)
    for workload in workloads:
        name = component(workload)
        (container,) = containers(workload)
        env = env_of(container)
        given = {n for n in env if n.startswith("HITL_SIGNING") or n.endswith("_VERIFY_KEYS")}
        own = {"HITL_SIGNING_KEY", "HITL_SIGNING_KEY_ID"} if name in WRITERS else set()
        assert given == READS[name] | own, name
        for variable in READS[name]:
            assert (
                json.loads(env[variable]["value"]) == signing["verifyKeys"][VERIFY_KEYS[variable]]
            )
        if name in WRITERS:
            writer = signing[WRITERS[name]]
            assert env["HITL_SIGNING_KEY"]["valueFrom"] == {
                "secretKeyRef": {"name": writer["existingSecret"], "key": writer["secretKey"]}
            }
            assert env["HITL_SIGNING_KEY_ID"]["value"] == writer["keyId"]


@pytest.mark.usefixtures("clean_environment")
def test_signing_disabled_turns_it_off_for_every_service(helm: str) -> None:
    docs = render(helm, "--set", "signing.disabled=true")
    for workload in of_kind(docs, "StatefulSet", "Deployment"):
        (container,) = containers(workload)
        env = env_of(container)
        assert env["HITL_SIGNING_DISABLED"]["value"] == "true"
        assert not {n for n in env if n.startswith("HITL_SIGNING_KEY") or "VERIFY" in n}
        check_settings(component(workload), {n: fake_env_value(n, e) for n, e in env.items()})


_ACL_RULE = {
    "type": "object",
    "required": ["resource", "operations"],
    "additionalProperties": False,
    "properties": {
        "resource": {
            "type": "object",
            "required": ["type"],
            "additionalProperties": False,
            "properties": {
                "type": {"enum": ["topic", "group", "cluster", "transactionalId"]},
                "name": {"type": "string", "minLength": 1},
                "patternType": {"enum": ["literal", "prefix"]},
            },
        },
        "operations": {
            "type": "array",
            "minItems": 1,
            "items": {
                "enum": [
                    "Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction",
                    "AlterConfigs", "DescribeConfigs", "IdempotentWrite", "All",
                ]
            },
        },
        "host": {"type": "string"},
    },
}  # fmt: skip
# Strimzi's KafkaUser (kafka.strimzi.io/v1beta2), the fields the chart uses.
KAFKA_USER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "kafka.strimzi.io/v1beta2"},
        "metadata": {
            **_METADATA,
            "properties": {
                "name": {"type": "string"},
                "labels": {**_STRING_MAP, "required": ["strimzi.io/cluster"]},
            },
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "authentication": {
                    "type": "object",
                    "required": ["type"],
                    "properties": {"type": {"enum": ["scram-sha-512", "tls", "tls-external"]}},
                },
                "authorization": {
                    "type": "object",
                    "required": ["type", "acls"],
                    "additionalProperties": False,
                    "properties": {
                        "type": {"const": "simple"},
                        "acls": {"type": "array", "items": _ACL_RULE},
                    },
                },
            },
        },
    },
}


def test_kafka_users_carry_the_acls_when_enabled(
    helm: str, chart_values: dict[str, list[str]]
) -> None:
    assert not of_kind(render(helm, *chart_values["production"]), "KafkaUser")
    strimzi = ["--set", "acls.strimzi.enabled=true", "--set", "acls.strimzi.cluster=prod-kafka"]
    users = of_kind(render(helm, *chart_values["production"], *strimzi), "KafkaUser")
    acls = yaml.safe_load((CHART / "values.yaml").read_text())["acls"]
    prefix = yaml.safe_load(PRODUCTION.read_text())["topicPrefix"]
    assert {u["metadata"]["name"] for u in users} == set(acls["principals"].values())
    by_principal = {principal: key for key, principal in acls["principals"].items()}
    for user in users:
        jsonschema.validate(user, KAFKA_USER_SCHEMA)
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == "prod-kafka"
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        expected = [
            {
                "resource": {
                    "type": rule["type"],
                    "name": f"{prefix}{rule['name']}" if rule.get("scoped", True) else rule["name"],
                    "patternType": "prefix" if rule.get("patternType") == "prefixed" else "literal",
                },
                "operations": rule["operations"],
                "host": "*",
            }
            for rule in acls["rules"][by_principal[user["metadata"]["name"]]]
        ]
        assert user["spec"]["authorization"] == {"type": "simple", "acls": expected}
    # Only review-api's user may write decisions (the rule the forged approvals broke).
    writers = {
        u["metadata"]["name"]
        for u in users
        for acl in u["spec"]["authorization"]["acls"]
        if acl["resource"]
        == {"type": "topic", "name": f"{prefix}decisions", "patternType": "literal"}
        and "Write" in acl["operations"]
    }
    assert writers == {acls["principals"]["reviewApi"]}


@pytest.mark.usefixtures("clean_environment")
def test_policy_config_map_holds_a_valid_policy(
    rendered: list[dict[str, Any]], tmp_path: Path
) -> None:
    (config_map,) = [d for d in of_kind(rendered, "ConfigMap") if "policy.yaml" in d["data"]]
    path = tmp_path / "policy.yaml"
    path.write_text(config_map["data"]["policy.yaml"])
    assert load_policy(path).content_types
    for workload in of_kind(rendered, "StatefulSet", "Deployment"):
        pod = workload["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert env_of(container)["HITL_POLICY_FILE"]["value"] == "/etc/hitl/policy/policy.yaml"
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["policy"]["configMap"]["name"] == config_map["metadata"]["name"]
        assert "checksum/policy" in workload["spec"]["template"]["metadata"]["annotations"]


def test_monitoring_objects_cover_every_service(
    helm: str, chart_values: dict[str, list[str]]
) -> None:
    docs = render(helm, *chart_values["production"])
    monitors = of_kind(docs, "ServiceMonitor")
    assert {component(m) for m in monitors} == set(SETTINGS)
    services = {component(s): s for s in of_kind(docs, "Service")}
    for monitor in monitors:
        service = services[component(monitor)]
        assert (
            monitor["spec"]["selector"]["matchLabels"].items()
            <= service["metadata"]["labels"].items()
        )
        port_names = {p["name"] for p in service["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= port_names
        # job = the component name, the job names the alert rules and compose's Prometheus use
        assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/component"
    (rule,) = of_kind(docs, "PrometheusRule")
    alerts = ROOT / "deploy" / "prometheus" / "alerts.yml"
    if alerts.exists():
        assert rule["spec"]["groups"] == yaml.safe_load(alerts.read_text())["groups"]
    else:
        assert rule["spec"]["groups"][0]["name"] == "hitl-gate-placeholder"


def test_hpa_replaces_fixed_replicas_and_targets_the_workload(
    helm: str, chart_values: dict[str, list[str]]
) -> None:
    docs = render(helm, *chart_values["production"])
    workloads = {component(w): w for w in of_kind(docs, "StatefulSet", "Deployment")}
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        target = workloads[component(hpa)]
        assert hpa["spec"]["scaleTargetRef"]["kind"] == target["kind"]
        assert hpa["spec"]["scaleTargetRef"]["name"] == target["metadata"]["name"]
        assert "replicas" not in target["spec"], "an HPA owns the replica count"


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ["kafka.securityProtocol=SASL_SSL", "kafka.sasl.mechanism=SCRAM-SHA-512"],
            "kafka.sasl.existingSecret",
        ),
        (["kafka.securityProtocol=SASL_SSL"], "kafka.sasl.mechanism must be"),
        (["kafka.sasl.mechanism=PLAIN"], "use SASL_SSL"),
        (["reviewApi.replicas=2"], "runs one replica only"),
        (["reviewApi.oidc.jwksUrl=https://idp.example/jwks"], "reviewApi.oidc.issuer"),
        (["scorer.env.HITL_TOPIC_PREFIX=x."], "HITL_TOPIC_PREFIX is set by the chart"),
        (["router.metricsPort=0"], "router.metricsPort must be a port"),
        (["feedback.retrain.mode=sometimes"], "feedback.retrain.mode"),
        (["signing.router.existingSecret="], "signing.router.existingSecret and signing.router"),
        (["signing.reviewApi.keyId=other"], 'keyId "other" is not in signing.verifyKeys.decisions'),
        (["signing.feedback.keyId=a b"], 'signing.feedback.keyId "a b": set the id'),
        (["signing.verifyKeys.decisions=null"], "signing.verifyKeys.decisions is empty: router"),
        (["signing.verifyKeys.scorerModels=null"], "verifyKeys.scorerModels is empty: scorer"),
        (["signing.verifyKeys.routerThresholds=null"], "routerThresholds is empty: review-api"),
        (["signing.verifyKeys.decisions.x=abc"], "signing.verifyKeys.decisions.x is not a base64"),
        (["signing.reviewApi.privateKey=abc"], "signing.reviewApi.privateKey is not a setting"),
        (["reviewApi.env.HITL_SIGNING_KEY=abc"], "HITL_SIGNING_KEY is set by the chart"),
        (["feedback.env.HITL_SIGNING_DISABLED=true"], "HITL_SIGNING_DISABLED is set by the chart"),
        (["acls.strimzi.enabled=true"], "acls.strimzi.cluster is required"),
        (
            [
                "acls.strimzi.enabled=true",
                "acls.strimzi.cluster=k",
                "acls.strimzi.authentication=x",
            ],
            'acls.strimzi.authentication "x"',
        ),
    ],
)
def test_wrong_values_stop_the_render_with_the_fix(
    helm: str, sets: list[str], message: str, signing_file: Path
) -> None:
    args = [arg for s in sets for arg in ("--set", s)]
    result = run_helm(
        helm,
        "template",
        "hitl",
        str(CHART),
        "--kube-version",
        KUBE_VERSIONS[-1],
        *("-f", str(signing_file)),
        *args,
    )
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize("values", sorted(VALUES))
def test_without_signing_keys_the_render_says_how_to_make_them(helm: str, values: str) -> None:
    result = run_helm(
        helm, "template", "hitl", str(CHART), "--kube-version", KUBE_VERSIONS[-1], *VALUES[values]
    )
    assert result.returncode != 0
    assert "hitl-keys new" in result.stderr, result.stderr
    assert "signing.disabled=true" in result.stderr, result.stderr


@pytest.mark.parametrize(("pod", "expected"), [("x-feedback-0", "true"), ("x-feedback-1", "false")])
def test_only_the_first_feedback_replica_retrains(
    rendered: list[dict[str, Any]], pod: str, expected: str
) -> None:
    (feedback,) = [w for w in of_kind(rendered, "StatefulSet") if component(w) == "feedback"]
    (container,) = containers(feedback)
    shell, flag, script = container["command"]
    assert (shell, flag) == ("/bin/sh", "-c")
    assert script.endswith("exec /app/bin/hitl-service")
    probe = script.removesuffix("exec /app/bin/hitl-service") + 'printf %s "$HITL_RETRAIN_ENABLED"'
    result = subprocess.run(  # noqa: S603 - the chart's own start script
        ["/bin/sh", "-c", probe],
        env={"POD_NAME": pod, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert result.stdout == expected


# -- the images and the compose stack --------------------------------------------------------------


def test_dockerfile_copies_every_workspace_manifest() -> None:
    """uv reads every workspace member's pyproject.toml; the dependency layer must copy each."""
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members = {
        path.parent.relative_to(ROOT).as_posix()
        for pattern in root["tool"]["uv"]["workspace"]["members"]
        for path in ROOT.glob(f"{pattern}/pyproject.toml")
    }
    dockerfile = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\S+)/pyproject\.toml \1/$", dockerfile, re.MULTILINE))
    assert copied == members
    services = set(re.findall(r"^\s+([a-z|-]+)\)", dockerfile, re.MULTILINE))
    assert {s for line in services for s in line.split("|")} == set(SETTINGS)


def _interpolate(value: str) -> str:
    """Compose's ${VAR:-default} with no VAR set."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    text = (ROOT / "docker-compose.yml").read_text()
    docker = shutil.which("docker")
    if docker:
        # The compose plugin resolves anchors, merges and interpolation like `up` does; a
        # docker client without it (or without an engine) still gets the checks below.
        plugin = subprocess.run(  # noqa: S603
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        )
        if plugin.returncode == 0:
            config = subprocess.run(  # noqa: S603
                [docker, "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert config.returncode == 0, config.stderr
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


@pytest.fixture(scope="module")
def compose_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The env files `make compose-keys` writes, here into a directory of the test's own."""
    keys = tmp_path_factory.mktemp("compose-keys")
    subprocess.run(  # noqa: S603 - our own script, with our own interpreter's hitl-keys
        [str(ROOT / "deploy" / "docker" / "compose-keys.sh"), str(keys)],
        env={**os.environ, "HITL_KEYS": f"{sys.executable} -m hitl_runtime.signing"},
        capture_output=True,
        timeout=120,
        check=True,
    )
    return keys


def compose_env(service: dict[str, Any], keys: Path) -> dict[str, str]:
    """A service's variables as compose gives them: its env files (read from `keys`), then its
    `environment`, which wins."""
    env: dict[str, str] = {}
    for path in service.get("env_file", []):
        assert path.startswith(".local/compose-keys/"), path  # git-ignored, out of the images
        env.update({k: v or "" for k, v in dotenv_values(keys / Path(path).name).items()})
    env.update({k: _interpolate(str(v)) for k, v in service["environment"].items()})
    return env


@pytest.mark.usefixtures("clean_environment")
def test_compose_services_sign_and_verify_with_keys_of_their_own(
    compose: dict[str, Any], compose_keys: Path
) -> None:
    services = compose["services"]
    for name in SETTINGS:
        env = compose_env(services[name], compose_keys)
        assert READS[name] <= set(env), name
        if name not in WRITERS:
            assert "HITL_SIGNING_KEY" not in env, f"{name} signs nothing and gets no private key"
            continue
        # The writer's own key is the one its readers trust under its key id.
        topic = next(v for v, t in VERIFY_KEYS.items() if OWNERS[t] == WRITERS[name])
        for reader in SETTINGS:
            trusted = compose_env(services[reader], compose_keys).get(topic)
            if trusted is not None:
                public = public_text(private_key(env["HITL_SIGNING_KEY"]))
                assert json.loads(trusted) == {env["HITL_SIGNING_KEY_ID"]: public}


@pytest.mark.usefixtures("clean_environment")
def test_compose_runs_each_service_from_its_image_with_valid_settings(
    compose: dict[str, Any], compose_keys: Path
) -> None:
    services = compose["services"]
    assert services["kafka"]["image"] == "apache/kafka:4.4.0"
    for name in SETTINGS:
        service = services[name]
        assert service["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        assert service["build"]["args"]["SERVICE"] == name
        assert service["image"] == f"hitl-gate/{name}:0.1.0"
        assert service["read_only"] is True
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        env = compose_env(service, compose_keys)
        assert env["HITL_KAFKA_BOOTSTRAP"] == "kafka:19092"
        check_settings(name, env)
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert "INTERNAL://kafka:19092" in advertised
    assert "PLAINTEXT://127.0.0.1:9092" in advertised  # the Makefile's local runs


def test_compose_prometheus_scrapes_every_service_and_loads_the_rules(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    prometheus_dir = ROOT / "deploy" / "prometheus"
    assert "./deploy/prometheus:/etc/prometheus/hitl:ro" in services["prometheus"]["volumes"]
    config = yaml.safe_load((prometheus_dir / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    targets = {
        job["job_name"]: target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    expected = {}
    for name in SETTINGS:
        env = services[name]["environment"]
        port = env["HITL_HTTP_PORT"] if name == "review-api" else env["HITL_METRICS_PORT"]
        expected[name] = f"{name}:{port}"
    assert targets == expected


def test_compose_grafana_provisions_the_dashboard(compose: dict[str, Any]) -> None:
    volumes = compose["services"]["grafana"]["volumes"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in volumes if v.startswith("./"))
    for source in mounts:
        assert (ROOT / source).is_dir(), source
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/hitl-gate.yml").read_text()
    )
    (entry,) = provider["providers"]
    assert mounts["./deploy/grafana/dashboards"] == entry["options"]["path"]
    datasources = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    (source,) = datasources["datasources"]
    assert source["url"] == "http://prometheus:9090" and source["isDefault"] is True
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/hitl-gate.json").read_text())
    assert dashboard["panels"]
