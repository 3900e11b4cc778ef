"""deploy/prometheus and deploy/grafana, checked without Prometheus or Grafana.

promtool is not available, so the rules file is checked as Prometheus loads it: the keys a
rule may have, durations, labels, every expression parsed by a PromQL parser. Every metric an
expression reads names its service, and RabbitMQ's are in the plugin's documented list; the
services' own are checked against their live /metrics in
tests/integration/test_observability.py.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import promql_parser
import pytest
import yaml

from tests.support.observability import (
    ALERTS,
    ROOT,
    SCRAPE,
    SERVICES,
    alert_rules,
    all_readings,
    dashboard,
    dashboard_expressions,
    documented_rabbitmq_metrics,
    readings,
)

RUNBOOK = ROOT / "docs/operations.md"
# What Prometheus accepts in a rules file (rulefmt), and what this project requires on top.
GROUP_KEYS = {"name", "interval", "limit", "rules", "query_offset", "labels"}
ALERT_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
DURATION = re.compile(r"(\d+(ms|s|m|h|d|w|y))+")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
SEVERITIES = {"critical", "warning", "info"}


def test_the_rules_file_is_what_prometheus_loads() -> None:
    loaded = yaml.safe_load(ALERTS.read_text())
    assert set(loaded) == {"groups"}
    names = [group["name"] for group in loaded["groups"]]
    assert len(names) == len(set(names))
    for group in loaded["groups"]:
        assert set(group) <= GROUP_KEYS and group["rules"], group["name"]
    alerts = [rule["alert"] for rule in alert_rules()]
    assert len(alerts) == len(set(alerts)), Counter(alerts).most_common(1)
    for rule in alert_rules():
        name = rule["alert"]
        assert set(rule) <= ALERT_KEYS and {"alert", "expr"} <= set(rule), name
        assert re.fullmatch(r"Invoicebus[A-Za-z]+", name)
        assert isinstance(promql_parser.parse(rule["expr"]), promql_parser.Expr)
        assert DURATION.fullmatch(rule.get("for", "0s")), name
        assert all(
            LABEL_NAME.fullmatch(k) and isinstance(v, str) for k, v in rule["labels"].items()
        )
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), name
        for text in rule["annotations"].values():
            assert text.count("{{") == text.count("}}"), name


def test_the_expected_alerts_exist() -> None:
    """The alerts the operations runbook promises (issue 13), by name."""
    alerts = {rule["alert"] for rule in alert_rules()}
    assert {
        "InvoicebusDeadLetterQueueGrowing",
        "InvoicebusConsumerStalled",
        "InvoicebusCommandRefusalRate",
        "InvoicebusOutboxRelayPublishing",
        "InvoicebusOutboxEventsPendingTooLong",
        "InvoicebusTransientFailures",
        "InvoicebusMessagesRequeued",
        "InvoicebusConsumerRestarted",
    } <= alerts


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a Markdown document's headings."""
    headings = re.findall(r"^#+ (.+)$", markdown, re.M)
    return {re.sub(r"[^a-z0-9 _-]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_alert_has_its_runbook_section() -> None:
    sections = anchors(RUNBOOK.read_text())
    for rule in alert_rules():
        path, anchor = rule["annotations"]["runbook"].split("#")
        assert (ROOT / path) == RUNBOOK
        assert anchor == rule["alert"].lower() and anchor in sections, rule["alert"]


def test_every_expression_says_which_service_it_reads() -> None:
    found = all_readings()
    assert len(found) > 40
    for reading in found:
        assert reading.services, f"{reading.where}: {reading.metric} has no service matcher"
        assert reading.services <= SERVICES, reading


def test_a_selector_without_a_service_is_caught() -> None:
    [reading] = readings("alert X", 'rate(invoicebus_commands_total{result="created"}[5m])')
    assert reading.services == frozenset()
    [reading] = readings("alert X", 'invoicebus_commands_total{service=~"comm.*"}')
    assert reading.services == frozenset()
    with pytest.raises(ValueError, match="unclosed left parenthesis"):
        readings("alert X", "sum by (queue) (rate(invoicebus_requeued_total[5m])")


def test_rabbitmq_metrics_are_in_the_plugins_documented_list() -> None:
    documented = documented_rabbitmq_metrics()
    assert "rabbitmq_detailed_queue_messages_ready" in documented
    assert "rabbitmq_detailed_queue_messages_redy" not in documented
    broker = [r for r in all_readings() if "rabbitmq" in r.services]
    assert broker
    for reading in broker:
        assert reading.services == {"rabbitmq"}, reading
        assert reading.metric in documented, reading


def test_the_dashboard_is_well_formed() -> None:
    board = dashboard()
    assert board["uid"] == "invoicebus" and board["schemaVersion"] >= 36
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"] and panel["description"], panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs))
        for target in panel["targets"]:
            used = set(re.findall(r"\$(\w+)", target["expr"])) - {"__rate_interval"}
            assert used <= set(variables), (panel["title"], used)
    # Panels sit on distinct rows of the grid: none hides another.
    cells = Counter(
        (p["gridPos"]["x"], p["gridPos"]["y"]) for p in board["panels"] if p["type"] != "row"
    )
    assert max(cells.values()) == 1
    assert len(dashboard_expressions()) >= 20


def relabels(job: dict[str, Any]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = job["relabel_configs"]
    return rules


def test_the_scrape_jobs_attach_the_labels_the_rules_select_on() -> None:
    config = yaml.safe_load(SCRAPE.read_text())
    assert [(SCRAPE.parent / f).resolve() for f in config["rule_files"]] == [ALERTS]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    # invoicebus pods: `service` is their app.kubernetes.io/component label.
    service = [r for r in relabels(jobs["invoicebus"]) if r.get("target_label") == "service"]
    assert service == [
        {
            "source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_component"],
            "target_label": "service",
        }
    ]
    for name in ("rabbitmq", "rabbitmq-queues"):
        assert {"target_label": "service", "replacement": "rabbitmq"} in relabels(jobs[name])
    for job in jobs.values():
        assert any(r.get("target_label") == "namespace" for r in relabels(job))
    assert jobs["rabbitmq-queues"]["metrics_path"] == "/metrics/detailed"
    assert jobs["rabbitmq-queues"]["params"]["family"] == [
        "queue_coarse_metrics",
        "queue_consumer_count",
    ]


def test_components_are_the_services_the_scrape_job_names() -> None:
    """`service` comes from the pods' component label: the manifests must use these names."""
    from tests.support.kubernetes import render

    objects = render(ROOT / "deploy/k8s/base")
    components = {
        o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        for o in objects
        if o["kind"] == "Deployment"
    }
    assert components == SERVICES - {"rabbitmq"}
