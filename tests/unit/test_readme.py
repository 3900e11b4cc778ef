"""The README and the wire contract document the public API: every setting, limit, error code
and routing key."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from invoicebus.settings import Settings
from invoicebus_contracts import REPLAY_KEY, ErrorCode, Resource, Topology, limits

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
WIRE_CONTRACT = (ROOT / "docs" / "wire-contract.md").read_text()
#: Both summarize the contract: a change must reach both.
CONTRACT_DOCS = pytest.mark.parametrize("doc", [README, WIRE_CONTRACT], ids=["README", "wire"])


def env_names(field: str) -> list[str]:
    """The environment variables a settings field is read from."""
    alias = Settings.model_fields[field].validation_alias
    if alias is not None:
        return [str(choice) for choice in getattr(alias, "choices", [alias])]
    return [f"INVOICEBUS_{field.upper()}"]


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_documented(field: str) -> None:
    for name in env_names(field):
        assert f"`{name}`" in README, f"{name} is missing from the README's configuration table"


@CONTRACT_DOCS
@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_code_is_documented_with_its_status(doc: str, code: ErrorCode) -> None:
    assert f"| `{code.value}` | {code.status} |" in doc


@CONTRACT_DOCS
@pytest.mark.parametrize("resource", list(Resource))
def test_every_routing_key_is_documented(doc: str, resource: Resource) -> None:
    for key in (resource.create_key, resource.created_key, resource.rejected_key,
                resource.list_key):  # fmt: skip
        assert f"`{key}`" in doc


def limit_values() -> list[tuple[str, object]]:
    return [
        (name, value)
        for name, value in vars(limits).items()
        if name.isupper() and isinstance(value, int | Decimal)
    ]


@CONTRACT_DOCS
@pytest.mark.parametrize(("name", "value"), limit_values())
def test_every_limit_value_is_in_the_limits_table(doc: str, name: str, value: object) -> None:
    section = re.split(r"^##+ Limits$", doc, maxsplit=1, flags=re.MULTILINE)[1]
    section = re.split(r"^##", section, maxsplit=1, flags=re.MULTILINE)[0]
    numbers = set(re.findall(r"\d+", section))
    assert str(value) in numbers, f"limits.{name} = {value} is not in the limits table"


def test_links_to_the_wire_contract_in_the_repository_and_the_lead_s_sections() -> None:
    assert "(docs/wire-contract.md)" in README
    assert "(docs/query-language.md)" in README
    assert "## Guarantees" in README
    assert "## Query language" in README


def test_the_topology_table_says_what_is_declared() -> None:
    section = README.split("### Exchanges and queues", 1)[1].split("\n### ", 1)[0]
    rows = {line.split("|")[1].strip(" `"): line for line in section.splitlines() if "| `" in line}
    topology = Topology()
    declared = topology.declarations()
    for exchange in declared.exchanges:
        assert f"| {exchange.kind} exchange, durable |" in rows[exchange.name]
    assert "| classic queue, durable |" in rows[topology.dead_letter_queue]
    for queue, row in (
        (
            declared.queue(topology.command_shard_queue(0)),
            rows["invoicebus.commands.shard-<n>"],
        ),
        (declared.queue(topology.query_queue(Resource.ITEM)), rows["invoicebus.<resource>.list"]),
    ):
        assert f"| {queue.queue_type} queue |" in row
        for key, value in queue.arguments.items():
            assert f"`{key}: {value}`" in row


@CONTRACT_DOCS
def test_the_replay_request_and_its_queue_are_documented(doc: str) -> None:
    topology = Topology()
    assert f"`{REPLAY_KEY}`" in doc
    assert f"`{topology.replay_queue}`" in doc
