"""What the alert rules and the Grafana dashboard read, and who exports it.

Every metric an expression reads is a ``Reading``: the metric's name and the services whose
series it selects, given by its ``service`` matcher (deploy/prometheus/prometheus.yaml
attaches that label to every target: commands, queries, gateway, rabbitmq). Expressions are
parsed with a real PromQL parser, so a syntax error fails too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy/prometheus/alerts.yaml"
SCRAPE = ROOT / "deploy/prometheus/prometheus.yaml"
DASHBOARD = ROOT / "deploy/grafana/invoicebus.json"
RABBITMQ_METRICS = ROOT / "tests/data/rabbitmq-prometheus-metrics.md"

SERVICES = frozenset({"commands", "queries", "gateway", "rabbitmq"})
#: Series Prometheus writes itself for every target it scrapes.
SYNTHETIC = frozenset({"up"})
#: Grafana's variables, replaced by example values so the expressions parse.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$namespace": "invoicebus", "$prefix": "invoicebus"}


@dataclass(frozen=True)
class Reading:
    where: str  # "alert X" or "panel Y"
    metric: str
    services: frozenset[str]  # empty when the selector names no service


def readings(where: str, expr: str) -> list[Reading]:
    found: list[Reading] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"{where}: a selector without a metric name"
            found.append(Reading(where, node.name, _services(node)))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def _services(node: promql_parser.VectorSelector) -> frozenset[str]:
    for matcher in node.matchers.matchers:
        if matcher.name != "service":
            continue
        if matcher.op == promql_parser.MatchOp.Equal:
            return frozenset({matcher.value})
        if matcher.op == promql_parser.MatchOp.Re and re.fullmatch(
            r"[a-z]+(\|[a-z]+)*", matcher.value
        ):
            return frozenset(matcher.value.split("|"))
    return frozenset()


def alert_rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(ALERTS.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def alert_expressions() -> dict[str, str]:
    return {f"alert {rule['alert']}": rule["expr"] for rule in alert_rules()}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_expressions() -> dict[str, str]:
    expressions = {}
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            expressions[f"panel {panel['title']} {target['refId']}"] = expr
    return expressions


def all_readings() -> list[Reading]:
    expressions = alert_expressions() | dashboard_expressions()
    return [r for where, expr in expressions.items() for r in readings(where, expr)]


def exported_names(metrics_text: str) -> set[str]:
    """Every series name a /metrics text can carry, samples or not (a labelled counter that
    never counted shows only its # TYPE line)."""
    suffixes = {
        "counter": ["_total", "_created"],
        "histogram": ["_bucket", "_count", "_sum", "_created"],
        "summary": ["", "_count", "_sum", "_created"],
        "info": ["_info"],
    }
    names: set[str] = set()
    for family in text_string_to_metric_families(metrics_text):
        names |= {family.name + suffix for suffix in suffixes.get(family.type, [""])}
        names |= {sample.name for sample in family.samples}
    return names


def documented_rabbitmq_metrics() -> set[str]:
    """The Prometheus plugin's documented names, and the per-queue ones again as
    ``/metrics/detailed`` serves them (``rabbitmq_detailed_queue_*``, the queue families
    prometheus.yaml asks for)."""
    names = set(re.findall(r"^\| (rabbitmq_[a-z_]+) ", RABBITMQ_METRICS.read_text(), re.M))
    queues = {n for n in names if n.startswith("rabbitmq_queue_")}
    return names | {n.replace("rabbitmq_", "rabbitmq_detailed_", 1) for n in queues}
