"""deploy/k8s, rendered by kustomize and checked without a cluster.

Every object of the example overlay (and of the base alone) is validated against the vendored
Kubernetes and CRD schemas (``tests/support/kubernetes.py``), so a misspelt field or a wrong
type fails here. Then what the deployment promises: hardened pods, probes on the services'
own ports, a grace period longer than the drain, configuration and credentials kept apart,
KEDA watching exactly the contract's queues, a disruption budget for every workload.
"""

from __future__ import annotations

import copy
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from invoicebus.settings import Settings
from invoicebus_contracts import Resource, Topology
from invoicebus_contracts.topology import MAX_COMMAND_SHARDS
from tests.support.kubernetes import ROOT, Manifest, Schemas, pod_specs, render

K8S = ROOT / "deploy/k8s"
EXAMPLE = K8S / "overlays/example"
# Service -> (module, HTTP port). The gateway's port is INVOICEBUS_GATEWAY_PORT's default.
SERVICES = {
    "commands": ("invoicebus.commands", Settings().command_http_port),
    "queries": ("invoicebus.queries", Settings().query_http_port),
    "gateway": ("invoicebus.gateway", 8080),
}


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return Schemas()


@pytest.fixture(scope="module")
def rendered() -> list[Manifest]:
    return render(EXAMPLE)


@pytest.fixture(scope="module")
def base() -> list[Manifest]:
    return render(K8S / "base")


def only(objects: list[Manifest], kind: str, name: str) -> Manifest:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def named(objects: list[Manifest], kind: str, prefix: str) -> Manifest:
    """An object whose generated name (with kustomize's hash suffix) starts with ``prefix``."""
    [found] = [
        o for o in objects if o["kind"] == kind and o["metadata"]["name"].startswith(f"{prefix}-")
    ]
    return found


def config(objects: list[Manifest]) -> dict[str, str]:
    data: dict[str, str] = named(objects, "ConfigMap", "invoicebus-config")["data"]
    return data


# -- schemas ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kustomization", ["rendered", "base"])
def test_every_object_matches_its_schema(
    schemas: Schemas, kustomization: str, request: pytest.FixtureRequest
) -> None:
    objects: list[Manifest] = request.getfixturevalue(kustomization)
    assert objects
    assert [error for obj in objects for error in schemas.errors(obj)] == []


def test_the_example_uses_the_crds_it_is_validated_against(rendered: list[Manifest]) -> None:
    kinds = {o["kind"] for o in rendered}
    assert {"ScaledObject", "TriggerAuthentication", "RabbitmqCluster"} <= kinds


def _container(obj: Manifest) -> Manifest:
    container: Manifest = obj["spec"]["template"]["spec"]["containers"][0]
    return container


# (kind, name, how to break it, what the error must say)
MISTAKES: dict[str, tuple[str, str, Callable[[Manifest], None], str]] = {
    "misspelt probe": (
        "Deployment", "invoicebus-commands",
        lambda o: _container(o).update(readynessProbe=_container(o).pop("readinessProbe")),
        "'readynessProbe' was unexpected",
    ),
    "grace period as text": (
        "Deployment", "invoicebus-queries",
        lambda o: o["spec"]["template"]["spec"].update(terminationGracePeriodSeconds="45"),
        "terminationGracePeriodSeconds: '45' is not of type",
    ),
    "port as text": (
        "Service", "invoicebus-gateway", lambda o: o["spec"]["ports"][0].update(port="80"),
        "ports.0.port: '80' is not of type",
    ),
    "misspelt scaler field": (
        "ScaledObject", "invoicebus-commands",
        lambda o: o["spec"]["triggers"][0].update(metdata=o["spec"]["triggers"][0].pop("metadata")),
        "'metdata' was unexpected",
    ),
    "number where KEDA wants text": (
        "ScaledObject", "invoicebus-queries",
        lambda o: o["spec"]["triggers"][0]["metadata"].update(value=20),
        "metadata.value: 20 is not of type 'string'",
    ),
    "misspelt secret reference": (
        "TriggerAuthentication", "invoicebus-rabbitmq-monitor",
        lambda o: o["spec"]["secretTargetRef"][0].update(parmeter="host"),
        "'parmeter' was unexpected",
    ),
    "misspelt cluster field": (
        "RabbitmqCluster", "rabbitmq",
        lambda o: o["spec"].update(replica=o["spec"].pop("replicas")),
        "'replica' was unexpected",
    ),
    "misspelt metadata field": (
        "RabbitmqCluster", "rabbitmq", lambda o: o["metadata"].update(label={"a": "b"}),
        "'label' was unexpected",
    ),
}  # fmt: skip


