"""Property-based: arbitrary and hostile bodies at every command and every list request, over
the real broker, to the real services.

Every message gets a clear answer: 201 if it happens to be valid, else an error reply whose
message names the field (and, for a command, a copy in the dead-letter queue). Nothing is
answered with 500, nothing crashes a consumer, and a valid command after each batch succeeds.
Poison frames (properties and header names that are not UTF-8) are refused the same way and
never cost the services their broker connection.

The services run in an event loop of their own, in a background thread, so Hypothesis drives
plain synchronous tests and each example is one round trip over AMQP.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import aio_pika
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from invoicebus.adapters.mongo.client import connect
from invoicebus.runtime.watchdog import dead_consumers
from invoicebus.settings import Settings
from invoicebus_client.topology import declare_topology, delete_topology
from invoicebus_contracts import COMMAND_MODELS, ErrorCode, Header, ListRequest, Resource, limits
from invoicebus_contracts.text import is_text, shown
from tests.support.amqp import RawClient, Reply
from tests.support.services import connection_losses

T = TypeVar("T")
EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ERROR_CODES = {code.value for code in ErrorCode}
VALID: dict[Resource, dict[str, Any]] = {
    Resource.ENTITY: {"name": "Valid Entity"},
    Resource.CUSTOMER: {"name": "Valid Customer"},
    Resource.TAX: {"rate": 10},
    Resource.ITEM: {"name": "Valid Item", "price": 10, "taxes": [{"rate": 10}]},
}


@dataclass
class Services:
    """Command and query services with a topology and database of their own."""

    loop: asyncio.AbstractEventLoop
    settings: Settings
    client: RawClient
    apps: list[Any]
    entity_id: str = ""

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def dead_letters(self) -> int:
        async def depth() -> int:
            connection = await aio_pika.connect(self.settings.amqp_url)
            async with connection:
                channel = await connection.channel()
                queue = await channel.declare_queue(
                    self.settings.topology.dead_letter_queue, passive=True
                )
                return queue.declaration_result.message_count or 0

        return self.call(depth())

    def consumers_alive(self) -> bool:
        return all(not self.call(dead_consumers(app.broker)) for app in self.apps)


@pytest.fixture(scope="module")
def services(settings: Settings) -> Iterator[Services]:
    from invoicebus.commands.app import create_app as create_commands
    from invoicebus.queries.app import create_app as create_queries

    prefix = f"ibbad-{uuid.uuid4().hex[:8]}"
    # A new Settings, not model_copy: that would keep the cached topology of the old prefix.
    own = Settings(
        **settings.model_dump() | {"prefix": prefix, "database": prefix.replace("-", "_")}
    )
    assert own.topology.prefix == prefix
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bad-input-services", daemon=True)
    thread.start()

    def call(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(120)

    async def start() -> Services:
        connection = await aio_pika.connect(own.amqp_url)
        async with connection:
            await declare_topology(
                await connection.channel(), own.topology, delivery_limit=own.delivery_limit
            )
        apps = [create_commands(own), create_queries(own)]
        for app in apps:
            await app.start()
        client = RawClient(own.amqp_url, prefix)
        await client.__aenter__()
        return Services(loop, own, client, apps)

    async def stop(found: Services) -> None:
        await found.client.__aexit__()
        for app in found.apps:
            await app.stop()
        connection = await aio_pika.connect(own.amqp_url)
        async with connection:
            await delete_topology(await connection.channel(), own.topology)
        assert own.mongodb_url
        mongo = connect(own.mongodb_url)
        await mongo.drop_database(own.database)
        await mongo.close()

    found = call(start())
    try:
        entity = found.call(found.client.command("entity.create", {"name": "Bad Input Entity"}))
        assert entity.status == 201, entity.body
        found.entity_id = entity.body["id"]
        yield found
    finally:
        call(stop(found))
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


# -- hostile bodies --------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def encoded(value: Any) -> bytes:
    return json.dumps(value).encode()


def bodies(model: type[BaseModel], valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Bodies for ``model``: arbitrary JSON, its own fields with arbitrary (mostly wrong)
    types, a valid body with one or two fields changed, huge strings, deep nesting, invalid
    UTF-8, random bytes, oversized bodies."""
    fields = st.sampled_from(sorted(model.model_fields))
    field_names = fields | st.text(max_size=12)
    return st.one_of(
        json_values.map(encoded),
        st.dictionaries(fields, json_values, max_size=2).map(lambda d: encoded({**valid, **d})),
        st.dictionaries(field_names, json_values, max_size=6).map(encoded),
        st.tuples(fields, st.integers(min_value=limits.NAME_MAX, max_value=60_000)).map(
            lambda f: encoded({f[0]: "x" * f[1]})
        ),
        st.integers(min_value=50, max_value=100_000).map(
            lambda depth: b'{"name": ' + b"[" * depth + b"]" * depth + b"}"
        ),
        st.binary(min_size=1, max_size=30).map(lambda raw: b'{"name": "\xff' + raw + b'"}'),
        st.binary(max_size=200),
        st.integers(min_value=limits.MAX_BODY_BYTES + 1, max_value=3 * limits.MAX_BODY_BYTES).map(
            lambda size: b'{"name": "' + b"a" * size + b'"}'
        ),
    )


