"""The batched write path over the real broker and database: commands sent at once are written
together, and one bad command among them is refused alone (issue 11)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from invoicebus import metrics
from tests.support.amqp import RawClient

pytestmark = pytest.mark.usefixtures("command_service")

COMMANDS = 24


def batches() -> tuple[float, float]:
    """(batches written, commands in them) so far."""
    [family] = metrics.COMMAND_BATCH_SIZE.collect()
    found = {s.name: s.value for s in family.samples}
    return (
        found["invoicebus_command_batch_size_count"],
        found["invoicebus_command_batch_size_sum"],
    )


async def test_one_bad_command_among_many_sent_at_once_is_refused_alone(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    run = uuid.uuid4().hex[:8]
    bodies: list[dict[str, Any]] = [{"name": f"batch {run} {i}"} for i in range(COMMANDS)]
    bodies[COMMANDS // 2] = {"name": f"batch {run} bad", "colour": "red"}  # unknown field
    written_before, commands_before = batches()
    replies = await asyncio.gather(
        *(
            client.command("customer.create", body, entity_id=entity["id"], message_id=f"{run}-{i}")
            for i, body in enumerate(bodies)
        )
    )
    statuses = [reply.status for reply in replies]
    assert statuses.count(201) == COMMANDS - 1, [r.body for r in replies if r.status != 201]
    bad = replies[COMMANDS // 2]
    assert bad.status == 422 and bad.body["error"]["code"] == "validation_error"
    assert "colour" in bad.body["error"]["message"]
    stored = await db.customers.count_documents({"name": {"$regex": f"^batch {run} "}})
    assert stored == COMMANDS - 1
    written, commands = batches()
    assert commands - commands_before == COMMANDS  # every one went through the batched path
    assert written - written_before < COMMANDS  # and some were written together