@pytest.mark.parametrize("mistake", MISTAKES)
def test_the_schemas_catch_mistakes(
    rendered: list[Manifest], schemas: Schemas, mistake: str
) -> None:
    kind, name, break_it, message = MISTAKES[mistake]
    broken = copy.deepcopy(only(rendered, kind, name))
    assert schemas.errors(broken) == []
    break_it(broken)
    errors = schemas.errors(broken)
    assert any(message in error for error in errors), errors


def test_a_typo_in_a_manifest_file_fails(schemas: Schemas, tmp_path: Path) -> None:
    """The whole path: a misspelt field in a source file survives kustomize and is caught."""
    copy_root = tmp_path / "k8s"
    shutil.copytree(K8S, copy_root)
    defaults = copy_root / "base/pod-defaults.yaml"
    text = defaults.read_text()
    assert "readOnlyRootFilesystem: true" in text
    defaults.write_text(
        text.replace("readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true")
    )
    errors = [e for obj in render(copy_root / "overlays/example") for e in schemas.errors(obj)]
    assert len(errors) == len(SERVICES), errors
    assert all("'readOnlyRootFileSystem' was unexpected" in e for e in errors)


# -- references and labels --------------------------------------------------------------------


def referenced_names(pod: Manifest) -> set[tuple[str, str]]:
    """(kind, name) of every ConfigMap and Secret a pod spec reads."""
    refs: set[tuple[str, str]] = set()
    for container in pod.get("initContainers", []) + pod["containers"]:
        for source in container.get("envFrom", []):
            for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if key in source:
                    refs.add((kind, source[key]["name"]))
        for env in container.get("env", []):
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                if key in env.get("valueFrom", {}):
                    refs.add((kind, env["valueFrom"][key]["name"]))
    for volume in pod.get("volumes", []):
        if "secret" in volume:
            refs.add(("Secret", volume["secret"]["secretName"]))
        if "configMap" in volume:
            refs.add(("ConfigMap", volume["configMap"]["name"]))
    return refs


def test_every_reference_resolves(rendered: list[Manifest]) -> None:
    present = {(o["kind"], o["metadata"]["name"]) for o in rendered}
    refs = {ref for _, pod in pod_specs(rendered) for ref in referenced_names(pod)}
    for obj in rendered:
        spec = obj.get("spec", {})
        if obj["kind"] == "TriggerAuthentication":
            refs |= {("Secret", ref["name"]) for ref in spec["secretTargetRef"]}
        if obj["kind"] == "ScaledObject":
            refs.add(("Deployment", spec["scaleTargetRef"]["name"]))
            refs |= {
                ("TriggerAuthentication", t["authenticationRef"]["name"]) for t in spec["triggers"]
            }
        if obj["kind"] == "HorizontalPodAutoscaler":
            refs.add((spec["scaleTargetRef"]["kind"], spec["scaleTargetRef"]["name"]))
        if obj["kind"] in ("Deployment", "StatefulSet"):
            refs.add(
                ("ServiceAccount", spec["template"]["spec"].get("serviceAccountName", "default"))
            )
        if obj["kind"] == "StatefulSet":
            refs.add(("Service", spec["serviceName"]))
    refs.discard(("ServiceAccount", "default"))
    assert refs - present == set()


