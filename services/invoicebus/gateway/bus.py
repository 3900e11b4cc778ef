"""Sending an HTTP request's command or list request on the bus, and what a missing reply
means: the broker could not be reached (nothing was sent: 503 ``service_unavailable``) or no
reply came in time (504 ``gateway_timeout``; a command may still be carried out later, so the
caller retries it with the same ``Idempotency-Key``). Never a hang: the whole call, publish
retries included, ends within the reply timeout."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from invoicebus_client import ClientError, InvoicebusClient, NoReply, new_message_id
from invoicebus_client.transport import RawReply
from invoicebus_contracts import ErrorCode, Resource, error_body

from .. import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes


class Bus:
    """One SDK client (one connection) shared by every request in flight."""

    def __init__(self, client: InvoicebusClient, reply_timeout: float) -> None:
        self.client = client
        self.reply_timeout = reply_timeout

    async def create(
        self, resource: Resource, body: bytes, headers: dict[str, str], message_id: str | None
    ) -> Reply:
        """``<resource>.create``; the idempotency key is the caller's, or a fresh one."""
        topology = self.client.topology
        return await self._ask(
            resource.create_key,
            topology.commands_exchange,
            body,
            headers,
            message_id or new_message_id(),
        )

    async def list(self, resource: Resource, body: bytes, headers: dict[str, str]) -> Reply:
        topology = self.client.topology
        return await self._ask(resource.list_key, topology.queries_exchange, body, headers, None)

    async def _ask(
        self,
        routing_key: str,
        exchange: str,
        body: bytes,
        headers: dict[str, str],
        message_id: str | None,
    ) -> Reply:
        published = False

        def sent() -> None:
            nonlocal published
            published = True

        # No default entity of the client's own: x-entity-id travels in ``headers`` as sent.
        client = self.client.scoped(entity_id=None, headers=headers)
        try:
            async with asyncio.timeout(self.reply_timeout):
                raw: RawReply = await client.raw_reply(
                    exchange,
                    routing_key,
                    body,
                    message_id=message_id,
                    reply_timeout=self.reply_timeout,
                    on_published=sent,
                )
        except (NoReply, TimeoutError):
            if published:
                return self._failed(routing_key, ErrorCode.GATEWAY_TIMEOUT)
            return self._failed(routing_key, ErrorCode.SERVICE_UNAVAILABLE)
        except ClientError as exc:  # Unavailable, BrokerRefused: nothing was taken
            log.warning("%s not sent: %s", routing_key, exc)
            return self._failed(routing_key, ErrorCode.SERVICE_UNAVAILABLE)
        return Reply(raw.status, raw.body)

    def _failed(self, routing_key: str, code: ErrorCode) -> Reply:
        metrics.GATEWAY_BUS_FAILURES.labels(routing_key, code.value).inc()
        message = (
            f"no reply within {self.reply_timeout:g}s; a command may still be carried out:"
            " send it again with the same Idempotency-Key"
            if code is ErrorCode.GATEWAY_TIMEOUT
            else "the message bus is unreachable; nothing was sent: try again later"
        )
        return Reply(code.status, error_body(code, message).model_dump_json().encode())
