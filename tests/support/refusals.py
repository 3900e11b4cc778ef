"""Checking a refused command the way a client sees it: reply, rejected event, dead letter."""

from __future__ import annotations

import json
import uuid
from typing import Any

from invoicebus.settings import Settings
from tests.support.amqp import RawClient, body, peek_queue


async def assert_refused(
    client: RawClient,
    settings: Settings,
    routing_key: str,
    payload: dict[str, Any] | bytes,
    *,
    entity_id: str,
    status: int,
    code: str,
    loc: list[str | int],
) -> dict[str, Any]:
    """Send a command that must be refused; check the error reply (naming ``loc``), the
    ``<resource>.rejected`` event and the copy in the dead-letter queue. Returns the error."""
    resource = routing_key.split(".")[0]
    tap = await client.subscribe(f"{resource}.rejected")
    message_id = str(uuid.uuid4())
    reply = await client.command(routing_key, payload, entity_id=entity_id, message_id=message_id)
    assert reply.status == status, reply.body
    error: dict[str, Any] = reply.body["error"]
    assert error["code"] == code, error
    assert any(detail["loc"][: len(loc)] == loc for detail in error["errors"]), error
    assert str(loc[0]) in error["message"], error

    rejected = await tap.wait_for(lambda m: body(m)["command_id"] == message_id)
    assert rejected.routing_key == f"{resource}.rejected"
    assert body(rejected)["error"] == error

    dead = [m for m in await peek_queue(settings.amqp_url, settings.topology.dead_letter_queue)
            if m.message_id == message_id]  # fmt: skip
    assert len(dead) == 1
    kept = dead[0].body if isinstance(payload, bytes) else json.loads(dead[0].body)
    assert kept == payload  # the original message, unchanged
    assert dead[0].headers["x-error-code"] == code
    assert dead[0].headers["x-original-routing-key"] == routing_key
    return error
