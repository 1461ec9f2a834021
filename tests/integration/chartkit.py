"""What the Helm chart tests share: finding helm, rendering the chart, picking the rendered
objects apart, the signing values every render needs, and loading a rendered container's
settings with its service's own settings class."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from feedback.config import FeedbackSettings
from hitl_runtime.settings import ServiceSettings, load_settings
from hitl_runtime.signing import generate
from review_api.config import ReviewApiSettings
from router.config import RouterSettings
from scorer.config import ScorerSettings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "hitl-gate"
PRODUCTION = CHART / "values-production.yaml"
HELM_VERSION = "v3.22.0"  # the version deploy/local/deps.sh installs
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and a current one.
KUBE_VERSIONS = ("1.27.0", "1.37.0")

SETTINGS: dict[str, type[ServiceSettings]] = {
    "scorer": ScorerSettings,
    "router": RouterSettings,
    "review-api": ReviewApiSettings,
    "feedback": FeedbackSettings,
}
# Signed events: the `signing` entry each writer signs with, and the writer of each signed topic.
WRITERS = {"review-api": "reviewApi", "feedback": "feedback", "router": "router"}
OWNERS = {"decisions": "reviewApi", "scorerModels": "feedback", "routerThresholds": "router"}


def helm_binary() -> str:
    path = shutil.which("helm")
    if path is None:
        pytest.fail(
            "helm is not on PATH. Install it with "
            f"`go install helm.sh/helm/v3/cmd/helm@{HELM_VERSION}` and put $(go env GOPATH)/bin "
            "on PATH (`make deps` does both), then run `make helm`.",
            pytrace=False,
        )
    return path


def signing_values() -> dict[str, Any]:
    """The `signing` values a deployment gives: each writer's key id and Secret reference, and
    a fresh public key per signed topic (the private halves stay out of the chart)."""
    writers = {
        key: {"keyId": f"{key}-test", "existingSecret": f"hitl-{key}-signing", "secretKey": "sk"}
        for key in WRITERS.values()
    }
    verify = {topic: {f"{owner}-test": generate()[1]} for topic, owner in OWNERS.items()}
    return {**writers, "verifyKeys": verify}


def write_signing_file(directory: Path, signing: dict[str, Any]) -> Path:
    path = directory / "signing.yaml"
    path.write_text(yaml.safe_dump({"signing": signing}))
    return path


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - helm from PATH, our own arguments
        [helm, *args], capture_output=True, text=True, timeout=120, check=False
    )


def template(
    helm: str, *args: str, kube_version: str = KUBE_VERSIONS[-1]
) -> subprocess.CompletedProcess[str]:
    # Always an explicit Kubernetes version: a helm built by a plain `go install` assumes 1.20,
    # below the chart's kubeVersion.
    return run_helm(
        helm,
        "template",
        "hitl",
        str(CHART),
        "--namespace",
        "hitl",
        "--kube-version",
        kube_version,
        *args,
    )


def render(helm: str, *args: str, kube_version: str = KUBE_VERSIONS[-1]) -> list[dict[str, Any]]:
    result = template(helm, *args, kube_version=kube_version)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def of_kind(docs: list[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in kinds]


def component(doc: dict[str, Any]) -> str:
    return str(doc["metadata"]["labels"]["app.kubernetes.io/component"])


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc["spec"]["template"]["spec"]["containers"])


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def fake_env_value(name: str, entry: dict[str, Any]) -> str:
    """The value a variable would have in the pod: literal values with $(VAR) references
    expanded, and a well-formed stand-in for one read from a Secret."""
    if "value" in entry:
        pod = {"POD_NAME": "hitl-hitl-gate-scorer-0", "POD_NAMESPACE": "hitl"}
        return re.sub(r"\$\((\w+)\)", lambda m: pod[m.group(1)], str(entry["value"]))
    assert "secretKeyRef" in entry["valueFrom"] or "fieldRef" in entry["valueFrom"], entry
    if name == "HITL_DATABASE_URL":
        return "postgresql+asyncpg://hitl:secret@db:5432/hitl"
    if name == "HITL_WEBHOOK_URL":
        return "https://hooks.example/abc"
    if name == "HITL_SIGNING_KEY":
        return generate()[0]
    return "from-a-secret"


def check_settings(service: str, env: dict[str, str]) -> None:
    """Every HITL_* variable is a setting of this service and the whole set loads."""
    cls = SETTINGS[service]
    overrides = {}
    for name, value in env.items():
        if not name.startswith("HITL_"):
            continue
        field = name.removeprefix("HITL_").lower()
        assert field in cls.model_fields, f"{service}: {name} is not one of its settings"
        overrides[field] = value
    load_settings(cls, **overrides)


def clear_hitl_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings classes read HITL_* from the environment too: only the manifest's count."""
    for name in list(os.environ):
        if name.startswith("HITL_"):
            monkeypatch.delenv(name)