def labels_of_pods(workload: Manifest) -> dict[str, str]:
    if workload["kind"] == "RabbitmqCluster":  # the operator labels its pods with the name
        return {"app.kubernetes.io/name": workload["metadata"]["name"]}
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def long_running(objects: list[Manifest]) -> list[Manifest]:
    kinds = ("Deployment", "StatefulSet", "RabbitmqCluster")
    return [o for o in objects if o["kind"] in kinds]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_services_and_budgets_select_pods(rendered: list[Manifest]) -> None:
    pods = [labels_of_pods(w) for w in long_running(rendered)]
    for obj in rendered:
        if obj["kind"] == "Service":
            selector = obj["spec"]["selector"]
        elif obj["kind"] == "PodDisruptionBudget":
            selector = obj["spec"]["selector"]["matchLabels"]
        else:
            continue
        assert any(selects(selector, labels) for labels in pods), obj["metadata"]["name"]


def test_every_long_running_workload_has_a_disruption_budget(rendered: list[Manifest]) -> None:
    budgets = [o["spec"] for o in rendered if o["kind"] == "PodDisruptionBudget"]
    for workload in long_running(rendered):
        labels = labels_of_pods(workload)
        covering = [b for b in budgets if selects(b["selector"]["matchLabels"], labels)]
        # One pod at a time: never the majority of a three-member RabbitMQ or MongoDB.
        assert [b.get("maxUnavailable") for b in covering] == [1], workload["metadata"]["name"]


def test_labels_are_consistent(rendered: list[Manifest]) -> None:
    for obj in rendered:
        labels = obj["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "invoicebus", obj["metadata"]["name"]
        assert "app.kubernetes.io/name" in labels, obj["metadata"]["name"]
    for workload, _ in pod_specs(rendered):
        template = workload["spec"]["template"]["metadata"]["labels"]
        assert template["app.kubernetes.io/part-of"] == "invoicebus"
        if workload["kind"] != "Job":
            assert selects(workload["spec"]["selector"]["matchLabels"], template)


# -- pods -------------------------------------------------------------------------------------


def test_every_pod_is_hardened(rendered: list[Manifest]) -> None:
    for workload, pod in pod_specs(rendered):
        name = workload["metadata"]["name"]
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] > 0, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in pod.get("initContainers", []) + pod["containers"]:
            assert container.get("securityContext") == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }, (name, container["name"])
    for _, pod in pod_specs(rendered):
        for container in pod["containers"]:
            resources = container["resources"]
            assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}


def invoicebus_deployments(objects: list[Manifest]) -> dict[str, Manifest]:
    return {
        o["metadata"]["labels"]["app.kubernetes.io/component"]: o
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["name"].startswith("invoicebus-")
    }


