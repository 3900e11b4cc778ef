"""The query service's acknowledgement policy, with the service and the broker faked."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest
from aio_pika.exceptions import DeliveryError
from pamqp.commands import Basic
from pymongo.errors import AutoReconnect

from invoicebus import metrics, replying
from invoicebus.messaging import Envelope
from invoicebus.queries import consumer as consumer_module
from invoicebus.queries.consumer import QueryConsumer
from invoicebus.queries.service import Reply
from invoicebus_contracts import Resource


class FakeService:
    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def answer(self, resource: Resource, envelope: Envelope) -> Any:
        self.calls += 1
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class FakeMessenger:
    def __init__(self, refuse: BaseException | None = None, stall: bool = False) -> None:
        self.replies: list[tuple[Envelope, int, bytes]] = []
        self.refuse = refuse
        self.stall = stall

    async def reply(self, envelope: Envelope, status: int, body: bytes) -> None:
        if self.stall:
            await asyncio.Event().wait()  # a confirm that never comes
        if self.refuse is not None:
            raise self.refuse
        self.replies.append((envelope, status, body))


class FakeMessage:
    def __init__(self, reply_to: str | None, **properties: Any) -> None:
        self.raw_message = SimpleNamespace(
            routing_key="customer.list", body=b"{}", message_id=None, correlation_id="c-1",
            reply_to=reply_to, headers={}, exchange="q", user_id=None,
        )  # fmt: skip
        vars(self.raw_message).update(properties)
        self.settled: list[str] = []

    async def ack(self) -> None:
        self.settled.append("ack")

    async def nack(self, requeue: bool = True) -> None:
        self.settled.append(f"nack requeue={requeue}")


async def consume(
    service: FakeService,
    reply_to: str | None = "amq.rabbitmq.reply-to",
    messenger: FakeMessenger | None = None,
    **properties: Any,
) -> Any:
    messenger = messenger or FakeMessenger()
    message = FakeMessage(reply_to, **properties)
    await QueryConsumer(service, messenger).consume(Resource.CUSTOMER, message)  # type: ignore[arg-type]
    return messenger, message


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer_module, "BACKOFF_START", 0.001)
    monkeypatch.setattr(consumer_module, "BACKOFF_MAX", 0.002)
    monkeypatch.setattr(consumer_module, "RETRY_SECONDS", 0.2)
    monkeypatch.setattr(replying, "REPLY_TIMEOUT_SECONDS", 0.05)


def counted(metric: Any, *labels: str) -> float:
    return float(metric.labels(*labels)._value.get())


async def test_answer_is_replied_then_acked() -> None:
    before = counted(metrics.LIST_REQUESTS, "customer.list", "ok")
    messenger, message = await consume(FakeService(Reply(200, b'{"data": []}')))
    ((envelope, status, body),) = messenger.replies
    assert (envelope.correlation_id, status, body) == ("c-1", 200, b'{"data": []}')
    assert message.settled == ["ack"]
    assert counted(metrics.LIST_REQUESTS, "customer.list", "ok") == before + 1


async def test_without_reply_to_it_is_acked_unanswered() -> None:
    service = FakeService(Reply(200, b"{}"))
    messenger, message = await consume(service, reply_to=None)
    assert messenger.replies == [] and service.calls == 0
    assert message.settled == ["ack"]


async def test_text_that_is_not_utf8_is_answered_with_validation_error() -> None:
    service = FakeService((200, b"{}"))
    messenger, message = await consume(
        service, correlation_id="c-\udcff", headers={"x-entity-id": "ent_x", "k\udcff": 1}
    )
    assert service.calls == 0
    ((envelope, status, body),) = messenger.replies
    error = json.loads(body)["error"]
    assert (status, error["code"]) == (422, "validation_error")
    assert [e["loc"] for e in error["errors"]] == [["correlation_id"], ["headers", "k\\xff"]]
    assert envelope.reply_correlation_id == "c-\\xff"
    assert message.settled == ["ack"]


async def test_a_reply_to_that_is_not_utf8_names_no_queue_it_is_acked_unanswered() -> None:
    service = FakeService((200, b"{}"))
    messenger, message = await consume(service, reply_to="r-\udcff")
    assert messenger.replies == [] and service.calls == 0
    assert message.settled == ["ack"]


async def test_transient_failures_are_retried() -> None:
    service = FakeService(AutoReconnect("down"), AutoReconnect("down"), Reply(200, b"{}"))
    messenger, message = await consume(service)
    assert service.calls == 3
    assert [r[1] for r in messenger.replies] == [200]
    assert message.settled == ["ack"]


async def test_a_lasting_outage_is_answered_with_internal_error() -> None:
    service = FakeService(AutoReconnect("down"))
    messenger, message = await consume(service)
    assert service.calls > 1
    ((_, status, body),) = messenger.replies
    assert status == 500
    assert json.loads(body)["error"]["code"] == "internal_error"
    assert message.settled == ["ack"]


async def test_a_bug_is_answered_with_internal_error_at_once() -> None:
    service = FakeService(ZeroDivisionError("bug"))
    messenger, message = await consume(service)
    assert service.calls == 1
    assert [r[1] for r in messenger.replies] == [500]
    assert message.settled == ["ack"]


async def test_stopping_hands_the_request_back() -> None:
    messenger = FakeMessenger()
    message = FakeMessage("amq.rabbitmq.reply-to")
    consumer = QueryConsumer(FakeService(AutoReconnect("down")), messenger)  # type: ignore[arg-type]
    consumer.stop()
    await consumer.consume(Resource.CUSTOMER, message)  # type: ignore[arg-type]
    assert messenger.replies == []
    assert message.settled == ["nack requeue=True"]


@pytest.mark.parametrize(
    "messenger",
    [
        FakeMessenger(refuse=DeliveryError(None, Basic.Nack(delivery_tag=1))),
        FakeMessenger(stall=True),
    ],
    ids=["refused", "never confirmed"],
)
async def test_an_undeliverable_reply_is_counted_and_the_request_settled(
    messenger: FakeMessenger,
) -> None:
    before = counted(metrics.UNDELIVERABLE_REPLIES, "customer.list")
    _, message = await consume(FakeService(Reply(200, b"{}")), messenger=messenger)
    assert message.settled == ["ack"]
    assert counted(metrics.UNDELIVERABLE_REPLIES, "customer.list") == before + 1


async def test_a_query_timeout_is_counted_by_where_its_time_went() -> None:
    reply = Reply(503, b"{}", "query_timeout", "waiting")
    before = counted(metrics.QUERY_TIMEOUTS, "customer.list", "waiting")
    messenger, message = await consume(FakeService(reply))
    assert [r[1] for r in messenger.replies] == [503] and message.settled == ["ack"]
    assert counted(metrics.QUERY_TIMEOUTS, "customer.list", "waiting") == before + 1
    assert counted(metrics.LIST_REQUESTS, "customer.list", "query_timeout") >= 1


class SlowMessenger(FakeMessenger):
    """A reply whose confirm comes only after the caller stopped waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.confirm = asyncio.Event()
        self.cancelled = False

    async def reply(self, envelope: Envelope, status: int, body: bytes) -> None:
        try:
            await self.confirm.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        self.replies.append((envelope, status, body))


async def test_a_slow_reply_is_left_to_finish_never_cancelled() -> None:
    # Cancelling a publish half-way can break the channel every other message shares.
    messenger = SlowMessenger()
    _, message = await consume(FakeService(Reply(200, b"{}")), messenger=messenger)
    assert message.settled == ["ack"] and not messenger.cancelled
    messenger.confirm.set()
    for _ in range(3):
        await asyncio.sleep(0)
    assert [status for _, status, _ in messenger.replies] == [200]
