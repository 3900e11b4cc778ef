"""The committed AsyncAPI document is the generator's output and covers the whole contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from invoicebus.asyncapi import document, render
from invoicebus_contracts import DEFAULT_PREFIX, Resource, Topology

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.yaml"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return document()


def test_committed_document_is_up_to_date() -> None:
    assert COMMITTED.read_text() == render(yaml_format=True, prefix=DEFAULT_PREFIX), (
        "docs/asyncapi.yaml is stale: run `uv run invoicebus asyncapi --yaml -o docs/asyncapi.yaml`"
    )
    assert yaml.safe_load(COMMITTED.read_text()) == document()


@pytest.fixture(scope="module")
def asyncapi_schema() -> jsonschema.Draft7Validator:
    """The official AsyncAPI 3.0.0 JSON schema (vendored, see tests/data/README.md)."""
    schema = json.loads((ROOT / "tests" / "data" / "asyncapi-3.0.0.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_document_is_valid_asyncapi_3(asyncapi_schema: jsonschema.Draft7Validator) -> None:
    committed = yaml.safe_load(COMMITTED.read_text())
    errors = [
        f"{list(e.absolute_path)}: {e.message[:200]}"
        for e in asyncapi_schema.iter_errors(committed)
    ]
    assert errors == []


def test_the_asyncapi_schema_catches_mistakes(
    asyncapi_schema: jsonschema.Draft7Validator, doc: dict[str, Any]
) -> None:
    broken = json.loads(json.dumps(doc))
    broken["operations"]["createCustomer"]["action"] = "publish"  # AsyncAPI 2 wording
    broken["components"]["messages"]["ErrorReply"]["bindings"]["amqp"]["deliveryMode"] = 2
    assert len(list(asyncapi_schema.iter_errors(broken))) == 2


def test_every_routing_key_of_the_contract_is_a_channel(doc: dict[str, Any]) -> None:
    topology = Topology(DEFAULT_PREFIX)
    addresses = {
        channel["address"]: channel.get("bindings", {}).get("amqp", {})
        for channel in doc["channels"].values()
    }
    for resource in Resource:
        assert addresses[resource.create_key]["exchange"]["name"] == topology.commands_exchange
        assert addresses[resource.created_key]["exchange"]["name"] == topology.events_exchange
        assert addresses[resource.rejected_key]["exchange"]["name"] == topology.events_exchange
        assert addresses[resource.list_key]["exchange"]["name"] == topology.queries_exchange
        assert addresses[resource.list_key]["exchange"]["type"] == "direct"
    assert addresses[topology.dead_letter_queue]["queue"]["name"] == "invoicebus.dead-letter"


def test_commands_and_queries_document_their_replies(doc: dict[str, Any]) -> None:
    for resource in Resource:
        name = resource.value.capitalize()
        for operation in (doc["operations"][f"create{name}"], doc["operations"][f"list{name}"]):
            assert operation["action"] == "receive"
            assert operation["reply"]["address"]["location"] == "$message.header#/reply_to"
            replies = [m["$ref"].rsplit("/", 1)[-1] for m in operation["reply"]["messages"]]
            assert "ErrorReply" in replies and len(replies) == 2


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    for ref in _refs(doc):
        assert ref.startswith("#/"), ref
        _resolve(doc, ref)


def test_operation_messages_belong_to_their_channel(doc: dict[str, Any]) -> None:
    for name, operation in doc["operations"].items():
        channel = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel + "/messages/"), name


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    root = {**schema, "components": doc["components"]}
    jsonschema.Draft202012Validator.check_schema(root)
    return jsonschema.Draft202012Validator(root)


def _payload(doc: dict[str, Any], message: str) -> dict[str, Any]:
    payload: dict[str, Any] = doc["components"]["messages"][message]["payload"]
    return payload


ENTITY = "ent_" + "a" * 24
WIRE_EXAMPLES = [
    ("CreateItem", {"name": "Espresso", "price": 1.5, "taxes": [{"rate": 22}], "unit": "cup"}),
    ("CreateCustomer", {"name": "Ada", "metadata": {"crm": "7"}}),
    ("ListCustomerRequest", {"limit": 2, "query": {"name": {"startsWith": "A"}}}),
    (
        "ErrorReply",
        {
            "error": {
                "type": "invalid_request_error",
                "code": "validation_error",
                "message": "x",
                "errors": [{"loc": ["name"], "msg": "Field required"}],
            }
        },
    ),
    (
        "TaxCreated",
        {
            "id": "tax_" + "b" * 24,
            "name": None,
            "rate": 22,
            "classification": None,
            "entity_id": ENTITY,
            "created_at": "2024-01-01T00:00:00.000Z",
            "updated_at": "2024-01-01T00:00:00.000Z",
        },
    ),
    (
        "TaxPage",
        {
            "data": [],
            "pagination": {"total": 0, "next_cursor": None, "prev_cursor": None, "has_more": False},
        },
    ),
]
INVALID_EXAMPLES = [
    ("CreateCustomer", {"name": "Ada", "colour": "red"}),  # unknown fields are refused
    ("CreateTax", {"rate": 101}),
    ("CreateItem", {"name": "X", "price": -1}),
    ("ErrorReply", {"error": {"type": "x", "code": "no_such_code", "message": "x"}}),
]


@pytest.mark.parametrize(("message", "body"), WIRE_EXAMPLES)
def test_payload_schemas_accept_real_bodies(
    doc: dict[str, Any], message: str, body: dict[str, Any]
) -> None:
    _validator(doc, _payload(doc, message)).validate(body)


@pytest.mark.parametrize(("message", "body"), INVALID_EXAMPLES)
def test_payload_schemas_refuse_what_the_services_refuse(
    doc: dict[str, Any], message: str, body: dict[str, Any]
) -> None:
    assert not _validator(doc, _payload(doc, message)).is_valid(body)
