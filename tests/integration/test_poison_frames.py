"""Poison frames (issue 9, item 1): messages whose AMQP short strings are not UTF-8, among
ordinary commands, over the real broker to the real services.

RabbitMQ delivers such bytes as they were published. Before the SDK's pamqp patch, the first
one closed the service's connection in a loop and the commands in flight with it were
dead-lettered unprocessed. Now each poison message is refused once (422 ``validation_error``
naming the property or header, a ``customer.rejected`` event, the original bytes in the
dead-letter queue), every ordinary command is stored once and answered, the connections stay
up, and the dead-letter tools show the bytes escaped.

The test process has the patch too (it imports the SDK), so a surrogate-escaped ``str`` is
published as the raw bytes it escapes.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aio_pika
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from invoicebus.querying.fields import Document
from invoicebus.runtime.watchdog import dead_consumers
from invoicebus.settings import Settings
from invoicebus_client import InvoicebusClient
from invoicebus_contracts.text import shown
from tests.integration.test_cli import invoicebus
from tests.support.amqp import RawClient, Reply, body, peek_queue
from tests.support.services import broker_of, connection_losses

ORDINARY = 100
DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"


def raw(data: bytes) -> str:
    """The text pamqp (patched) decodes ``data`` to; published, it is ``data`` again."""
    return data.decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Poison:
    name: str
    properties: dict[str, Any]
    loc: list[str]


def poisons(run: str) -> list[Poison]:
    return [
        Poison("message_id", {"message_id": raw(f"bad-{run}-".encode() + b"\xff\xfe")},
               ["message_id"]),
        Poison("correlation_id", {"correlation_id": raw(b"bad-\xff")}, ["correlation_id"]),
        Poison("content_type", {"content_type": raw(b"application/json\xff")}, ["content_type"]),
        Poison("type", {"type": raw(b"\xc0\xaf")}, ["type"]),
        Poison("header name", {"headers": {raw(b"k\xff"): "v"}}, ["headers", "k\\xff"]),
        Poison("nested header name", {"headers": {"t": {raw(b"n\xff"): 1}}},
               ["headers", "t", "n\\xff"]),
        Poison("reply_to", {"reply_to": raw(b"r\xff")}, ["reply_to"]),
        Poison("app_id", {"app_id": raw(b"a\xff")}, ["app_id"]),
        Poison("content_encoding", {"content_encoding": raw(b"e\xff")}, ["content_encoding"]),
    ]  # fmt: skip


async def test_poison_frames_are_refused_once_and_hurt_no_other_message(
    settings: Settings,
    client: RawClient,
    entity: dict[str, Any],
    command_service: Any,
    query_service: Any,
    db: AsyncDatabase[Document],
) -> None:
    run = uuid.uuid4().hex[:8]
    bad = poisons(run)
    tap = await client.subscribe("customer.rejected")

    with connection_losses(command_service, query_service) as losses:
        ordinary: list[asyncio.Future[Reply]] = []
        refused: dict[str, tuple[str, asyncio.Future[Reply] | None]] = {}
        between = {5 + 10 * k: poison for k, poison in enumerate(bad)}  # one after every tenth
        for i in range(ORDINARY):
            future = await client.publish(
                "commands", "customer.create", {"name": f"Ordinary {run} {i}"},
                entity_id=entity["id"], message_id=f"ord-{run}-{i}", reply=True,
            )  # fmt: skip
            assert future is not None
            ordinary.append(future)
            if poison := between.get(i):
                refused[poison.name] = await publish_poison(client, poison, entity, run)

        replies = await asyncio.wait_for(asyncio.gather(*ordinary), 60)
        answers = {
            name: await asyncio.wait_for(future, 30)
            for name, (_, future) in refused.items()
            if future is not None
        }
        # List requests with the same poison get their 422 too, from the query service.
        listed = await list_with_poison(client, entity)
        assert not await dead_consumers(broker_of(command_service))
        assert not await dead_consumers(broker_of(query_service))

    # Every ordinary command was stored once and answered.
    assert [r.status for r in replies] == [201] * ORDINARY
    stored = await db.customers.count_documents(
        {"entity_id": entity["id"], "name": {"$regex": f"^Ordinary {run} "}}
    )
    assert stored == ORDINARY
    assert len({r.body["id"] for r in replies}) == ORDINARY

    # Each poison message was refused once, naming where, answered where it could be.
    assert sorted(refused) == sorted(p.name for p in bad)
    assert sorted(answers) == sorted(p.name for p in bad if p.name != "reply_to")
    for poison in bad:
        if poison.name in answers:
            assert_refusal(answers[poison.name], poison)
    assert listed.status == 422 and listed.body["error"]["errors"][0]["loc"] == ["type"]

    ids = {name: shown(message_id) for name, (message_id, _) in refused.items()}

    def rejected() -> list[str]:
        return sorted(i for m in tap.messages if (i := body(m)["command_id"]) in ids.values())

    await tap.wait_for(lambda _: len(rejected()) >= len(ids))
    assert rejected() == sorted(ids.values())  # one customer.rejected event each

    # Each is in the dead-letter queue once, with the original bytes, and none of the others.
    letters = await dead_letters(settings)
    for poison in bad:
        (letter,) = [m for m in letters if m.message_id == refused[poison.name][0]]
        for name, value in poison.properties.items():
            if name == "headers":
                assert letter.headers.items() >= value.items(), poison.name
            elif name != "app_id":  # the copy is the service's publish, with its app_id
                assert getattr(letter, name) == value, (poison.name, name)
        why = json.loads(str(letter.headers["x-error"]))["error"]
        assert why["code"] == "validation_error" and why["errors"][0]["loc"] == poison.loc
    assert not {m.message_id for m in letters} & {f"ord-{run}-{i}" for i in range(ORDINARY)}

    # ... and dlq list (a process of its own, patched by its import of the SDK) shows them
    # escaped, as UTF-8.
    result = await invoicebus(settings, "dlq", "list", "--limit", "100000")
    assert result.code == 0, result.stderr
    shown_letters = {d["message_id"]: d for d in result.lines()}
    # (the contract's error, not nested in another "error")
    assert shown_letters[f"bad-{run}-\\xff\\xfe"]["error"]["errors"][0]["loc"] == ["message_id"]
    assert shown_letters[ids["type"]]["properties"]["type"] == "\\xc0\\xaf"
    assert shown_letters[ids["header name"]]["headers"] == {"k\\xff": "v"}

    # The connections were never lost.
    assert losses == []
    print(
        f"\npoison frames: {ORDINARY} ordinary commands stored once and answered,"
        f" {len(bad)} poison messages dead-lettered once each, {len(losses)} reconnects"
    )


async def publish_poison(
    client: RawClient, poison: Poison, entity: dict[str, Any], run: str
) -> tuple[str, asyncio.Future[Reply] | None]:
    """Publish one poison ``customer.create`` (a valid body); its message id (as sent) and
    the future of its reply, if it can have one."""
    message_id = str(poison.properties.get("message_id", f"{poison.name}-{run}"))
    correlation_id = str(poison.properties.get("correlation_id", f"cor-{poison.name}-{run}"))
    future = None if "reply_to" in poison.properties else client.expect_reply(shown(correlation_id))
    properties = {"message_id": message_id, "correlation_id": correlation_id} | poison.properties
    properties.setdefault("reply_to", DIRECT_REPLY_TO)
    await client.publish(
        "commands", "customer.create", {"name": f"Poison {poison.name}"},
        entity_id=entity["id"], properties=properties,
    )  # fmt: skip
    return message_id, future


async def list_with_poison(client: RawClient, entity: dict[str, Any]) -> Reply:
    correlation_id = str(uuid.uuid4())
    future = client.expect_reply(correlation_id)
    await client.publish(
        "queries", "customer.list", {"limit": 1}, entity_id=entity["id"],
        properties={"correlation_id": correlation_id, "reply_to": DIRECT_REPLY_TO,
                    "type": raw(b"list\xff")},
    )  # fmt: skip
    return await asyncio.wait_for(future, 30)


def assert_refusal(reply: Reply, poison: Poison) -> None:
    error = reply.body["error"]
    assert (reply.status, error["code"]) == (422, "validation_error"), (poison.name, error)
    assert [e["loc"] for e in error["errors"]] == [poison.loc], poison.name
    assert error["message"].startswith(f"invalid {poison.loc[0]}"), error["message"]
    # A reply carries UTF-8 only: a correlation id that is not comes back escaped.
    assert reply.message.correlation_id is not None
    reply.message.correlation_id.encode("utf-8")


async def dead_letters(settings: Settings) -> list[aio_pika.abc.AbstractIncomingMessage]:
    return await peek_queue(settings.amqp_url, settings.topology.dead_letter_queue)


@pytest.mark.usefixtures("command_service")
async def test_the_sdk_lists_and_replays_a_poison_dead_letter(
    settings: Settings, client: RawClient, entity: dict[str, Any]
) -> None:
    tap = await client.subscribe("customer.rejected")
    message_id = raw(f"replay-{uuid.uuid4().hex[:8]}-".encode() + b"\xff")
    await client.publish(
        "commands", "customer.create", {"name": "Replayed poison"}, entity_id=entity["id"],
        properties={"message_id": message_id},
    )  # fmt: skip

    def refused(times: int) -> Callable[[Any], bool]:
        return lambda _: (
            [body(m)["command_id"] for m in tap.messages].count(shown(message_id)) == times
        )

    await tap.wait_for(refused(1))

    async with InvoicebusClient(settings.amqp_url, settings.prefix) as sdk:
        letters = [d for d in await sdk.dlq_list(100_000) if d.message_id == shown(message_id)]
        assert [d.error_code for d in letters] == ["validation_error"]
        # Replayed by the id it is shown with, it goes again as it was: refused again.
        replay = await sdk.dlq_replay([shown(message_id)], limit=100_000)
    # Its body is valid: only its message_id was refused, so the replay does not keep it.
    assert [d.message_id for d in replay.replayed] == [shown(message_id)]
    await tap.wait_for(refused(2))
    (letter,) = [m for m in await dead_letters(settings) if m.message_id == message_id]
    assert letter.headers["x-error-code"] == "validation_error"
