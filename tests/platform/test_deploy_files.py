"""The operator's files agree with the code: compose, Prometheus, Grafana, Docker."""

import json
import re
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import REGISTRY

from src.config import PROJECT_ROOT, Settings

pytestmark = pytest.mark.anyio


def load_yaml(relative: str) -> Any:
    return yaml.safe_load((PROJECT_ROOT / relative).read_text())


def test_compose_runs_the_whole_stack_with_real_settings() -> None:
    compose = load_yaml("docker-compose.yml")
    services = compose["services"]
    assert {
        "api",
        "migrate",
        "postgres",
        "redis",
        "elasticsearch",
        "kibana",
        "prometheus",
        "grafana",
    } <= set(services)
    api = services["api"]
    assert api["build"]["dockerfile"] == "Dockerfile.prod"
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert api["environment"]["RUN_MIGRATIONS"] == "0"
    # Every variable the stack sets is a setting the app reads (no typos, no dead config).
    known = set(Settings.model_fields)
    for name in api["environment"]:
        assert name in known or name in {"RUN_MIGRATIONS", "WEB_CONCURRENCY"}, name
    for path in ("deploy/prometheus/prometheus.yml", "deploy/kibana/create-data-view.sh"):
        assert (PROJECT_ROOT / path).exists()


def test_prometheus_scrapes_the_metrics_port() -> None:
    scrape = load_yaml("deploy/prometheus/prometheus.yml")["scrape_configs"][0]
    target = scrape["static_configs"][0]["targets"][0]
    assert target == f"api:{Settings().METRICS_PORT}"


def test_dockerfiles_use_the_documented_entry_points() -> None:
    prod = (PROJECT_ROOT / "Dockerfile.prod").read_text()
    assert 'CMD ["scripts/start-prod.sh"]' in prod and "USER voice" in prod
    assert "/api/v1/healthcheck" in prod
    assert "uvicorn src.main:app" in (PROJECT_ROOT / "Dockerfile").read_text()


async def test_every_dashboard_query_names_a_metric_we_export(client: httpx.AsyncClient) -> None:
    await client.get("/api/v1/healthcheck")  # the HTTP metrics exist after a request
    exported = {metric.name for metric in REGISTRY.collect()}
    exported |= {f"{name}_total" for name in exported} | {f"{name}_bucket" for name in exported}
    dashboard = json.loads((PROJECT_ROOT / "deploy/grafana/dashboards/voice-api.json").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(dashboard["panels"]) >= 6
    functions = {
        "sum",
        "rate",
        "by",
        "histogram_quantile",
        "clamp_min",
        "time",
        "max",
        "le",
        "handler",
        "status",
        "limit",
        "outcome",
    }
    for expr in expressions:
        for name in re.findall(r"[a-z_]+(?=[\[{( ]|$)", expr):
            if name not in functions:
                assert name in exported, f"{name} in {expr!r} is not exported"
