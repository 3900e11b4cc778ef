"""The gateway's own logic with a fake bus (no broker): what it sends for an HTTP request
(headers, message_id, body, list request), how it answers for a bus that does not (503/504),
and what it refuses itself."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from invoicebus.gateway.app import create_app
from invoicebus.settings import Settings
from invoicebus_client import NoReply, Unavailable
from invoicebus_client.transport import RawReply
from invoicebus_contracts import ErrorBody, Topology

CREATED = b'{"id": "cust_1", "name": "x"}'


@dataclass
class Sent:
    exchange: str
    routing_key: str
    body: bytes
    message_id: str | None
    headers: dict[str, str]
    entity_id: str | None


@dataclass
class FakeClient:
    """What the gateway uses of ``InvoicebusClient``; answers with ``reply``."""

    reply: Callable[[Sent], RawReply] = lambda sent: RawReply(201, CREATED)
    topology: Topology = field(default_factory=Topology)
    sent: list[Sent] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    entity_id: str | None = None
    publish: bool = True

    def scoped(self, *, entity_id: str | None, headers: dict[str, str]) -> FakeClient:
        copy = FakeClient(self.reply, self.topology, self.sent, dict(headers), entity_id)
        copy.publish = self.publish
        return copy

    async def raw_reply(
        self, exchange: str, routing_key: str, body: bytes, *, message_id: str | None,
        reply_timeout: float, on_published: Callable[[], object] | None,
    ) -> RawReply:  # fmt: skip
        sent = Sent(exchange, routing_key, body, message_id, self.headers, self.entity_id)
        self.sent.append(sent)
        if self.publish and on_published is not None:
            on_published()
        return self.reply(sent)

    async def connected(self, wait: float) -> bool:
        return True

    async def close(self) -> None:
        pass


@pytest.fixture
def fake() -> FakeClient:
    return FakeClient()


@pytest.fixture
async def http(fake: FakeClient) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(gateway_reply_timeout_seconds=1), client=fake)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


async def test_a_create_is_its_command_with_the_caller_s_headers(
    http: httpx.AsyncClient, fake: FakeClient
) -> None:
    body = b'{"name": "x",  "city": "Kranj"}'
    response = await http.post(
        "/customers",
        content=body,
        headers={
            "content-type": "application/json",
            "x-entity-id": "ent_" + "a" * 24,
            "Idempotency-Key": "crm-42",
            "Authorization": "Bearer ibk_secret",
        },
    )
    assert (response.status_code, response.content) == (201, CREATED)  # passed on as it came
    [sent] = fake.sent
    assert (sent.exchange, sent.routing_key) == ("invoicebus.commands", "customer.create")
    assert sent.body == body  # the caller's bytes, for the service to validate
    assert sent.message_id == "crm-42"
    assert sent.entity_id is None  # no default of the gateway's own
    assert sent.headers == {
        "x-entity-id": "ent_" + "a" * 24,
        "x-invoicebus-key-sha256": hashlib.sha256(b"ibk_secret").hexdigest(),
    }
    assert "ibk_secret" not in json.dumps(sent.headers)  # the key never leaves the gateway


async def test_without_an_idempotency_key_each_create_gets_a_fresh_message_id(
    http: httpx.AsyncClient, fake: FakeClient
) -> None:
    for _ in range(2):
        await http.post("/items", json={"name": "x"})
    ids = [s.message_id for s in fake.sent]
    assert all(ids) and len(set(ids)) == 2
    assert [s.headers for s in fake.sent] == [{}, {}]  # no entity, no key: the services decide


async def test_an_empty_entity_header_is_sent_as_it_is(
    http: httpx.AsyncClient, fake: FakeClient
) -> None:
    await http.get("/customers", headers={"x-entity-id": ""})
    assert fake.sent[0].headers == {"x-entity-id": ""}  # never the default entity


@pytest.mark.parametrize(
    "authorization", ["Basic abc", "Bearer", "bearer  spaced-key ", "Token abc"]
)
async def test_only_a_bearer_key_is_forwarded(
    http: httpx.AsyncClient, fake: FakeClient, authorization: str
) -> None:
    await http.get("/customers", headers={"Authorization": authorization})
    forwarded = fake.sent[0].headers.get("x-invoicebus-key-sha256")
    expected = hashlib.sha256(b"spaced-key").hexdigest() if "spaced" in authorization else None
    assert forwarded == expected


async def test_a_list_is_its_request_from_the_query_parameters(
    http: httpx.AsyncClient, fake: FakeClient
) -> None:
    fake.reply = lambda sent: RawReply(200, b'{"data": [], "pagination": {}}')
    response = await http.get(
        "/taxes",
        params={"limit": "5", "include_total_count": "false", "query": '{"rate": 22}',
                "order_by": "-rate", "search": "std", "next_cursor": "c1"},
    )  # fmt: skip
    assert response.status_code == 200
    [sent] = fake.sent
    assert (sent.exchange, sent.routing_key, sent.message_id) == (
        "invoicebus.queries", "tax.list", None,
    )  # fmt: skip
    assert json.loads(sent.body) == {
        "limit": 5, "include_total_count": False, "query": '{"rate": 22}', "order_by": "-rate",
        "search": "std", "next_cursor": "c1",
    }  # fmt: skip


async def test_a_refusal_from_the_service_keeps_its_status_and_body(
    http: httpx.AsyncClient, fake: FakeClient
) -> None:
    refusal = b'{"error": {"type": "authentication_error", "code": "unauthenticated"}}'
    fake.reply = lambda sent: RawReply(401, refusal)
    response = await http.post("/customers", json={"name": "x"})
    assert (response.status_code, response.content) == (401, refusal)
    assert response.headers["www-authenticate"].startswith("Bearer")


def failing(exc: Exception) -> Callable[[Sent], RawReply]:
    def reply(sent: Sent) -> RawReply:
        raise exc

    return reply


@pytest.mark.parametrize(
    ("exc", "published", "status", "code"),
    [
        (NoReply("late"), True, 504, "gateway_timeout"),
        (NoReply("late"), False, 503, "service_unavailable"),
        (Unavailable("down"), False, 503, "service_unavailable"),
    ],
)
async def test_a_bus_that_does_not_answer_is_504_or_503(
    http: httpx.AsyncClient, fake: FakeClient, exc: Exception, published: bool, status: int,
    code: str,
) -> None:  # fmt: skip
    fake.reply, fake.publish = failing(exc), published
    response = await http.post("/customers", json={"name": "x"})
    assert response.status_code == status
    assert ErrorBody.model_validate(response.json()).error.code == code


@pytest.mark.parametrize(
    ("request_kwargs", "loc"),
    [
        ({"content": b"x" * 65_537, "headers": {"content-type": "application/json"}}, ["body"]),
        ({"content": b"[1]", "headers": {"content-type": "application/json"}}, ["body"]),
        ({"content": b"{", "headers": {"content-type": "application/json"}}, ["body"]),
        ({"content": b"{}", "headers": {"content-type": "text/csv"}}, ["headers", "content-type"]),
        ({"json": {}, "headers": {"Idempotency-Key": "k" * 256}}, ["headers", "Idempotency-Key"]),
    ],
)
async def test_what_the_gateway_refuses_itself_is_never_sent(
    http: httpx.AsyncClient, fake: FakeClient, request_kwargs: dict[str, Any], loc: list[str]
) -> None:
    response = await http.post("/customers", **request_kwargs)
    assert response.status_code == 422
    error = ErrorBody.model_validate(response.json()).error
    assert error.code == "validation_error" and [d.loc for d in error.errors] == [loc]
    assert fake.sent == []


async def test_an_unknown_or_mistyped_parameter_is_named_and_never_sent(
    http: httpx.AsyncClient, fake: FakeClient
) -> None:
    for params, loc in (({"limit": "x"}, ["query", "limit"]), ({"pge": "2"}, ["query", "pge"])):
        response = await http.get("/customers", params=params)
        assert response.status_code == 422
        assert [d["loc"] for d in response.json()["error"]["errors"]] == [loc]
    assert fake.sent == []
