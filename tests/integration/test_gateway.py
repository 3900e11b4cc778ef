"""The HTTP gateway over the real system: the services and the gateway as processes, the real
broker and database. The API reference's curl examples run as written and answer as it shows;
a create over HTTP is the same command as over AMQP (its event, its idempotency); lists page
over HTTP; every refusal is the contract's error body with the contract's status."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from invoicebus_contracts import ErrorBody
from tests.support.amqp import RawClient, body
from tests.support.backends import Backends
from tests.support.gateway import System, curl_examples, run_curl, shape_mismatches, system

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "openapi.json"
README = ROOT / "README.md"
#: What differs from one run to the next: never compared by value.
VOLATILE = {"id", "entity_id", "created_at", "updated_at"}


@pytest.fixture(scope="module")
async def running(
    servers: Backends, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    prefix = f"ibgw-{uuid.uuid4().hex[:8]}"
    async with system(servers, tmp_path_factory.mktemp("gateway"), prefix) as started:
        yield started


@pytest.fixture
async def http(running: System) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
        yield client


async def new_entity(http: httpx.AsyncClient) -> str:
    response = await http.post("/entities", json={"name": f"Gateway {uuid.uuid4().hex[:6]}"})
    assert response.status_code == 201, response.text
    entity_id: str = response.json()["id"]
    return entity_id


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The response's contract error body (validated), as JSON."""
    assert response.headers["content-type"] == "application/json"
    parsed = ErrorBody.model_validate(response.json())
    assert parsed.status == response.status_code, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


async def test_the_reference_curl_examples_answer_as_it_shows(
    running: System, http: httpx.AsyncClient
) -> None:
    entity_id = await new_entity(http)
    examples = curl_examples("customers-api.txt") + curl_examples("items-api.txt")
    assert [(e.method, e.path) for e in examples] == [
        ("POST", "/customers"), ("GET", "/customers"), ("POST", "/items"), ("GET", "/items"),
    ]  # fmt: skip
    created: dict[str, Any] = {}
    for example in examples:
        status, answer = await run_curl(example, running.url, "any-key", entity_id)
        assert shape_mismatches(answer, example.answer) == [], (example.command, answer)
        if example.method == "POST":
            assert status == 201, answer
            assert answer["entity_id"] == entity_id
            shown = {k: v for k, v in example.answer.items() if k not in VOLATILE}
            assert {k: answer[k] for k in shown} == shown
            created[example.path] = answer
        else:
            # The entity holds exactly what the POST example made: a page of one, as shown.
            assert status == 200, answer
            assert answer["data"] == [created[example.path]]
            assert answer["pagination"] == example.answer["pagination"]


async def test_a_customer_created_over_http_is_announced_on_amqp(
    servers: Backends, running: System, http: httpx.AsyncClient
) -> None:
    entity_id = await new_entity(http)
    key = f"http-{uuid.uuid4().hex}"
    async with RawClient(servers.amqp_url, running.prefix) as amqp:
        tap = await amqp.subscribe("customer.*")
        response = await http.post(
            "/customers",
            json={"name": "Over HTTP", "city": "Ljubljana"},
            headers={"x-entity-id": entity_id, "Idempotency-Key": key},
        )
        assert response.status_code == 201, response.text
        created = response.json()
        event = await tap.wait_for(lambda m: body(m)["id"] == created["id"])
        # The AMQP door lists the very same resource.
        listed = await amqp.query("customer.list", {}, entity_id=entity_id)
    assert event.routing_key == "customer.created"
    assert body(event) == created
    assert event.correlation_id == key  # the Idempotency-Key was the command's message_id
    assert listed.body["data"] == [created]


