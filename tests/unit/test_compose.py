"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

The Compose file is validated against the official Compose Specification schema (vendored in
``tests/data``), then against what this deployment needs: official images, MongoDB as a
replica set, healthchecks everywhere, services started only once their backends are healthy.
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
SERVICES = {"commands": "invoicebus.commands", "queries": "invoicebus.queries"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads((ROOT / "tests/data/compose-spec.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_compose_file_follows_the_compose_specification(
    compose: dict[str, Any], validator: jsonschema.protocols.Validator
) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_schema_catches_mistakes(
    compose: dict[str, Any], validator: jsonschema.protocols.Validator
) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["mongo"]["helthcheck"] = broken["services"]["mongo"].pop("healthcheck")
    broken["services"]["commands"]["depends_on"]["mongo"]["condition"] = "healthy"
    assert len(list(validator.iter_errors(broken))) == 2


def test_official_images(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["rabbitmq"]["image"] == "rabbitmq:4-management"
    assert services["mongo"]["image"] == "mongo:8"


def test_mongo_runs_as_a_single_node_replica_set(compose: dict[str, Any]) -> None:
    mongo = compose["services"]["mongo"]
    command = mongo["command"]
    assert command[command.index("--replSet") + 1] == "rs0"
    script = mongo["healthcheck"]["test"][-1]
    assert "rs.initiate(" in script
    assert '_id: "rs0"' in script
    assert 'host: "mongo:27017"' in script
    assert "isWritablePrimary" in script  # healthy only once it accepts writes


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] == "CMD", name


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

    env = spec["environment"]
    amqp = urlparse(env["AMQP_URL"])
    assert (amqp.scheme, amqp.hostname, amqp.port) == ("amqp", "rabbitmq", 5672)
    mongo = urlparse(env["MONGODB_URL"])
    assert (mongo.scheme, mongo.hostname, mongo.port) == ("mongodb", "mongo", 27017)
    assert parse_qs(mongo.query)["replicaSet"] == ["rs0"]
    assert env["INVOICEBUS_HTTP_HOST"] == "0.0.0.0"  # health checks reach it inside the container


def test_app_healthchecks_probe_each_service_own_port(compose: dict[str, Any]) -> None:
    from invoicebus.settings import Settings

    ports = {"commands": Settings().command_http_port, "queries": Settings().query_http_port}
    for service, port in ports.items():
        probe = " ".join(compose["services"][service]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/" in probe


def test_dockerfile_builds_the_locked_project_and_runs_unprivileged() -> None:
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in dockerfile
    assert re.search(r"^FROM \$\{PYTHON_IMAGE\}\s*$", dockerfile, re.M)  # runtime stage
    assert re.search(r"uv sync --frozen --no-dev", dockerfile)
    assert "COPY pyproject.toml uv.lock" in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    assert 'CMD ["python", "-m", "invoicebus.commands"]' in dockerfile
