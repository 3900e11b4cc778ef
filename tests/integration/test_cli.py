"""The ``invoicebus`` CLI as a user runs it: a real process, the real broker and services."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from invoicebus.settings import Settings
from invoicebus_client.topology import delete_topology
from invoicebus_contracts import Resource, Topology
from tests.support.amqp import RawClient, body, peek_queue

pytestmark = pytest.mark.usefixtures("command_service")

INVOICEBUS = str(Path(sys.executable).with_name("invoicebus"))


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def lines(self) -> list[Any]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def cli_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOICEBUS_")}
    env.update(AMQP_URL=settings.amqp_url, INVOICEBUS_PREFIX=settings.prefix)
    return env


async def invoicebus(
    settings: Settings, *args: str, stdin: bytes | None = None, timeout: float = 60
) -> Result:
    """Run the CLI without blocking the event loop the services of the fixtures run in."""
    process = await asyncio.create_subprocess_exec(
        INVOICEBUS,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_env(settings),
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), timeout)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


async def test_entity_and_customer_create_print_the_created_resources(
    settings: Settings, db: Any
) -> None:
    created = await invoicebus(
        settings, "entity", "create", "--name", "CLI Entity", "--country-code", "si",
        "--metadata", "team=cli",
    )  # fmt: skip
    assert created.code == 0, created.stderr
    entity = created.json()
    assert entity["id"].startswith("ent_")
    assert entity["country_code"] == "SI"
    assert entity["metadata"] == {"team": "cli"}

    result = await invoicebus(
        settings, "--entity", entity["id"], "customer", "create", "--name", "Ada",
        "--email", "ada@example.com", "--city", "Ljubljana", "-m", "crm=7", "-m", "tier=gold",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    customer = result.json()
    assert customer["entity_id"] == entity["id"]
    assert (customer["name"], customer["email"], customer["city"]) == (
        "Ada", "ada@example.com", "Ljubljana",
    )  # fmt: skip
    assert customer["metadata"] == {"crm": "7", "tier": "gold"}
    assert customer["vies"] is None
    stored = await db.customers.find_one({"_id": customer["id"]})
    assert stored["entity_id"] == entity["id"]


async def test_json_body_from_stdin_with_options_on_top(
    settings: Settings, entity: dict[str, Any]
) -> None:
    raw = json.dumps({"name": "From JSON", "city": "Maribor", "metadata": {"a": "1"}}).encode()
    result = await invoicebus(
        settings, "--entity", entity["id"], "customer", "create", "--json", "-",
        "--name", "Overridden", "-m", "b=2", stdin=raw,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    customer = result.json()
    assert (customer["name"], customer["city"]) == ("Overridden", "Maribor")
    assert customer["metadata"] == {"a": "1", "b": "2"}


async def test_same_message_id_twice_creates_once(
    settings: Settings, entity: dict[str, Any]
) -> None:
    message_id = str(uuid.uuid4())
    args = ("--entity", entity["id"], "customer", "create", "--name", "Once",
            "--message-id", message_id)  # fmt: skip
    first, second = await invoicebus(settings, *args), await invoicebus(settings, *args)
    assert first.code == second.code == 0, (first.stderr, second.stderr)
    assert first.json() == second.json()


async def test_invalid_options_are_refused_locally_naming_the_field(settings: Settings) -> None:
    result = await invoicebus(
        settings, "customer", "create", "--name", "X", "--country-code", "XX", "--timeout", "2"
    )
    assert result.code == 1
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "validation_error"
    assert error["errors"][0]["loc"] == ["country_code"]


async def test_service_error_reply_goes_to_stderr_with_exit_1(settings: Settings) -> None:
    result = await invoicebus(
        settings, "--entity", "ent_" + "0" * 24, "customer", "create", "--name", "Nobody's"
    )
    assert result.code == 1
    assert result.stdout == ""
    assert json.loads(result.stderr)["error"]["code"] == "entity_not_found"


async def test_no_wait_prints_the_message_id_and_the_command_is_processed(
    settings: Settings, client: RawClient, entity: dict[str, Any]
) -> None:
    tap = await client.subscribe("customer.created")
    result = await invoicebus(
        settings, "--entity", entity["id"], "customer", "create", "--name", "Fire and forget",
        "--no-wait",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    message_id = result.stdout.strip()
    uuid.UUID(message_id)
    event = await tap.wait_for(lambda m: m.correlation_id == message_id)
    assert body(event)["name"] == "Fire and forget"


async def test_commands_sent_before_any_service_wait_in_their_queue(settings: Settings) -> None:
    """A fresh prefix with no service: the CLI declares the topology, so nothing is lost."""
    lonely = Settings(amqp_url=settings.amqp_url, prefix=f"{settings.prefix}-lonely")
    try:
        queued = await invoicebus(lonely, "entity", "create", "--name", "Early", "--no-wait")
        assert queued.code == 0, queued.stderr
        waiting = await invoicebus(lonely, "entity", "create", "--name", "Late", "--timeout", "1")
        assert waiting.code == 2
        assert "no reply" in waiting.stderr

        messages = await peek_queue(
            settings.amqp_url, lonely.topology.command_queue(Resource.ENTITY)
        )
        assert [json.loads(m.body)["name"] for m in messages] == ["Early", "Late"]
        assert messages[0].message_id == queued.stdout.strip()
        assert all(m.delivery_mode == aio_pika.DeliveryMode.PERSISTENT for m in messages)
    finally:
        connection = await aio_pika.connect(settings.amqp_url)
        async with connection:
            await delete_topology(await connection.channel(), Topology(lonely.prefix))


async def test_unreachable_broker_exits_2_with_a_clear_message(settings: Settings) -> None:
    result = await invoicebus(
        settings, "--amqp-url", "amqp://guest:secret@127.0.0.1:1/", "entity", "create",
        "--name", "X",
    )  # fmt: skip
    assert result.code == 2
    assert "cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:1/" in result.stderr
    assert "secret" not in result.stderr


async def test_events_tail_prints_each_event_as_a_json_line(
    settings: Settings, client: RawClient, entity: dict[str, Any]
) -> None:
    process = await asyncio.create_subprocess_exec(
        INVOICEBUS, "events", "tail", "--binding", "customer.*",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=cli_env(settings),
    )  # fmt: skip
    try:
        assert process.stderr is not None and process.stdout is not None
        ready = await asyncio.wait_for(process.stderr.readline(), 30)
        assert b"listening on" in ready
        reply = await client.command(
            "customer.create", {"name": "Tailed"}, entity_id=entity["id"], message_id="tail-1"
        )
        assert reply.status == 201
        line = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))
        assert line["type"] == "customer.created"
        assert line["id"].startswith("evt_")
        assert line["entity_id"] == entity["id"]
        assert line["correlation_id"] == "tail-1"
        assert line["body"] == reply.body
    finally:
        process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), 30)
    assert code == 0


async def test_dlq_list_and_replay_round_trip(settings: Settings, entity: dict[str, Any]) -> None:
    message_id = f"dlq-{uuid.uuid4()}"
    refused = await invoicebus(
        settings, "--entity", entity["id"], "customer", "create", "--json",
        '{"name": "Bad", "colour": "red"}', "--no-validate", "--message-id", message_id,
    )  # fmt: skip
    assert refused.code == 1
    assert json.loads(refused.stderr)["error"]["code"] == "validation_error"

    letter = await dead_letter(settings, message_id)
    assert letter["error_code"] == "validation_error"
    assert "colour" in letter["error_message"]
    assert letter["original_routing_key"] == "customer.create"
    assert letter["original_exchange"] == settings.topology.commands_exchange
    assert letter["entity_id"] == entity["id"]
    assert letter["body"] == {"name": "Bad", "colour": "red"}
    # Listing leaves it in place.
    assert await dead_letter(settings, message_id) == letter

    replayed = await invoicebus(settings, "dlq", "replay", "--message-id", message_id)
    assert replayed.code == 0, replayed.stderr
    assert [r["message_id"] for r in replayed.lines()] == [message_id]
    # Still invalid, so the service refuses it again: a fresh dead letter with a new timestamp.
    again = await dead_letter(settings, message_id, newer_than=letter["dead_lettered_at"])
    assert again["error_code"] == "validation_error"
    assert again["body"] == letter["body"]

    missing = await invoicebus(settings, "dlq", "replay", "--message-id", "no-such-message")
    assert missing.code == 1
    assert "no-such-message" in missing.stderr


async def test_dlq_replay_of_a_command_that_is_valid_now_creates_it(
    settings: Settings, client: RawClient, entity: dict[str, Any]
) -> None:
    """An item refused for a missing tax goes through once the tax exists and it is replayed."""
    classification = f"reduced-{uuid.uuid4().hex[:6]}"
    message_id = f"dlq-{uuid.uuid4()}"
    item = ("item", "create", "--name", "Espresso", "--price", "1.50", "--tax-class",
            classification, "--message-id", message_id)  # fmt: skip
    refused = await invoicebus(settings, "--entity", entity["id"], *item)
    assert refused.code == 1
    assert json.loads(refused.stderr)["error"]["code"] == "tax_not_found"
    assert (await dead_letter(settings, message_id))["error_code"] == "tax_not_found"

    tax = await invoicebus(
        settings, "--entity", entity["id"], "tax", "create", "--rate", "9.5",
        "--classification", classification,
    )  # fmt: skip
    assert tax.code == 0, tax.stderr
    tap = await client.subscribe("item.created")
    replayed = await invoicebus(settings, "dlq", "replay", "--message-id", message_id)
    assert replayed.code == 0, replayed.stderr

    event = await tap.wait_for(lambda m: m.correlation_id == message_id)
    created = body(event)
    assert created["tax_ids"] == [tax.json()["id"]]
    assert (created["price"], created["total_tax"]) == (1.5, 0.14)  # 1.50 * 9.5 % = 0.1425
    listed = await invoicebus(settings, "dlq", "list")
    assert message_id not in {d["message_id"] for d in listed.lines()}
    # The same message_id again is the same item: the replay kept the idempotency key.
    again = await invoicebus(settings, "--entity", entity["id"], *item)
    assert again.code == 0, again.stderr
    assert again.json() == created


async def dead_letter(
    settings: Settings, message_id: str, *, newer_than: str | None = None
) -> dict[str, Any]:
    """The dead letter with this message_id, as ``dlq list`` shows it (waits for it)."""
    for _ in range(50):
        result = await invoicebus(settings, "dlq", "list")
        assert result.code == 0, result.stderr
        found = [d for d in result.lines() if d["message_id"] == message_id]
        if found and (newer_than is None or found[-1]["dead_lettered_at"] > newer_than):
            assert len(found) == 1
            letter: dict[str, Any] = found[0]
            return letter
        await asyncio.sleep(0.2)
    raise AssertionError(f"{message_id} never showed up in the dead-letter queue")


@pytest.mark.usefixtures("query_service")
async def test_list_pages_and_all(settings: Settings, entity: dict[str, Any]) -> None:
    names = [f"Lister {i}" for i in range(5)]
    for name in names:
        made = await invoicebus(
            settings, "--entity", entity["id"], "customer", "create", "--name", name
        )
        assert made.code == 0, made.stderr

    first = await invoicebus(settings, "--entity", entity["id"], "customer", "list", "--limit", "2")
    assert first.code == 0, first.stderr
    page = first.json()
    assert [c["name"] for c in page["data"]] == names[:2]
    assert page["pagination"]["total"] == 5
    assert page["pagination"]["has_more"] is True

    second = await invoicebus(
        settings, "--entity", entity["id"], "customer", "list", "--limit", "2",
        "--next-cursor", page["pagination"]["next_cursor"], "--no-total",
    )  # fmt: skip
    assert [c["name"] for c in second.json()["data"]] == names[2:4]
    assert second.json()["pagination"]["total"] == -1

    every = await invoicebus(
        settings, "--entity", entity["id"], "customer", "list", "--all", "--limit", "2"
    )
    assert every.code == 0, every.stderr
    assert [c["name"] for c in every.lines()] == names

    found = await invoicebus(
        settings, "--entity", entity["id"], "customer", "list",
        "--query", '{"name": {"endsWith": "3"}}',
    )  # fmt: skip
    assert [c["name"] for c in found.json()["data"]] == ["Lister 3"]

    bad = await invoicebus(
        settings, "--entity", entity["id"], "customer", "list", "--query", '{"$where": "1"}'
    )
    assert bad.code == 1
    assert json.loads(bad.stderr)["error"]["code"] == "invalid_query"
