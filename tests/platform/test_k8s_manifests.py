"""deploy/k8s: valid for a current Kubernetes (kubernetes-validate, strict), and in
agreement with the code: probes on the real paths, settings the app reads, no secret in
the ConfigMap, a read-only root with the writable paths on emptyDirs, and a grace
period that covers the shutdown."""

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from src.config import PROJECT_ROOT, Settings

K8S = PROJECT_ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.37.0"
# Read by the start script and gunicorn, not by Settings.
PROCESS_VARIABLES = {"RUN_MIGRATIONS", "WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR"}
SECRET_SETTINGS = {"JWT_SECRET", "DATABASE_URL", "ELASTICSEARCH_API_KEY"}


def _documents() -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[doc["kind"]] = doc
    return docs


@pytest.mark.parametrize("path", sorted(K8S.glob("*.yaml")), ids=lambda p: Path(p).name)
def test_each_manifest_is_valid_for_a_current_kubernetes(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_strict_validation_refuses_a_misspelt_field() -> None:
    service = _documents()["Service"]
    broken = {**service, "spec": {**service["spec"], "portz": service["spec"]["ports"]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_deployment_agrees_with_the_code() -> None:
    docs = _documents()
    pod = docs["Deployment"]["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/api/v1/healthcheck"
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/v1/readiness"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120  # model loading
    config = docs["ConfigMap"]["data"]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == config["METRICS_PORT"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8000, "metrics": int(config["METRICS_PORT"])}
    # Shutdown: gunicorn's graceful timeout, the last log shipping, the preStop pause.
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert grace >= 30 + Settings().LOG_SHIP_SHUTDOWN_SECONDS + pause
    # Non-root, read-only root; what is written goes to emptyDirs.
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/tmp", str(Path(config["LOG_SPOOL_PATH"]).parent)} <= mounts
    assert config["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")
    assert config["RUN_MIGRATIONS"] == "0"  # the Job migrates, once per release
    assert docs["Job"]["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "scripts/migrate"
    ]


def test_settings_are_real_and_secrets_stay_in_the_secret() -> None:
    docs = _documents()
    config, secret = docs["ConfigMap"]["data"], docs["Secret"]["stringData"]
    known = set(Settings.model_fields) | PROCESS_VARIABLES
    assert set(config) <= known, set(config) - known
    assert set(secret) <= known and set(secret) == SECRET_SETTINGS
    assert not set(config) & SECRET_SETTINGS
    # With a real JWT secret, the values a PRODUCTION pod starts with are valid settings;
    # the example's placeholder is refused, so the example cannot be deployed as it is.
    values = {k: v for k, v in {**config, **secret}.items() if k in Settings.model_fields}
    Settings(**{**values, "JWT_SECRET": "s" * 48})
    with pytest.raises(ValueError, match="JWT_SECRET"):
        Settings(**values)
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert {"configMapRef": {"name": "voice-api"}} in container["envFrom"]
    assert {"secretRef": {"name": "voice-api"}} in container["envFrom"]


def test_the_autoscaler_and_the_budget_target_the_deployment() -> None:
    docs = _documents()
    labels = docs["Deployment"]["spec"]["selector"]["matchLabels"]
    assert docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == labels
    assert docs["Service"]["spec"]["selector"] == labels
    target = docs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "voice-api")
    assert docs["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2
