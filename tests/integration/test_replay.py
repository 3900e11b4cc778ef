"""``events.replay``: stored events republished, unchanged, into a queue the caller names, so a
late subscriber can catch up; from the SDK and the CLI, against the real services."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage

from invoicebus.settings import Settings
from invoicebus_client import ErrorReply, InvoicebusClient
from tests.integration.test_cli import invoicebus
from tests.support.amqp import RawClient, peek_queue

pytestmark = pytest.mark.usefixtures("command_service", "query_service")


@pytest.fixture
async def backfill(settings: Settings) -> AsyncIterator[str]:
    """A subscriber's own queue, bound to nothing: replays are its only source."""
    name = f"{settings.prefix}-backfill-{uuid.uuid4().hex[:6]}"
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, auto_delete=False)
        yield name
        await queue.delete(if_unused=False, if_empty=False)


async def after_now() -> datetime:
    """A time after everything so far, and before everything to come (times are stored to the
    millisecond)."""
    moment = datetime.now(UTC) + timedelta(milliseconds=2)
    await asyncio.sleep(0.01)
    return moment


async def drained(settings: Settings, queue: str) -> list[AbstractIncomingMessage]:
    """Every message in the queue, removed."""
    messages = await peek_queue(settings.amqp_url, queue)
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        await (await (await connection.channel()).get_queue(queue)).purge()
    return messages


def as_seen(message: AbstractIncomingMessage) -> tuple[Any, ...]:
    """What a subscriber reads of an event: its id, correlation, type, headers and body."""
    headers = {k: v for k, v in (message.headers or {}).items()}
    return (
        message.message_id,
        message.correlation_id,
        message.content_type,
        message.delivery_mode,
        headers,
        json.loads(message.body),
    )


async def test_replayed_events_are_the_live_ones_oldest_first(
    settings: Settings, client: RawClient, entity: dict[str, Any], backfill: str
) -> None:
    since = await after_now()  # the entity was created before: it is not replayed
    tap = await client.subscribe("#")
    customers = [
        await client.command(
            "customer.create",
            {"name": f"Replayed {i}"},
            entity_id=entity["id"],
            message_id=f"r-{i}",
        )
        for i in range(3)
    ]
    item = await client.command(
        "item.create", {"name": "Flat white", "price": 3, "taxes": [{"rate": 9.5}]},
        entity_id=entity["id"],
    )  # fmt: skip
    assert all(r.status == 201 for r in [*customers, item])
    ids = [r.body["id"] for r in customers] + [item.body["id"]]
    live = [await tap.wait_for(lambda m, i=i: json.loads(m.body).get("id") == i) for i in ids]
    tax_event = await tap.wait_for(lambda m: m.routing_key == "tax.created")

    async with InvoicebusClient(settings.amqp_url, settings.prefix) as sdk:
        count = await sdk.replay_events(backfill, since, entity_id=entity["id"], page_size=2)
    replayed = await drained(settings, backfill)

    # Three customers, the item's auto-created tax and the item: in creation order, each as
    # a live subscriber saw it (the entity itself was created before `since`).
    assert count == len(replayed) == 5
    assert [as_seen(m) for m in replayed] == [as_seen(m) for m in (*live[:3], tax_event, live[3])]
    assert [m.headers["x-event-type"] for m in replayed] == [
        "customer.created", "customer.created", "customer.created", "tax.created", "item.created"
    ]  # fmt: skip
    assert [m.correlation_id for m in replayed[:3]] == ["r-0", "r-1", "r-2"]


async def test_replay_filters_by_type_and_entity_and_pages_with_a_cursor(
    settings: Settings, client: RawClient, entity: dict[str, Any], backfill: str
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    other = await client.command("entity.create", {"name": "Someone else"})
    for target in (entity["id"], other.body["id"]):
        for i in range(2):
            reply = await client.command(
                "customer.create", {"name": f"Filtered {i}"}, entity_id=target
            )
            assert reply.status == 201
        tax = await client.command("tax.create", {"rate": 5}, entity_id=target)
        assert tax.status == 201

    pages: list[Any] = []
    async with InvoicebusClient(settings.amqp_url, settings.prefix) as sdk:
        count = await sdk.replay_events(
            backfill, since, entity_id=entity["id"], types=["customer.created"], page_size=1,
            on_page=pages.append,
        )  # fmt: skip
    replayed = await drained(settings, backfill)
    assert count == 2
    assert {m.headers["x-entity-id"] for m in replayed} == {entity["id"]}
    assert {m.headers["x-event-type"] for m in replayed} == {"customer.created"}
    assert len({m.message_id for m in replayed}) == 2
    assert [(p.replayed, p.has_more) for p in pages] == [(1, True), (1, False)]

    # Every entity's: the other one's entity.created and its three events come too.
    async with InvoicebusClient(settings.amqp_url, settings.prefix) as sdk:
        assert await sdk.replay_events(backfill, since, limit=3) == 3
        everything = await sdk.replay_events(backfill, since)
    events = await drained(settings, backfill)
    assert everything == len(events) - 3
    assert any(m.headers["x-event-type"] == "entity.created" for m in events)
    assert {entity["id"], other.body["id"]} <= {m.headers["x-entity-id"] for m in events}


async def test_replay_refuses_a_missing_queue_the_services_own_and_an_unknown_entity(
    settings: Settings,
) -> None:
    since = datetime(2020, 1, 1, tzinfo=UTC)
    async with InvoicebusClient(settings.amqp_url, settings.prefix) as sdk:
        refusals = []
        for queue, entity_id in (
            (f"{settings.prefix}-no-such-queue", None),
            (settings.topology.command_shard_queue(0), None),
            ("any", "ent_" + "0" * 24),
        ):
            with pytest.raises(ErrorReply) as refused:
                await sdk.replay_events(queue, since, entity_id=entity_id)
            refusals.append((refused.value.code, refused.value.errors[0].loc))
    assert refusals == [
        ("validation_error", ["to_queue"]),
        ("validation_error", ["to_queue"]),
        ("entity_not_found", ["entity_id"]),
    ]
    # Nothing went into the services' own queue.
    assert await peek_queue(settings.amqp_url, settings.topology.command_shard_queue(0)) == []


async def test_the_cli_replays_and_says_how_many(
    settings: Settings, client: RawClient, entity: dict[str, Any], backfill: str
) -> None:
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    reply = await client.command(
        "customer.create", {"name": "From the CLI"}, entity_id=entity["id"]
    )
    assert reply.status == 201
    result = await invoicebus(
        settings, "events", "replay", "--since", since, "--to-queue", backfill,
        "--entity", entity["id"], "--type", "customer.created",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert f"replayed 1 event(s) to {backfill}" in result.stderr
    [event] = await drained(settings, backfill)
    assert json.loads(event.body) == reply.body

    bad = await invoicebus(
        settings, "events", "replay", "--since", since, "--to-queue", backfill,
        "--type", "customer.rejected",
    )  # fmt: skip
    assert bad.code == 1
    assert "types.0" in bad.stderr and "the stored events" in bad.stderr
