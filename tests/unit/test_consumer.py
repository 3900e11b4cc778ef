"""The command service's ack policy, with a scripted pipeline and a recorded delivery."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiormq.exceptions import ChannelInvalidStateError
from pymongo.errors import AutoReconnect

from invoicebus.commands import consumer as consumer_module
from invoicebus.commands.consumer import CommandConsumer
from invoicebus.commands.context import Outcome
from invoicebus.domain.records import Event, Record
from invoicebus.messaging import Envelope
from invoicebus_contracts import ErrorBody, ErrorCode, Resource, error_body
from tests.support.listing import customer

ENVELOPE = Envelope(routing_key="customer.create", body=b"{}", message_id="m-1")
OUTCOME = Outcome(
    Record(
        Resource.CUSTOMER,
        customer("ent_" + "e" * 24, "c"),
        Event("evt_" + "1" * 24, "customer.created", "m-1"),
    )
)


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer_module, "BACKOFF_START", 0.01)
    monkeypatch.setattr(consumer_module, "BACKOFF_MAX", 0.02)


class ScriptedPipeline:
    """Each step raises the scripted exceptions in turn, then succeeds."""

    def __init__(
        self,
        decide: list[BaseException] | None = None,
        deliver: list[BaseException] | None = None,
        refuse: list[BaseException] | None = None,
        decision: Outcome | ErrorBody = OUTCOME,
    ) -> None:
        self.script = {"decide": decide or [], "deliver": deliver or [], "refuse": refuse or []}
        self.calls: dict[str, list[Any]] = {"decide": [], "deliver": [], "refuse": []}
        self.decision = decision
        self.called = asyncio.Event()

    def _step(self, name: str, arg: Any = None) -> None:
        self.calls[name].append(arg)
        self.called.set()
        if self.script[name]:
            raise self.script[name].pop(0)

    async def decide(self, resource: Resource, envelope: Envelope) -> Outcome | ErrorBody:
        self._step("decide")
        return self.decision

    async def deliver(
        self, resource: Resource, envelope: Envelope, decision: Outcome | ErrorBody
    ) -> None:
        self._step("deliver", decision)

    async def refuse(self, resource: Resource, envelope: Envelope, error: ErrorBody) -> None:
        self._step("refuse", error)


class RecordedDelivery:
    def __init__(self, *, closed_after: int | None = None, ack_error: Exception | None = None):
        self.settled: list[str] = []
        self.looks = 0
        self.closed_after = closed_after
        self.ack_error = ack_error

    @property
    def channel_closed(self) -> bool:
        self.looks += 1
        return self.closed_after is not None and self.looks > self.closed_after

    async def ack(self) -> None:
        if self.ack_error is not None:
            raise self.ack_error
        self.settled.append("ack")

    async def nack(self, *, requeue: bool) -> None:
        self.settled.append(f"nack(requeue={requeue})")

    async def reject(self) -> None:
        self.settled.append("reject")


def consumer_for(pipeline: ScriptedPipeline, retry_seconds: float = 5.0) -> CommandConsumer:
    return CommandConsumer(pipeline, retry_seconds)  # type: ignore[arg-type]


async def handled(pipeline: ScriptedPipeline, **kw: Any) -> RecordedDelivery:
    delivery = RecordedDelivery(**kw)
    await consumer_for(pipeline).handle(Resource.CUSTOMER, ENVELOPE, delivery)
    return delivery


async def test_created_command_is_delivered_then_acked() -> None:
    pipeline = ScriptedPipeline()
    delivery = await handled(pipeline)
    assert delivery.settled == ["ack"]
    assert pipeline.calls["deliver"] == [OUTCOME]


async def test_refused_command_is_delivered_as_refusal_and_acked() -> None:
    refusal = error_body(ErrorCode.VALIDATION_ERROR, "bad")
    pipeline = ScriptedPipeline(decision=refusal)
    delivery = await handled(pipeline)
    assert delivery.settled == ["ack"]
    assert pipeline.calls["deliver"] == [refusal]


async def test_database_outage_is_waited_out_then_processed() -> None:
    pipeline = ScriptedPipeline(decide=[AutoReconnect("down")] * 3)
    delivery = await handled(pipeline)
    assert delivery.settled == ["ack"]
    assert len(pipeline.calls["decide"]) == 4
    assert pipeline.calls["refuse"] == []


async def test_broker_outage_while_delivering_never_runs_the_handler_again() -> None:
    pipeline = ScriptedPipeline(deliver=[ChannelInvalidStateError("closed")] * 2)
    delivery = await handled(pipeline)
    assert delivery.settled == ["ack"]
    assert len(pipeline.calls["decide"]) == 1  # stored once, even without a message_id
    assert len(pipeline.calls["deliver"]) == 3


async def test_outage_longer_than_the_retry_window_hands_the_message_back() -> None:
    pipeline = ScriptedPipeline(decide=[AutoReconnect("down")] * 1000)
    delivery = RecordedDelivery()
    await consumer_for(pipeline, retry_seconds=0.1).handle(Resource.CUSTOMER, ENVELOPE, delivery)
    # Requeued (counted against the delivery limit), never refused or dead-lettered here.
    assert delivery.settled == ["nack(requeue=True)"]
    assert pipeline.calls["refuse"] == []
    assert pipeline.calls["deliver"] == []


async def test_lost_channel_leaves_the_message_to_the_broker() -> None:
    pipeline = ScriptedPipeline(decide=[ChannelInvalidStateError("closed")] * 1000)
    delivery = await handled(pipeline, closed_after=0)
    assert delivery.settled == []  # the broker requeued it when the channel closed
    assert len(pipeline.calls["decide"]) == 1


async def test_shutdown_ends_the_backoff_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer_module, "BACKOFF_START", 600.0)
    pipeline = ScriptedPipeline(decide=[AutoReconnect("down")] * 1000)
    consumer = consumer_for(pipeline, retry_seconds=3600)
    delivery = RecordedDelivery()
    task = asyncio.create_task(consumer.handle(Resource.CUSTOMER, ENVELOPE, delivery))
    await pipeline.called.wait()
    consumer.stop()
    await asyncio.wait_for(task, 5)  # not the 600 s backoff
    assert delivery.settled == ["nack(requeue=True)"]


async def test_a_bug_is_refused_as_internal_error_and_acked() -> None:
    pipeline = ScriptedPipeline(decide=[ZeroDivisionError("bug")])
    delivery = await handled(pipeline)
    assert delivery.settled == ["ack"]
    [error] = pipeline.calls["refuse"]
    assert error.error.code is ErrorCode.INTERNAL_ERROR
    assert "dead-letter" in error.error.message


async def test_a_bug_that_even_refusing_hits_is_rejected_to_the_broker_dlx() -> None:
    pipeline = ScriptedPipeline(decide=[ZeroDivisionError("bug")], refuse=[KeyError("bug")])
    delivery = await handled(pipeline)
    assert delivery.settled == ["reject"]


async def test_refusal_waits_out_an_outage_too() -> None:
    pipeline = ScriptedPipeline(decide=[ZeroDivisionError("bug")], refuse=[AutoReconnect("x")])
    delivery = await handled(pipeline)
    assert delivery.settled == ["ack"]
    assert len(pipeline.calls["refuse"]) == 2


@pytest.mark.parametrize(
    ("error", "raises"),
    [(ChannelInvalidStateError("closed"), False), (ZeroDivisionError("bug"), True)],
)
async def test_ack_on_a_lost_channel_is_left_to_redelivery(error: Exception, raises: bool) -> None:
    pipeline = ScriptedPipeline()
    handle: Callable[[], Any] = lambda: handled(pipeline, ack_error=error)  # noqa: E731
    if raises:
        with pytest.raises(ZeroDivisionError):
            await handle()
    else:
        delivery = await handle()
        assert delivery.settled == []