async def test_an_idempotency_key_returns_the_same_resource_and_refuses_another_body(
    http: httpx.AsyncClient,
) -> None:
    entity_id = await new_entity(http)
    headers = {"x-entity-id": entity_id, "Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    first = await http.post("/items", json={"name": "Tea", "price": 2}, headers=headers)
    again = await http.post("/items", json={"name": "Tea", "price": 2}, headers=headers)
    other = await http.post("/items", json={"name": "Coffee", "price": 3}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert other.status_code == 409
    assert error_of(other)["code"] == "idempotency_conflict"
    listed = await http.get("/items", headers={"x-entity-id": entity_id})
    assert [item["id"] for item in listed.json()["data"]] == [first.json()["id"]]


async def test_lists_page_with_next_and_prev_cursors(http: httpx.AsyncClient) -> None:
    entity_id = await new_entity(http)
    headers = {"x-entity-id": entity_id}
    made = []
    for n in range(5):
        response = await http.post("/customers", json={"name": f"C{n}"}, headers=headers)
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    pages: list[list[str]] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = (await http.get("/customers", params=params, headers=headers)).json()
        pages.append([c["id"] for c in page["data"]])
        assert page["pagination"]["total"] == 5
        if not page["pagination"]["has_more"]:
            break
        params = {"limit": 2, "next_cursor": page["pagination"]["next_cursor"]}
    assert sorted(i for p in pages for i in p) == sorted(made)
    assert [len(p) for p in pages] == [2, 2, 1]
    back = await http.get(
        "/customers",
        params={"limit": 2, "prev_cursor": page["pagination"]["prev_cursor"]},
        headers=headers,
    )
    assert [c["id"] for c in back.json()["data"]] == pages[1]
    counted = await http.get(
        "/customers", params={"limit": 1, "include_total_count": "false"}, headers=headers
    )
    assert counted.json()["pagination"]["total"] == -1
    found = await http.get("/customers", params={"query": '{"name": "C3"}'}, headers=headers)
    assert [c["name"] for c in found.json()["data"]] == ["C3"]
    searched = await http.get("/customers", params={"search": "c4"}, headers=headers)
    assert [c["name"] for c in searched.json()["data"]] == ["C4"]


async def test_entities_and_taxes_have_their_pair_of_routes(http: httpx.AsyncClient) -> None:
    entity_id = await new_entity(http)
    headers = {"x-entity-id": entity_id}
    tax = await http.post("/taxes", json={"rate": 22, "classification": "std"}, headers=headers)
    assert tax.status_code == 201, tax.text
    taxes = await http.get("/taxes", headers=headers)
    assert taxes.json()["data"] == [tax.json()]
    entities = await http.get("/entities", params={"query": f'{{"id": "{entity_id}"}}'})
    assert [e["id"] for e in entities.json()["data"]] == [entity_id]


FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}
NAMED = {"name": "x"}
#: case -> (method, request, status, code, the loc one error must name; None: any)
REFUSALS: dict[str, tuple[str, dict[str, Any], int, str, list[str] | None]] = {
    "limit not a number": ("GET", {"params": {"limit": "ten"}}, 422, "validation_error",
                           ["query", "limit"]),
    "limit 0": ("GET", {"params": {"limit": "0"}}, 422, "validation_error", ["limit"]),
    "total not a boolean": ("GET", {"params": {"include_total_count": "maybe"}}, 422,
                            "validation_error", ["query", "include_total_count"]),
    "unknown parameter": ("GET", {"params": {"limt": "2"}}, 422, "validation_error",
                          ["query", "limt"]),
    "query not JSON": ("GET", {"params": {"query": "{no"}}, 422, "invalid_query", ["query"]),
    "forged cursor": ("GET", {"params": {"next_cursor": "forged"}}, 422, "invalid_cursor",
                      ["next_cursor"]),
    "body not JSON": ("POST", {"content": b"{no", "headers": JSON}, 422, "validation_error",
                      ["body"]),
    "body a list": ("POST", {"json": ["a"]}, 422, "validation_error", ["body"]),
    "a form": ("POST", {"content": b"name=x", "headers": FORM}, 422, "validation_error",
               ["headers", "content-type"]),
    "unknown field": ("POST", {"json": {"name": "x", "colour": "red"}}, 422,
                      "validation_error", ["colour"]),
    "no name": ("POST", {"json": {}}, 422, "validation_error", ["name"]),
    "key with a space": ("POST", {"json": NAMED, "headers": {"Idempotency-Key": "a b"}}, 422,
                         "validation_error", ["headers", "Idempotency-Key"]),
    "no such entity": ("POST", {"json": NAMED, "headers": {"x-entity-id": "ent_" + "0" * 24}},
                       404, "entity_not_found", None),
    "empty entity": ("POST", {"json": NAMED, "headers": {"x-entity-id": ""}}, 404,
                     "entity_not_found", None),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_a_refusal_is_the_contract_s_error_body_naming_the_field(
    http: httpx.AsyncClient, case: str
) -> None:
    method, request, status, code, loc = REFUSALS[case]
    entity_id = await new_entity(http)  # refusals of the body come after the entity's check
    request = dict(request)
    headers = {"x-entity-id": entity_id, **request.pop("headers", {})}
    response = await http.request(method, "/customers", headers=headers, **request)
    assert response.status_code == status, response.text
    error = error_of(response)
    assert error["code"] == code
    if loc is not None:
        assert loc in [detail["loc"] for detail in error["errors"]], error


async def test_a_body_over_the_limit_is_refused_saying_the_limit(http: httpx.AsyncClient) -> None:
    big = b'{"name": "' + b"x" * 70_000 + b'"}'
    declared = await http.post(
        "/customers", content=big, headers={"content-type": "application/json"}
    )

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: read until over the limit
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    streamed = await http.post("/customers", content=chunks())
    for response in (declared, streamed):
        assert response.status_code == 422
        assert "65536 bytes" in error_of(response)["message"]


async def test_docs_openapi_health_and_metrics_are_served(http: httpx.AsyncClient) -> None:
    docs = await http.get("/docs")
    assert docs.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text
    bundle = await http.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    committed = await asyncio.to_thread(COMMITTED.read_text)
    served = await http.get("/openapi.json")
    assert (
        served.json()["paths"].keys() == httpx.Response(200, text=committed).json()["paths"].keys()
    )
    assert (await http.get("/healthz")).status_code == 200
    ready = await http.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"ready": True, "broker": True})
    await http.get("/customers", params={"limit": "ten"})
    metrics = (await http.get("/metrics")).text
    assert (
        'invoicebus_gateway_requests_total{method="GET",route="/customers",status="422"}' in metrics
    )
    assert "invoicebus_gateway_request_duration_seconds_bucket" in metrics
    assert "process_cpu_seconds_total" in metrics
    assert "/docs/assets" not in metrics  # routes are templates, and assets are not counted