def assert_clear_error(reply: Reply, *, allowed: set[int]) -> None:
    """An error reply with the contract's shape, naming where the problem is."""
    assert reply.status in allowed, (reply.status, reply.body)
    assert set(reply.body) == {"error"}, reply.body
    error = reply.body["error"]
    assert set(error) == {"type", "code", "message", "errors"}, error
    assert error["code"] in ERROR_CODES and ErrorCode(error["code"]).status == reply.status
    assert isinstance(error["message"], str) and error["message"], error
    for detail in error["errors"]:
        assert isinstance(detail["loc"], list) and isinstance(detail["msg"], str), detail
    if error["code"] in {"validation_error", "invalid_query"}:
        assert error["errors"], error
        named = error["errors"][0]["loc"][:1]
        assert not named or str(named[0]) in error["message"], error  # names the field


# -- commands --------------------------------------------------------------------------------


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
        entity=st.sampled_from([services.entity_id]) | st.text(max_size=60),
    )
    def one(body: bytes, entity: str) -> None:
        message_id = str(uuid.uuid4())
        reply = services.call(
            services.client.command(
                resource.create_key, body, entity_id=entity or None, message_id=message_id
            )
        )
        if reply.status == 201:
            assert reply.body["id"].startswith(f"{resource.id_prefix}_"), reply.body
            return
        assert_clear_error(reply, allowed={404, 409, 422})
        refused.append(message_id)

    one()
    # Each refused command was kept in the dead-letter queue.
    assert services.dead_letters() - dead_before == len(refused)
    # The service is still consuming, and a valid command still succeeds.
    assert services.consumers_alive()
    valid = services.call(
        services.client.command(resource.create_key, VALID[resource], entity_id=services.entity_id)
    )
    assert valid.status == 201, valid.body


# -- list requests ---------------------------------------------------------------------------


@pytest.mark.parametrize("resource", list(Resource), ids=str)
def test_every_list_request_answers_hostile_bodies_clearly(
    services: Services, resource: Resource
) -> None:
    dead_before = services.dead_letters()

    @EXAMPLES
    @given(body=bodies(ListRequest, {"limit": 3}))
    def one(body: bytes) -> None:
        reply = services.call(
            services.client.query(resource.list_key, body, entity_id=services.entity_id)
        )
        if reply.status == 200:
            assert set(reply.body) == {"data", "pagination"}, reply.body
            return
        assert_clear_error(reply, allowed={404, 422})

    one()
    assert services.dead_letters() == dead_before  # a query changes nothing; nothing to keep
    assert services.consumers_alive()
    valid = services.call(
        services.client.query(resource.list_key, {"limit": 5}, entity_id=services.entity_id)
    )
    assert valid.status == 200, valid.body


# -- poison frames: AMQP short strings that are not UTF-8 -------------------------------------

#: Any bytes, as the text pamqp (patched, here too) decodes them to and publishes them as.
short_strings = st.binary(min_size=1, max_size=16).map(
    lambda raw: raw.decode("utf-8", "surrogateescape")
)
header_names = short_strings.filter(lambda name: name != Header.ENTITY_ID.value)
poisoned_properties = st.fixed_dictionaries(
    {},
    optional={
        name: short_strings
        for name in ("message_id", "correlation_id", "content_type", "type", "app_id")
    }
    | {
        "headers": st.dictionaries(
            header_names,
            st.integers(0, 9) | st.dictionaries(header_names, st.booleans(), max_size=1),
            max_size=2,  # at most 9 places in all: the refusal names the first 10
        )
    },
)


def undecodable_locs(properties: dict[str, Any]) -> list[list[str]]:
    """Where ``properties`` hold text that is not UTF-8, as the services name it."""
    found = [[n] for n, v in properties.items() if isinstance(v, str) and not is_text(v)]
    for name, value in properties.get("headers", {}).items():
        if not is_text(name):
            found.append(["headers", shown(name)])
        if isinstance(value, dict):
            found += [["headers", shown(name), shown(k)] for k in value if not is_text(k)]
    return found


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
        reply = services.call(send(dict(properties)))
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
