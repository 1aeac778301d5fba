"""The alert rules: valid, each fired and kept quiet by its promtool unit test, every
metric they read exported by the service, and every alert in the runbook."""

import re
import shutil
import subprocess

import yaml
from prometheus_client import REGISTRY

import src.main  # noqa: F401  # every metric of the service registered
from src.config import PROJECT_ROOT
from tests.processes import missing_tool

RULES = PROJECT_ROOT / "deploy" / "prometheus"
RUNBOOK = PROJECT_ROOT / "docs" / "OPERATIONS.md"


def _promtool(*args: str) -> str:
    if shutil.which("promtool") is None:
        missing_tool("promtool (Debian's prometheus package)")
    done = subprocess.run(
        ["promtool", *args], cwd=RULES, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _alerts() -> list[dict[str, object]]:
    groups = yaml.safe_load((RULES / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_the_rules_are_valid_and_each_alert_fires_in_its_unit_test() -> None:
    assert "SUCCESS" in _promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in _promtool("check", "config", "prometheus.yml")  # loads alerts.yml
    assert "SUCCESS" in _promtool("test", "rules", "alerts_test.yml")
    tests = yaml.safe_load((RULES / "alerts_test.yml").read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    assert fired == {str(rule["alert"]) for rule in _alerts()}


def test_every_metric_the_rules_read_is_exported() -> None:
    exported = {"up"}
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            exported.add(sample.name)
        exported.update(metric.name + suffix for suffix in ("", "_total", "_bucket", "_count"))
    read = {
        name
        for rule in _alerts()
        for name in re.findall(r"([a-z_:]+)\{", str(rule["expr"]))
        if name not in {"rate", "increase", "deriv", "sum", "by", "histogram_quantile"}
    }
    assert read and read <= exported, read - exported


def test_every_alert_has_a_runbook_entry() -> None:
    headings = {
        line.removeprefix("### ").strip()
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("### ")
    }
    for rule in _alerts():
        assert rule["alert"] in headings, rule["alert"]
        anchor = str(rule["annotations"]["runbook"])  # type: ignore[index]
        assert anchor == f"docs/OPERATIONS.md#{str(rule['alert']).lower()}"
