"""The ``invoicebus`` CLI as a user runs it: a real process, the real broker and services."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aio_pika
import pytest

from invoicebus.settings import Settings
from invoicebus_client.topology import declare_topology, delete_topology
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
    args = ("customer", "create", "--name", "X", "--country-code", "XX", "--timeout", "2")
    result = await invoicebus(settings, "--json", *args)
    assert result.code == 1
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "validation_error"
    assert error["errors"][0]["loc"] == ["country_code"]
    assert "Value error" not in result.stderr

    one_line = await invoicebus(settings, *args)
    assert one_line.code == 1
    assert one_line.stderr.splitlines() == [
        "invoicebus: validation_error (422): invalid country_code: must be an ISO 3166-1"
        " alpha-2 country code, e.g. 'SI' or 'DE'"
    ]


async def test_service_error_reply_goes_to_stderr_with_exit_1(settings: Settings) -> None:
    args = ("--entity", "ent_" + "0" * 24, "customer", "create", "--name", "Nobody's")
    result = await invoicebus(settings, "--json", *args)
    assert result.code == 1
    assert result.stdout == ""
    assert json.loads(result.stderr)["error"]["code"] == "entity_not_found"
    one_line = await invoicebus(settings, *args)
    assert one_line.code == 1
    assert one_line.stderr.splitlines() == [
        f"invoicebus: entity_not_found (404): entity '{args[1]}' does not exist"
    ]


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


async def test_a_command_no_service_consumes_is_queued_with_a_warning(settings: Settings) -> None:
    """The topology exists but no service runs: the command waits in its queue, and the user
    is told so."""
    idle = Settings(amqp_url=settings.amqp_url, prefix=f"{settings.prefix}-idle")
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        await declare_topology(await connection.channel(), idle.topology, delivery_limit=10)
        try:
            queued = await invoicebus(idle, "entity", "create", "--name", "Early", "--no-wait")
            assert queued.code == 0, queued.stderr
            assert "no service consumes" in queued.stderr
            waiting = await invoicebus(idle, "entity", "create", "--name", "Late", "--timeout", "1")
            assert waiting.code == 2
            assert "no reply" in waiting.stderr

            # No entity header: both hash to the same shard, in order.
            messages = [
                m
                for queue in idle.topology.command_queues
                for m in await peek_queue(settings.amqp_url, queue)
            ]
            assert [json.loads(m.body)["name"] for m in messages] == ["Early", "Late"]
            assert messages[0].message_id == queued.stdout.strip()
            assert all(m.delivery_mode == aio_pika.DeliveryMode.PERSISTENT for m in messages)
        finally:
            await delete_topology(await connection.channel(), idle.topology)


async def test_a_mistyped_prefix_fails_at_once_and_declares_nothing(settings: Settings) -> None:
    typo = Settings(amqp_url=settings.amqp_url, prefix=f"{settings.prefix}-typo")
    result = await invoicebus(typo, "customer", "create", "--name", "Lost")
    assert result.code == 2
    assert result.stderr.splitlines() == [
        f"invoicebus: exchange '{typo.prefix}.commands' does not exist: no invoicebus service"
        f" has declared prefix '{typo.prefix}' on this virtual host (is the prefix right, and"
        " have the services started once?)"
    ]
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
            await (await connection.channel()).declare_queue(
                typo.topology.command_shard_queue(0), passive=True
            )


async def test_ctrl_c_while_waiting_says_the_command_is_queued_and_how_to_retry(
    settings: Settings,
) -> None:
    idle = Settings(amqp_url=settings.amqp_url, prefix=f"{settings.prefix}-ctrlc")
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        await declare_topology(await connection.channel(), idle.topology, delivery_limit=10)
        try:
            process = await asyncio.create_subprocess_exec(
                INVOICEBUS, "entity", "create", "--name", "Interrupted",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env=cli_env(idle),
            )  # fmt: skip

            async def queued_commands() -> list[aio_pika.abc.AbstractIncomingMessage]:
                return [
                    m
                    for queue in idle.topology.command_queues
                    for m in await peek_queue(settings.amqp_url, queue)
                ]

            for _ in range(300):  # until the command is in its shard: it waits for a reply
                if await queued_commands():
                    break
                await asyncio.sleep(0.1)
            [queued] = await queued_commands()
            process.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(process.communicate(), 30)
        finally:
            await delete_topology(await connection.channel(), idle.topology)
    assert process.returncode == 130
    assert out == b""
    message_id = queued.message_id
    assert err.decode().splitlines()[-1] == (
        f"invoicebus: interrupted: the command {message_id} is queued and will still be"
        f" processed; to see its result or retry safely, run the same command again with"
        f" --message-id {message_id}"
    )


BROKER_FAILURES = {
    "wrong vhost": (
        "/nope_vhost",
        "refused virtual host 'nope_vhost': it does not exist, or user 'guest' has no access",
    ),
    "refused credentials": ("/", "refused the credentials of user 'guest'"),
    "unreachable": ("/", "cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:1/"),
}
EVERY_KIND_OF_COMMAND = (
    ("customer", "create", "--name", "X"),
    ("customer", "list"),
    ("dlq", "list"),
    ("dlq", "discard", "--all"),
    ("events", "tail"),
    ("events", "replay", "--since", "2026-01-01", "--to-queue", "q"),
    ("import", "customers", "{rows}"),
)


@pytest.mark.parametrize("failure", BROKER_FAILURES)
async def test_broker_failures_are_one_line_and_exit_2_from_every_command(
    settings: Settings, tmp_path: Path, failure: str
) -> None:
    """Every kind of command for a wrong virtual host (it used to be a 90-line traceback);
    a command and a list for the other failures, which share the code path."""
    vhost, expected = BROKER_FAILURES[failure]
    parsed = urlparse(settings.amqp_url)
    password = "secret" if failure == "refused credentials" else parsed.password
    port = 1 if failure == "unreachable" else parsed.port or 5672
    url = f"amqp://{parsed.username}:{password}@{parsed.hostname}:{port}{vhost}"
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"name": "X"}\n')
    commands = EVERY_KIND_OF_COMMAND if failure == "wrong vhost" else EVERY_KIND_OF_COMMAND[:2]
    results = await asyncio.gather(
        *(
            invoicebus(settings, "--amqp-url", url, *(a.format(rows=rows) for a in command))
            for command in commands
        )
    )
    for command, result in zip(commands, results, strict=True):
        assert result.code == 2, (command, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.startswith("invoicebus:")]
        assert len(lines) == 1, (command, result.stderr)
        assert expected in lines[0], (command, result.stderr)
        assert "Traceback" not in result.stderr
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
        settings, "--json", "--entity", entity["id"], "customer", "create", "--json",
        '{"name": "Bad", "colour": "red"}', "--no-validate", "--message-id", message_id,
    )  # fmt: skip
    assert refused.code == 1
    assert json.loads(refused.stderr)["error"]["code"] == "validation_error"

    letter = await dead_letter(settings, message_id)
    assert letter["error_code"] == "validation_error"
    assert "colour" in letter["error_message"]
    # The contract's error, once (not {"error": {"error": ...}}), and the contract's time format.
    assert letter["error"]["code"] == "validation_error"
    assert letter["error"]["errors"] == [
        {"loc": ["colour"], "msg": "Extra inputs are not permitted"}
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", letter["dead_lettered_at"])
    assert letter["original_routing_key"] == "customer.create"
    assert letter["original_exchange"] == settings.topology.commands_exchange
    assert letter["entity_id"] == entity["id"]
    assert letter["body"] == {"name": "Bad", "colour": "red"}
    # Listing leaves it in place.
    assert await dead_letter(settings, message_id) == letter

    # Still invalid: a replay would only bring it straight back, so it is kept, with why.
    kept = await invoicebus(settings, "dlq", "replay", "--message-id", message_id)
    assert kept.code == 1
    assert kept.stdout == ""
    assert f"kept {message_id}: validation_error (422): invalid colour" in kept.stderr
    assert await dead_letter(settings, message_id) == letter

    replayed = await invoicebus(settings, "dlq", "replay", "--message-id", message_id, "--force")
    assert replayed.code == 0, replayed.stderr
    assert [r["message_id"] for r in replayed.lines()] == [message_id]
    # Still invalid, so the service refuses it again: a fresh dead letter with a new timestamp.
    again = await dead_letter(settings, message_id, newer_than=letter["dead_lettered_at"])
    assert again["error_code"] == "validation_error"
    assert again["body"] == letter["body"]

    missing = await invoicebus(settings, "dlq", "replay", "--message-id", "no-such-message")
    assert missing.code == 1
    assert "no-such-message" in missing.stderr


async def test_dlq_filters_and_discard(settings: Settings, entity: dict[str, Any]) -> None:
    other = await invoicebus(settings, "entity", "create", "--name", "Other DLQ entity")
    assert other.code == 0, other.stderr
    ids = {}
    for name, ent, raw in (
        ("mine", entity["id"], '{"name": "Bad", "colour": "red"}'),
        ("theirs", other.json()["id"], '{"name": "Bad", "colour": "blue"}'),
        ("missing-tax", entity["id"], '{"name": "Tea", "taxes": [{"classification": "nope"}]}'),
    ):
        ids[name] = f"dlq-{name}-{uuid.uuid4()}"
        kind = "item" if name == "missing-tax" else "customer"
        sent = await invoicebus(
            settings, "--entity", ent, kind, "create", "--json", raw, "--no-validate",
            "--message-id", ids[name],
        )  # fmt: skip
        assert sent.code == 1
    for message_id in ids.values():
        await dead_letter(settings, message_id)

    by_entity = await invoicebus(settings, "dlq", "list", "--entity", other.json()["id"])
    assert [d["message_id"] for d in by_entity.lines()] == [ids["theirs"]]
    by_code = await invoicebus(
        settings, "dlq", "list", "--error-code", "tax_not_found", "--entity", entity["id"]
    )
    assert [d["message_id"] for d in by_code.lines()] == [ids["missing-tax"]]

    refused = await invoicebus(settings, "dlq", "discard")
    assert refused.code == 2
    assert "--all" in refused.stderr
    discarded = await invoicebus(
        settings, "dlq", "discard", "--error-code", "validation_error", "--entity", entity["id"]
    )
    assert discarded.code == 0, discarded.stderr
    assert [d["message_id"] for d in discarded.lines()] == [ids["mine"]]
    left = {d["message_id"] for d in (await invoicebus(settings, "dlq", "list")).lines()}
    assert ids["mine"] not in left
    assert {ids["theirs"], ids["missing-tax"]} <= left
    gone = await invoicebus(settings, "dlq", "discard", "--message-id", ids["mine"])
    assert gone.code == 1
    assert ids["mine"] in gone.stderr


async def test_dlq_replay_of_a_command_that_is_valid_now_creates_it(
    settings: Settings, client: RawClient, entity: dict[str, Any]
) -> None:
    """An item refused for a missing tax goes through once the tax exists and it is replayed."""
    classification = f"reduced-{uuid.uuid4().hex[:6]}"
    message_id = f"dlq-{uuid.uuid4()}"
    item = ("item", "create", "--name", "Espresso", "--price", "1.50", "--tax-class",
            classification, "--message-id", message_id)  # fmt: skip
    refused = await invoicebus(settings, "--json", "--entity", entity["id"], *item)
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
        settings, "--json", "--entity", entity["id"], "customer", "list",
        "--query", '{"$where": "1"}',
    )  # fmt: skip
    assert bad.code == 1
    assert json.loads(bad.stderr)["error"]["code"] == "invalid_query"
