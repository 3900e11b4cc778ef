"""Confirmed publishing of events, replies and dead letters through the FastStream broker.

The broker's channel runs with publisher confirms, so each ``publish`` returns only once
RabbitMQ has taken responsibility for the message, and raises if it refused it. An event's
AMQP properties are made in one place (``_event_properties``), for the events exchange and for
a queue an ``events.replay`` names alike.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiormq.abc import DeliveredMessage
from faststream.rabbit import RabbitBroker

from invoicebus_contracts import CONTENT_TYPE, ErrorBody, Header, Topology
from invoicebus_contracts.fields import format_timestamp

from ...domain import clock
from ...domain.ids import new_event_id
from ...messaging import Envelope, OutgoingEvent


class RabbitMessenger:
    """The ``messaging.Messenger`` of the services, over their FastStream broker."""

    def __init__(self, broker: RabbitBroker, topology: Topology) -> None:
        self.broker = broker
        self.topology = topology

    async def publish_event(
        self,
        event_type: str,
        body: bytes,
        *,
        event_id: str,
        correlation_id: str | None,
        entity_id: str | None,
        tenant_entity: str | None,
    ) -> None:
        properties = _event_properties(event_type, event_id, correlation_id, entity_id)

        async def publish(exchange: str, routing_key: str) -> None:
            # mandatory=False: an event no queue is bound for is dropped by the broker, as
            # the guarantees say; mandatory (FastStream's default) only made RabbitMQ send
            # each such event back whole, to be read and thrown away here.
            await self.broker.publish(
                body, exchange=exchange, routing_key=routing_key, mandatory=False, **properties
            )

        topology = self.topology
        sends = [publish(topology.events_exchange, event_type)]
        if tenant_entity:
            key = topology.tenant_event_key(tenant_entity, event_type)
            sends.append(publish(topology.tenant_events_exchange, key))
        # Both confirmed, concurrently; if either fails the caller sends both again (the
        # event id stays the same, so a subscriber deduplicates the repeat).
        await asyncio.gather(*sends)

    async def send_event(self, queue: str, event: OutgoingEvent) -> bool:
        """The event, as the events exchange carries it, straight into ``queue`` (the default
        exchange); False when no such queue took it (returned: the broker has none)."""
        result = await self.broker.publish(
            event.body,
            exchange="",
            routing_key=queue,
            mandatory=True,
            **_event_properties(event.type, event.id, event.correlation_id, event.entity_id),
        )
        return not isinstance(result, DeliveredMessage)

    async def reply(self, envelope: Envelope, status: int, body: bytes) -> None:
        if not envelope.reply_address:
            return
        # mandatory=False: RabbitMQ 3.10 bounces direct reply-to publishes made with
        # mandatory=True as NO_ROUTE even though they are delivered.
        await self.broker.publish(
            body,
            exchange="",
            routing_key=envelope.reply_address,
            correlation_id=envelope.reply_correlation_id,
            message_id=new_event_id(),
            headers={Header.STATUS.value: status},
            content_type=CONTENT_TYPE,
            mandatory=False,
        )

    async def dead_letter(self, envelope: Envelope, error: ErrorBody) -> None:
        """Keep the original message, with the reason in its headers, in the dead-letter queue.

        Its text goes as it came: values that are not UTF-8 hold surrogate escapes, which the
        SDK's pamqp patch encodes back to the original bytes."""
        headers = dict(envelope.headers or {})
        headers.update(
            {
                Header.ERROR_CODE.value: error.error.code.value,
                Header.ERROR_MESSAGE.value: error.error.message[:1000],
                Header.ERROR.value: json.dumps(error.model_dump(mode="json"))[:4000],
                Header.ORIGINAL_EXCHANGE.value: envelope.exchange,
                Header.ORIGINAL_ROUTING_KEY.value: envelope.routing_key,
                Header.DEAD_LETTERED_AT.value: format_timestamp(clock.now()),
            }
        )
        await self.broker.publish(
            envelope.body,
            exchange=self.topology.dead_letter_exchange,
            routing_key=envelope.routing_key,
            message_id=envelope.message_id,
            correlation_id=envelope.correlation_id,
            reply_to=envelope.reply_to,
            headers=headers,
            content_type=envelope.properties.get("content_type", CONTENT_TYPE),
            content_encoding=envelope.properties.get("content_encoding"),
            message_type=envelope.properties.get("type"),
            persist=True,
        )


def _event_properties(
    event_type: str, event_id: str, correlation_id: str | None, entity_id: str | None
) -> dict[str, Any]:
    """An event's AMQP properties and headers, wherever it is published."""
    headers: dict[str, Any] = {Header.EVENT_TYPE.value: event_type}
    if entity_id:
        headers[Header.ENTITY_ID.value] = entity_id
    return {
        "message_id": event_id,
        "correlation_id": correlation_id,
        "headers": headers,
        "content_type": CONTENT_TYPE,
        "persist": True,
        "timestamp": clock.now(),
    }