def test_each_service_runs_its_module_and_probes_its_own_port(rendered: list[Manifest]) -> None:
    deployments = invoicebus_deployments(rendered)
    assert set(deployments) == set(SERVICES)
    images = {
        c["image"]
        for d in deployments.values()
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {"registry.example.com/invoicebus:0.1.0"}  # one image, from the overlay
    for service, (module, port) in SERVICES.items():
        [container] = deployments[service]["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["python", "-m", module]
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # The probes come from outside the pod: the services listen on every address.
    assert config(rendered)["INVOICEBUS_HTTP_HOST"] == "0.0.0.0"
    gateway = only(rendered, "Service", "invoicebus-gateway")
    assert gateway["spec"]["ports"][0]["targetPort"] == "http"


def test_the_grace_period_outlasts_the_drain(rendered: list[Manifest]) -> None:
    shutdown = float(config(rendered)["INVOICEBUS_SHUTDOWN_TIMEOUT_SECONDS"])
    assert shutdown == Settings().shutdown_timeout_seconds
    for deployment in invoicebus_deployments(rendered).values():
        pod = deployment["spec"]["template"]["spec"]
        [container] = pod["containers"]
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {})
        sleep = float(pre_stop["command"][1]) if pre_stop else 0.0
        assert pod["terminationGracePeriodSeconds"] >= shutdown + sleep + 10
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_configuration_from_a_config_map_and_credentials_from_secrets(
    rendered: list[Manifest],
) -> None:
    settings = config(rendered)
    assert settings["INVOICEBUS_AUTH"] == "required"
    assert settings["INVOICEBUS_ADMINS"]
    for key in settings:
        assert key.startswith("INVOICEBUS_"), key
        assert not any(word in key for word in ("URL", "PASSWORD", "SECRET")), key
    config_map = named(rendered, "ConfigMap", "invoicebus-config")["metadata"]["name"]
    secret = named(rendered, "Secret", "invoicebus-credentials")
    assert set(secret["data"]) == {"AMQP_URL", "MONGODB_URL", "INVOICEBUS_CURSOR_SECRET"}
    # The gateway's own: its broker user's URL, and nothing of the database's.
    gateway_secret = named(rendered, "Secret", "invoicebus-gateway-credentials")
    assert set(gateway_secret["data"]) == {"AMQP_URL"}
    for component, deployment in invoicebus_deployments(rendered).items():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        reads = gateway_secret if component == "gateway" else secret
        assert container["envFrom"] == [
            {"configMapRef": {"name": config_map}},
            {"secretRef": {"name": reads["metadata"]["name"]}},
        ]
        assert "env" not in container


def test_the_gateway_connects_as_its_own_user_which_the_services_trust(
    rendered: list[Manifest],
) -> None:
    from urllib.parse import urlparse

    services = urlparse(secret_value(rendered, "invoicebus-credentials", "AMQP_URL"))
    gateway = urlparse(secret_value(rendered, "invoicebus-gateway-credentials", "AMQP_URL"))
    assert (gateway.hostname, gateway.port) == (services.hostname, services.port)
    assert gateway.username != services.username
    settings = config(rendered)
    assert settings["INVOICEBUS_GATEWAYS"].split(",") == [gateway.username]
    assert gateway.username not in settings["INVOICEBUS_ADMINS"].split(",")


def test_the_base_holds_no_credentials(base: list[Manifest]) -> None:
    assert [o for o in base if o["kind"] == "Secret"] == []
    text = "\n".join(p.read_text() for p in (K8S / "base").glob("*.yaml"))
    assert not re.search(r"\w+://[^/\s]*:[^@\s]*@", text)  # no URL with a password


# -- autoscaling ------------------------------------------------------------------------------


def contract_queues(prefix: str) -> dict[str, set[str]]:
    topology = Topology(prefix)
    return {
        # Every shard of the largest N: a later change of the setting needs no new pattern.
        "commands": {topology.command_shard_queue(i) for i in range(MAX_COMMAND_SHARDS)}
        | set(topology.retired_command_queues),
        "queries": {topology.query_queue(r) for r in Resource},
        "dead letters": {topology.dead_letter_queue},
    }


@pytest.mark.parametrize("service", ["commands", "queries"])
def test_keda_scales_each_service_on_exactly_its_queues(
    rendered: list[Manifest], service: str
) -> None:
    scaled = only(rendered, "ScaledObject", f"invoicebus-{service}")["spec"]
    assert scaled["scaleTargetRef"]["name"] == f"invoicebus-{service}"
    assert scaled["minReplicaCount"] == 1 < scaled["maxReplicaCount"]
    [trigger] = scaled["triggers"]
    assert trigger["type"] == "rabbitmq"
    meta = trigger["metadata"]
    assert (meta["protocol"], meta["mode"], meta["useRegex"], meta["operation"]) == (
        "http", "QueueLength", "true", "sum",
    )  # fmt: skip
    queues = contract_queues(config(rendered)["INVOICEBUS_PREFIX"])
    everything = set().union(*queues.values()) | contract_queues("other")["commands"]
    matched = {name for name in everything if re.search(meta["queueName"], name)}
    assert matched == queues[service]


def test_keda_reads_the_management_api_with_its_own_credentials(rendered: list[Manifest]) -> None:
    auth = only(rendered, "TriggerAuthentication", "invoicebus-rabbitmq-monitor")["spec"]
    secret = named(rendered, "Secret", "invoicebus-keda")
    assert {r["parameter"] for r in auth["secretTargetRef"]} == {"host", "username", "password"}
    assert {r["key"] for r in auth["secretTargetRef"]} == set(secret["data"])


# -- RabbitMQ and MongoDB ---------------------------------------------------------------------


def test_rabbitmq_is_a_three_node_cluster_with_the_plugins_it_needs(
    rendered: list[Manifest],
) -> None:
    cluster = only(rendered, "RabbitmqCluster", "rabbitmq")["spec"]
    assert cluster["replicas"] == 3
    assert cluster["image"].startswith("rabbitmq:4.")
    assert {
        "rabbitmq_consistent_hash_exchange", "rabbitmq_management", "rabbitmq_prometheus",
    } <= set(cluster["rabbitmq"]["additionalPlugins"])  # fmt: skip


def secret_value(objects: list[Manifest], prefix: str, key: str) -> str:
    import base64

    return base64.b64decode(named(objects, "Secret", prefix)["data"][key]).decode()


def test_mongodb_is_a_three_member_replica_set_the_services_reach(
    rendered: list[Manifest],
) -> None:
    stateful = only(rendered, "StatefulSet", "mongodb")["spec"]
    headless = only(rendered, "Service", stateful["serviceName"])["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
    assert stateful["replicas"] == 3
    script = " ".join(stateful["template"]["spec"]["containers"][0]["command"])
    assert "--replSet rs0" in script and "--keyFile" in script

    # The init script's members, the services' URL and the user it creates all agree.
    init = (K8S / "components/mongodb/replica-set-init.js").read_text()
    assert "[0, 1, 2].map" in init and "`mongodb-${i}.mongodb:27017`" in init
    url = urlparse(secret_value(rendered, "invoicebus-credentials", "MONGODB_URL"))
    hosts = url.netloc.split("@")[1].split(",")
    assert hosts == [f"mongodb-{i}.mongodb:27017" for i in range(3)]
    assert parse_qs(url.query)["replicaSet"] == ["rs0"]
    database = config(rendered)["INVOICEBUS_DATABASE"]
    assert url.path == f"/{database}" and parse_qs(url.query)["authSource"] == [database]
    assert url.netloc.split(":")[0] == secret_value(rendered, "mongodb-credentials", "app-username")
    password = url.netloc.split("@")[0].split(":")[1]
    assert password == secret_value(rendered, "mongodb-credentials", "app-password")


def test_the_services_reach_rabbitmq_through_the_clusters_service(
    rendered: list[Manifest],
) -> None:
    amqp = urlparse(secret_value(rendered, "invoicebus-credentials", "AMQP_URL"))
    host = urlparse(secret_value(rendered, "invoicebus-keda", "host"))
    name = only(rendered, "RabbitmqCluster", "rabbitmq")["metadata"]["name"]
    assert (amqp.scheme, amqp.hostname, amqp.port) == ("amqp", name, 5672)
    assert (host.scheme, host.hostname, host.port) == ("http", name, 15672)


def test_every_example_credential_says_it_is_an_example(rendered: list[Manifest]) -> None:
    secrets: list[Any] = [o for o in rendered if o["kind"] == "Secret"]
    assert len(secrets) == 4
    for env_file in EXAMPLE.glob("*.env"):
        assert "EXAMPLE values only" in env_file.read_text()