def hostile_requests(entity_id: str, cursor: str, item_cursor: str) -> dict[str, list[Any]]:
    """Category -> requests (method, path, request kwargs) an attacker might send."""
    json_type = {"content-type": "application/json"}

    def body(raw: bytes) -> tuple[str, str, dict[str, Any]]:
        return ("POST", "/customers", {"content": raw, "headers": json_type})

    def listing(**params: str) -> tuple[str, str, dict[str, Any]]:
        return ("GET", "/customers", {"params": params})

    async def endless() -> AsyncIterator[bytes]:  # 10 MiB, no Content-Length
        for _ in range(160):
            yield b"x" * 65536

    tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    return {
        "huge bodies": [
            body(b'{"name": "' + b"x" * 65_536 + b'"}'),
            body(b" " * (1 << 20) + b"{}"),
            ("POST", "/customers", {"content": endless(), "headers": json_type}),
            ("POST", "/items", {"content": b"[" * 70_000, "headers": json_type}),
        ],
        "bad JSON": [
            body(raw)
            for raw in (
                b"", b"{", b"null", b"[]", b"123", b'"name"', b'{"name": NaN}',
                b'{"name": "x"', b"[" * 5000 + b"]" * 5000, b'{"name": "\\ud800"}',
                b'{"name": "\xff\xfe"}', b"\xef\xbb\xbf{}", b'{"name": 1e999999}',
                b'{"name": {"$gt": ""}}', b'{"metadata": ' + b"[" * 3000 + b"]" * 3000 + b"}",
            )
        ],
        "bad parameters": [
            listing(limit=value) for value in ("-1", "0", "101", "1e3", "9" * 30, "0x10")
        ]
        + [
            listing(include_total_count="2"),
            listing(order_by="__proto__"),
            listing(order_by="$where"),
            listing(order_by="x" * 500),
            listing(query='{"$where": "sleep(1000)"}'),
            listing(query='{"name": {"$regex": ".*"}}'),
            listing(query='{"name": ' * 200 + '"x"' + "}" * 200),
            listing(query='{"name": {"in": [' + ",".join(['"x"'] * 5000) + "]}}"),
            listing(query="[]"),
            listing(search="s" * 201),
            listing(search=".*(a+)+$"),
            listing(next_cursor="c" * 2000),
            listing(next_cursor=cursor, prev_cursor=cursor),
            ("GET", "/customers?limit=1&limit=abc", {}),
        ],
        "forged cursors": [
            listing(next_cursor="eyJ0eXBlIjoiYWRtaW4ifQ"),
            listing(next_cursor=tampered),
            listing(prev_cursor=tampered),
            listing(next_cursor=item_cursor),  # another list's cursor
            ("GET", "/items", {"params": {"next_cursor": cursor}}),
            # another entity's (a fresh one, made when the request is sent)
            ("GET", "/customers", {"params": {"next_cursor": cursor},
                                   "headers": {"x-entity-id": "new"}}),
        ],
        "hostile headers": [
            ("POST", "/customers", {"json": {"name": "x"}, "headers": headers})
            for headers in (
                {"x-entity-id": "ent_'; db.dropDatabase()"},
                {"x-entity-id": "../../entities"},
                {"x-entity-id": "ent_" + "a" * 8000},
                {"x-entity-id": entity_id.upper()},
                {"Idempotency-Key": "k" * 256},
                {"Idempotency-Key": "clé".encode()},
                {"Idempotency-Key": ""},
                {"Authorization": "Bearer " + "k" * 8000},
                {"content-type": "text/plain"},
            )
        ],
    }  # fmt: skip


