"""Property-based: arbitrary and hostile input at every command and every list request, over
the real broker, to the real services.

Every message gets a clear answer: 201 if it happens to be valid, else an error reply whose
message names the field (and, for a command, a copy in the dead-letter queue). Nothing is
answered with 500, nothing crashes a consumer, nothing goes unanswered, and a valid command
after each batch succeeds. Besides arbitrary JSON, the inputs include the crafted classes of
issue 9: huge numbers, text that is not Unicode, NUL in metadata keys, blank and odd-typed
``x-entity-id`` headers, list fields of the wrong type, forged and edited cursors, commands
and list requests whose ``reply_to`` refuses publishes, and poison frames (properties and
header names that are not UTF-8), which are refused the same way and never cost the services
their broker connection.

Meanwhile a good list request and a good command are sent every so often, and the worst time
they took is reported with the suite's figures (inputs tried, crashes, 500s, requests left
without a reply), printed at the end of the module. Nothing is asserted on that time.

The services run in an event loop of their own, in a background thread, so Hypothesis drives
plain synchronous tests and each example is one round trip over AMQP.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import aio_pika
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invoicebus import metrics
from invoicebus.settings import Settings
from invoicebus_contracts import COMMAND_MODELS, Header, ListRequest, Resource
from invoicebus_contracts.text import shown
from tests.support.amqp import Reply
from tests.support.badinput import ABSENT, Services, running
from tests.support.hostile import (
    assert_clear_error,
    bodies,
    crafted_bodies,
    encoded,
    forged_cursors,
    list_crafted_bodies,
    odd_headers,
    poisoned_properties,
    undecodable_locs,
)
from tests.support.services import connection_losses

# aiormq draws on the random module for every publish, and the good requests are published in
# the services' thread while Hypothesis generates the next example: its check that strategies
# leave the random module alone would blame that thread's use on the strategies.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
VALID: dict[Resource, dict[str, Any]] = {
    Resource.ENTITY: {"name": "Valid Entity"},
    Resource.CUSTOMER: {"name": "Valid Customer"},
    Resource.TAX: {"rate": 10},
    Resource.ITEM: {"name": "Valid Item", "price": 10, "taxes": [{"rate": 10}]},
}


@pytest.fixture(scope="module")
def services(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Services]:
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def say(figures: str) -> None:
        if reporter is not None and capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line("\n" + figures)

    with running(settings, say) as found:
        yield found


# -- commands --------------------------------------------------------------------------------


def after_the_batch(services: Services, resource: Resource, refused: list[str], dead: int) -> None:
    """Each refused command was kept in the dead-letter queue, the consumers are alive, and a
    valid command still succeeds."""
    assert services.dead_letters() - dead == len(refused)
    assert services.consumers_alive()
    valid = services.call(
        services.client.command(resource.create_key, VALID[resource], entity_id=services.entity_id)
    )
    assert valid.status == 201, valid.body


@pytest.mark.parametrize("resource", list(COMMAND_MODELS), ids=str)
def test_every_command_answers_hostile_bodies_clearly(
    services: Services, resource: Resource
) -> None:
    model = COMMAND_MODELS[resource]
    refused: list[str] = []
    dead_before = services.dead_letters()

    @EXAMPLES
    @given(
        body=bodies(model, VALID[resource]),
        entity=st.sampled_from([services.entity_id]) | st.text(min_size=1, max_size=60),
    )
    def one(body: bytes, entity: str) -> None:
        message_id = str(uuid.uuid4())
        reply = services.ask("commands", resource.create_key, body, entity, message_id=message_id)
        if reply.status == 201:
            assert reply.body["id"].startswith(f"{resource.id_prefix}_"), reply.body
            return
        assert_clear_error(reply, allowed={404, 409, 422})
        refused.append(message_id)

    one()
    after_the_batch(services, resource, refused, dead_before)


@pytest.mark.parametrize("resource", list(COMMAND_MODELS), ids=str)
def test_every_command_answers_crafted_input_clearly(
    services: Services, resource: Resource
) -> None:
    """Huge numbers, lone surrogates and NUL metadata keys are 422 (or 404, when the header is
    present but no entity id, which is decided first); a valid body is 404 under such a
    header, and 201 without one."""
    refused: list[str] = []
    dead_before = services.dead_letters()
    refusing_before, sent_to_refusing = undeliverable(resource.create_key), 0
    valid = encoded(VALID[resource])

    @EXAMPLES
    @given(
        body=crafted_bodies(COMMAND_MODELS[resource], VALID[resource]) | st.just(valid),
        header=st.sampled_from([ABSENT, services.entity_id]) | odd_headers,
        refusing=st.integers(0, 9).map(lambda n: n == 0),
    )
    def one(body: bytes, header: Any, refusing: bool) -> None:
        nonlocal sent_to_refusing
        message_id = str(uuid.uuid4())
        good_header = header is ABSENT or header == services.entity_id
        if refusing:  # no reply can arrive; the command is settled all the same
            sent_to_refusing += 1
            services.figures.refused_replies += 1
            services.figures.tried += 1
            services.call(reply_into(services, resource.create_key, body, header, message_id))
            if body != valid or not (good_header or not resource.tenant_scoped):
                refused.append(message_id)
            return
        reply = services.ask("commands", resource.create_key, body, header, message_id=message_id)
        if body != valid and (good_header or not resource.tenant_scoped):
            assert_clear_error(reply, allowed={422})
            assert reply.body["error"]["code"] == "validation_error"
        elif body != valid:  # the entity is decided first: either refusal is right
            assert_clear_error(reply, allowed={404, 422})
        elif good_header or not resource.tenant_scoped:
            assert reply.status == 201, reply.body
            return
        else:
            assert_clear_error(reply, allowed={404})
            assert reply.body["error"]["errors"][0]["loc"] == ["x-entity-id"]
        refused.append(message_id)

    one()
    until_counted(resource.create_key, refusing_before + sent_to_refusing)
    after_the_batch(services, resource, refused, dead_before)


# -- list requests ---------------------------------------------------------------------------


@pytest.mark.parametrize("resource", list(Resource), ids=str)
def test_every_list_request_answers_hostile_bodies_clearly(
    services: Services, resource: Resource
) -> None:
    dead_before = services.dead_letters()

    @EXAMPLES
    @given(body=bodies(ListRequest, {"limit": 3}))
    def one(body: bytes) -> None:
        reply = services.ask("queries", resource.list_key, body, services.entity_id)
        if reply.status == 200:
            assert set(reply.body) == {"data", "pagination"}, reply.body
            return
        assert_clear_error(reply, allowed={404, 422, 503})

    one()
    assert services.dead_letters() == dead_before  # a query changes nothing; nothing to keep
    assert services.consumers_alive()
    valid = services.call(
        services.client.query(resource.list_key, {"limit": 5}, entity_id=services.entity_id)
    )
    assert valid.status == 200, valid.body


def undeliverable(request: Resource | str) -> float:
    """Replies refused so far to ``request`` (a routing key; a resource: its list request)."""
    key = request.list_key if isinstance(request, Resource) else request
    return float(metrics.UNDELIVERABLE_REPLIES.labels(key)._value.get())


def until_counted(request: str, expected: float) -> None:
    """Every message sent with the refusing reply_to was answered and settled (each reply is
    tried once, so the count reaches ``expected`` and stays there)."""
    for _ in range(300):
        if undeliverable(request) >= expected:
            break
        time.sleep(0.1)
    assert undeliverable(request) == expected


@pytest.mark.parametrize("resource", list(Resource), ids=str)
def test_every_list_request_answers_crafted_input_clearly(
    services: Services, resource: Resource
) -> None:
    """Wrong types, huge numbers and lone surrogates are 422; forged and edited cursors are
    invalid_cursor; odd headers are 404; a reply_to that refuses publishes gets no reply, and
    the request is settled all the same."""
    refusing_before = undeliverable(resource)
    sent_to_refusing = 0
    cursors = forged_cursors(services.cursor).map(
        lambda cursor: encoded({"limit": 1, "next_cursor": cursor})
    )
    valid = encoded({"limit": 2})

    @EXAMPLES
    @given(
        body=list_crafted_bodies | cursors | st.just(valid),
        header=st.sampled_from([ABSENT, services.entity_id]) | odd_headers,
        refusing=st.integers(0, 9).map(lambda n: n == 0),
    )
    def one(body: bytes, header: Any, refusing: bool) -> None:
        nonlocal sent_to_refusing
        if refusing:
            sent_to_refusing += 1
            services.figures.refused_replies += 1
            services.figures.tried += 1
            services.call(reply_into(services, resource.list_key, body, header))
            return
        reply = services.ask("queries", resource.list_key, body, header)
        good_header = header is ABSENT or header == services.entity_id
        if body == valid and (good_header or not resource.tenant_scoped):
            assert reply.status == 200, reply.body
        elif body == valid:
            assert_clear_error(reply, allowed={404})
        else:
            assert_clear_error(reply, allowed={404, 422, 503})
            assert reply.body["error"]["code"] != "internal_error"

    one()
    until_counted(resource.list_key, refusing_before + sent_to_refusing)
    assert services.consumers_alive()
    valid_reply = services.call(
        services.client.query(resource.list_key, {"limit": 5}, entity_id=services.entity_id)
    )
    assert valid_reply.status == 200, valid_reply.body


async def reply_into(
    services: Services, routing_key: str, body: bytes, header: Any, message_id: str | None = None
) -> None:
    """A command or list request whose reply_to is the queue that refuses every publish."""
    assert services.client.channel is not None
    topology = services.settings.topology
    kind = "commands" if routing_key.endswith(".create") else "queries"
    exchange = topology.commands_exchange if kind == "commands" else topology.queries_exchange
    found = await services.client.channel.get_exchange(exchange, ensure=False)
    headers = {} if header is ABSENT else {"x-entity-id": header}
    await found.publish(
        aio_pika.Message(
            body,
            correlation_id=str(uuid.uuid4()),
            message_id=message_id,
            reply_to=services.refusing,
            headers=headers,
        ),
        routing_key=routing_key,
    )


# -- poison frames: AMQP short strings that are not UTF-8 -------------------------------------


@pytest.mark.parametrize("kind", ["command", "list request"])
def test_text_that_is_not_utf8_in_properties_is_refused_clearly(
    services: Services, kind: str
) -> None:
    """Valid bodies with arbitrary bytes in the short-string properties and header names:
    answered as if they were not there when they are UTF-8, else refused with 422 naming each
    place; the connections are never lost."""
    exchange, key = (
        ("commands", "customer.create") if kind == "command" else ("queries", "customer.list")
    )
    valid = VALID[Resource.CUSTOMER] if kind == "command" else {"limit": 1}
    refused = 0
    dead_before = services.dead_letters()

    async def send(properties: dict[str, Any]) -> Reply:
        reply_key = shown(
            properties.get("correlation_id")
            or properties.setdefault("message_id", str(uuid.uuid4()))
        )
        future = services.client.expect_reply(reply_key)
        headers = {Header.ENTITY_ID.value: services.entity_id, **properties.pop("headers", {})}
        await services.client.publish(
            exchange, key, valid, headers=headers,
            properties={"reply_to": "amq.rabbitmq.reply-to", **properties},
        )  # fmt: skip
        return await asyncio.wait_for(future, 20)

    @EXAMPLES
    @given(properties=poisoned_properties)
    def one(properties: dict[str, Any]) -> None:
        nonlocal refused
        expected = undecodable_locs(properties)
        services.figures.tried += 1
        try:
            reply = services.call(send(dict(properties)))
        except TimeoutError:
            services.figures.dropped += 1
            raise
        services.figures.count(reply)
        if not expected:
            assert reply.status in {200, 201}, reply.body
            return
        assert_clear_error(reply, allowed={422})
        named = [e["loc"] for e in reply.body["error"]["errors"]]
        assert sorted(map(json.dumps, named)) == sorted(map(json.dumps, expected))
        refused += 1

    with connection_losses(*services.apps) as losses:
        one()
    assert losses == []
    assert refused  # the strategy does reach the poison
    assert services.dead_letters() - dead_before == (refused if kind == "command" else 0)
    assert services.consumers_alive()
