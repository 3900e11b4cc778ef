"""The committed OpenAPI document is the generator's output and covers every operation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from invoicebus.gateway.app import create_app
from invoicebus.gateway.openapi import document, render
from invoicebus.gateway.routes import LIST_PARAMETERS, PATHS
from invoicebus.settings import Settings
from invoicebus_contracts import COMMAND_MODELS, ErrorCode

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "openapi.json"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return document(create_app(Settings()))


def test_committed_document_is_up_to_date() -> None:
    assert COMMITTED.read_text() == render(create_app(Settings())), (
        "docs/openapi.json is stale: run `make openapi`"
    )


def test_it_is_openapi_3_1_with_a_post_and_a_get_per_resource(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == set(PATHS.values())
    for path in PATHS.values():
        assert set(doc["paths"][path]) == {"post", "get"}


def test_each_create_takes_its_command_and_answers_201_or_an_error_body(
    doc: dict[str, Any],
) -> None:
    for resource, path in PATHS.items():
        post = doc["paths"][path]["post"]
        schema = post["requestBody"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{COMMAND_MODELS[resource].__name__}"}
        assert "201" in post["responses"]
        for status in ("401", "404", "409", "422", "503", "504"):
            error = post["responses"][status]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorBody"}
        headers = {p["name"] for p in post["parameters"] if p["in"] == "header"}
        assert headers == {"x-entity-id", "Idempotency-Key"}


def test_each_list_takes_the_reference_parameters(doc: dict[str, Any]) -> None:
    for path in PATHS.values():
        get = doc["paths"][path]["get"]
        assert [p["name"] for p in get["parameters"] if p["in"] == "query"] == list(LIST_PARAMETERS)
        assert "HTTPValidationError" not in json.dumps(get)  # never FastAPI's error shape


def test_every_error_code_and_command_schema_is_in_the_components(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert set(schemas["ErrorCode"]["enum"]) == {code.value for code in ErrorCode}
    for model in COMMAND_MODELS.values():
        assert schemas[model.__name__]["type"] == "object"
    refs = {v for v in _values(doc, "$ref")}
    assert all(ref.removeprefix("#/components/schemas/") in schemas for ref in refs)
    assert "HTTPValidationError" not in schemas


def _values(node: Any, key: str) -> list[Any]:
    if isinstance(node, dict):
        found = [node[key]] if key in node else []
        return found + [v for child in node.values() for v in _values(child, key)]
    if isinstance(node, list):
        return [v for child in node for v in _values(child, key)]
    return []