async def test_hostile_input_is_refused_in_the_contract_s_body_and_harms_nothing(
    http: httpx.AsyncClient,
) -> None:
    entity_id = await new_entity(http)
    headers = {"x-entity-id": entity_id}
    for n in range(3):
        await http.post("/customers", json={"name": f"H{n}"}, headers=headers)
        await http.post("/items", json={"name": f"H{n}"}, headers=headers)
    page = (await http.get("/customers", params={"limit": 1}, headers=headers)).json()
    items = (await http.get("/items", params={"limit": 1}, headers=headers)).json()
    cursor, item_cursor = page["pagination"]["next_cursor"], items["pagination"]["next_cursor"]
    counts: dict[str, dict[str, int]] = {}
    for category, requests in hostile_requests(entity_id, cursor, item_cursor).items():
        for method, path, request in requests:
            request = {**request, "headers": {**headers, **request.get("headers", {})}}
            if "x-entity-id" in request["headers"] and request["headers"]["x-entity-id"] == "new":
                request["headers"]["x-entity-id"] = await new_entity(http)
            response = await http.request(method, path, **request)
            tally = counts.setdefault(category, {})
            tally[str(response.status_code)] = tally.get(str(response.status_code), 0) + 1
            assert response.status_code < 500, (category, path, request, response.text)
            if response.status_code >= 400:
                error_of(response)  # the contract's body, its status the code's
            else:  # accepted: then it was harmless, and its answer is a resource or a page
                assert category in ("bad JSON", "bad parameters", "hostile headers"), response.text
    print(f"\nhostile HTTP requests by category and status: {counts}")
    # Every oversized body, broken JSON document and forged cursor was refused.
    for category in ("huge bodies", "forged cursors"):
        assert set(counts[category]) == {"422"}, counts
    assert not {s for s in counts["bad JSON"] if s.startswith("2")}, counts
    # And the gateway serves on, unharmed: a good request right after, and ready.
    listed = await http.get("/customers", params={"limit": 100}, headers=headers)
    assert [c["name"] for c in listed.json()["data"]].count("H0") == 1
    assert (await http.get("/readyz")).status_code == 200


async def test_the_readme_curl_session_runs_as_written(running: System) -> None:
    readme = await asyncio.to_thread(README.read_text)
    found = re.search(r"<!-- example: curl-session -->\n```sh\n(.*?)```", readme, re.S)
    assert found, "no curl-session example in the README"
    script = found.group(1).replace("API=http://127.0.0.1:8080", f"API={running.url}", 1)
    process = await asyncio.create_subprocess_exec(
        "bash", "-euo", "pipefail", "-c", script,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    decoder, text, answers = json.JSONDecoder(), out.decode(), []
    while text.strip():
        answer, end = decoder.raw_decode(text.lstrip())
        answers.append(answer)
        text = text.lstrip()[end:]
    first, second, item, page, following, found_city = answers
    assert (first["name"], second["name"], item["tax_ids"] != []) == (
        "Minimal Customer", "Second", True,
    )  # fmt: skip
    assert page["pagination"]["total"] == 2 and page["pagination"]["has_more"]
    assert [c["id"] for c in page["data"] + following["data"]] in (
        [first["id"], second["id"]], [second["id"], first["id"]],
    )  # fmt: skip
    assert following["pagination"]["prev_cursor"]
    assert [c["name"] for c in found_city["data"]] == ["Minimal Customer"]


async def test_the_gateway_logs_json_lines_like_the_services(running: System) -> None:
    lines = running.gateway.log_text().splitlines()
    parsed = [json.loads(line) for line in lines]  # fails on any line that is not JSON
    assert {"time", "level", "logger", "message"} <= parsed[0].keys()
    assert any(line["logger"] == "invoicebus.gateway" for line in parsed)
