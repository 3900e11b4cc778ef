"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

The Compose file is validated against the official Compose Specification schema and against
the schema Debian's docker-compose 1.29 validates with (both vendored in ``tests/data``), then
against what this deployment needs: official images, MongoDB as a replica set, healthchecks
everywhere, services started only once their backends are healthy, credentials only from
the env file, resource limits, authorization required, the gateway, RabbitMQ's plugins.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {
    "commands": "invoicebus.commands",
    "queries": "invoicebus.queries",
    "gateway": "invoicebus.gateway",
}
# ${NAME}, ${NAME:?message}, ${NAME:-default}: the interpolation both Compose versions read.
VARIABLE = re.compile(r"\$\{(\w+)(?::?[?-][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def interpolate(value: str) -> str:
    """A value as Compose passes it to the container, with .env.example as the .env."""
    env = env_example()
    return VARIABLE.sub(lambda m: env[m.group(1)], value).replace("$$", "$")


def validator(schema_file: str) -> jsonschema.protocols.Validator:
    schema = json.loads((ROOT / "tests/data" / schema_file).read_text())
    return jsonschema.Draft4Validator(schema)  # what docker-compose 1.29 validates with


def errors(compose: dict[str, Any], schema_file: str) -> list[str]:
    found = validator(schema_file).iter_errors(compose)
    return [f"{list(e.absolute_path)}: {e.message}" for e in found]


@pytest.mark.parametrize(
    "schema_file", ["compose-spec.json", "compose-spec-docker-compose-1.29.2.json"]
)
def test_compose_file_follows_both_compose_schemas(
    compose: dict[str, Any], schema_file: str
) -> None:
    assert errors(compose, schema_file) == []


def test_the_schemas_catch_mistakes(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["mongo"]["helthcheck"] = broken["services"]["mongo"].pop("healthcheck")
    broken["services"]["commands"]["depends_on"]["mongo"]["condition"] = "healthy"
    assert len(errors(broken, "compose-spec.json")) == 2
    # What Compose v2 accepts and docker-compose 1.29 refuses.
    newer = json.loads(json.dumps(compose)) | {"name": "invoicebus"}
    assert errors(newer, "compose-spec.json") == []
    assert len(errors(newer, "compose-spec-docker-compose-1.29.2.json")) == 1


def test_official_images(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["rabbitmq"]["image"] == "rabbitmq:4-management"
    assert services["mongo"]["image"] == "mongo:8"


def test_mongo_runs_as_a_single_node_replica_set_with_access_control(
    compose: dict[str, Any],
) -> None:
    mongo = compose["services"]["mongo"]
    command = mongo["command"]
    assert command[command.index("--replSet") + 1] == "rs0"
    # The key file the entrypoint writes is the one mongod reads (it implies --auth).
    key_file = command[command.index("--keyFile") + 1]
    assert f"> {key_file}" in mongo["entrypoint"][2]
    script = mongo["healthcheck"]["test"][-1]
    assert "rs.initiate(" in script
    assert '_id: "rs0"' in script
    assert 'host: "mongo:27017"' in script
    assert "isWritablePrimary" in script  # healthy only once it accepts writes
    probe = mongo["healthcheck"]["test"]
    assert (
        probe[probe.index("--username") + 1] == mongo["environment"]["MONGO_INITDB_ROOT_USERNAME"]
    )
    # The services' user, created on the first start, may use their database only.
    source, target = mongo["volumes"][1].split(":")[:2]
    assert target.startswith("/docker-entrypoint-initdb.d/")
    init = (ROOT / source).read_text()
    assert 'roles: [{ role: "readWrite", db: "invoicebus" }]' in init
    assert "env.MONGO_APP_USER" in init and "env.MONGO_APP_PASSWORD" in init


def test_every_service_has_a_healthcheck_and_resource_limits(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] == "CMD", name
        assert service["mem_limit"] and service["cpus"] > 0, name


@pytest.mark.parametrize(("service", "module"), SERVICES.items())
def test_app_services_use_the_image_and_wait_for_healthy_backends(
    compose: dict[str, Any], service: str, module: str
) -> None:
    spec = compose["services"][service]
    assert spec["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (ROOT / spec["build"]["context"] / spec["build"]["dockerfile"]).is_file()
    assert spec["command"] == ["python", "-m", module]
    assert importlib.util.find_spec(f"{module}.__main__") is not None, f"{module} is missing"
    assert spec["depends_on"] == {
        "rabbitmq": {"condition": "service_healthy"},
        "mongo": {"condition": "service_healthy"},
    }

    env = {key: interpolate(value) for key, value in spec["environment"].items()}
    amqp = urlparse(env["AMQP_URL"])
    assert (amqp.scheme, amqp.hostname, amqp.port) == ("amqp", "rabbitmq", 5672)
    if service == "gateway":  # it speaks only to the bus: no database credentials
        assert env["MONGODB_URL"] == env["INVOICEBUS_CURSOR_SECRET"] == ""
    else:
        mongo = urlparse(env["MONGODB_URL"])
        assert (mongo.scheme, mongo.hostname, mongo.port) == ("mongodb", "mongo", 27017)
        assert parse_qs(mongo.query)["replicaSet"] == ["rs0"]
    assert env["INVOICEBUS_HTTP_HOST"] == "0.0.0.0"  # health checks reach it inside the container
    # Unprivileged and read-only, as in Kubernetes.
    assert spec["read_only"] is True and spec["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in spec["security_opt"]


def test_app_healthchecks_probe_each_service_own_port(compose: dict[str, Any]) -> None:
    from invoicebus.settings import Settings

    ports = {
        "commands": Settings().command_http_port,
        "queries": Settings().query_http_port,
        "gateway": 8080,  # INVOICEBUS_GATEWAY_PORT's default
    }
    for service, port in ports.items():
        probe = " ".join(compose["services"][service]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/readyz" in probe
    assert compose["services"]["gateway"]["ports"] == ["127.0.0.1:8080:8080"]


def test_credentials_come_from_the_env_file_only(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "guest" not in text
    used = set(VARIABLE.findall(text))
    assert used == set(env_example())  # every variable documented, none left over
    # Each is required: without a .env, `up` stops with a message instead of starting with
    # empty credentials.
    for found in re.finditer(r"\$\{(\w+)([^}]*)\}", text):
        assert found.group(2).startswith(":?"), found.group(0)
    for ignore in (".gitignore", ".dockerignore"):
        assert ".env" in (ROOT / ignore).read_text().splitlines(), ignore


def test_authorization_is_required_with_the_services_own_user_as_admin(
    compose: dict[str, Any],
) -> None:
    users = {}
    for service in SERVICES:
        env = compose["services"][service]["environment"]
        assert env["INVOICEBUS_AUTH"] == "required"
        users[service] = urlparse(interpolate(env["AMQP_URL"])).username
    rabbitmq = compose["services"]["rabbitmq"]["environment"]
    for service in ("commands", "queries"):
        env = compose["services"][service]["environment"]
        assert interpolate(env["INVOICEBUS_ADMINS"]) == users[service]
        assert interpolate(rabbitmq["RABBITMQ_DEFAULT_USER"]) == users[service]
        # The services trust the gateway's own user, and only it, to act for API keys.
        assert interpolate(env["INVOICEBUS_GATEWAYS"]) == users["gateway"]
    assert users["gateway"] == interpolate(rabbitmq["RABBITMQ_GATEWAY_USER"])
    assert users["gateway"] != users["commands"]


def test_the_gateway_user_has_a_principal_s_permissions_without_grants() -> None:
    from invoicebus.broker_permissions import permissions
    from invoicebus_contracts import Topology

    script = (ROOT / "deploy/compose/rabbitmq-healthcheck.sh").read_text()
    expected = permissions(Topology(), [], admin=False)
    quoted = re.findall(r"'([^']*)'", script.split("set_permissions", 1)[1])
    assert quoted[:3] == [expected.configure, expected.write, expected.read]
    [(exchange, (write, read))] = expected.topics.items()
    assert f"set_topic_permissions -p / \"$user\" {exchange} '{write}' '{read}'" in script


def test_rabbitmq_enables_the_plugins_the_system_needs(compose: dict[str, Any]) -> None:
    volumes = compose["services"]["rabbitmq"]["volumes"]
    [plugins] = [v for v in volumes if ":/etc/rabbitmq/enabled_plugins" in v]
    source = ROOT / plugins.split(":")[0]
    listed = re.fullmatch(r"\[([a-z_,]+)\]\.\n", source.read_text())
    assert listed is not None, "an Erlang list of atoms, ending with a full stop"
    assert set(listed.group(1).split(",")) == {
        "rabbitmq_management",
        "rabbitmq_prometheus",
        "rabbitmq_consistent_hash_exchange",
    }


def test_dockerfile_builds_the_locked_project_and_runs_unprivileged() -> None:
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in dockerfile
    assert re.search(r"^FROM \$\{PYTHON_IMAGE\}\s*$", dockerfile, re.M)  # runtime stage
    assert re.search(r"uv sync --frozen --no-dev", dockerfile)
    assert "COPY pyproject.toml uv.lock" in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    assert 'CMD ["python", "-m", "invoicebus.commands"]' in dockerfile
