"""The operations: ``POST /<resources>`` (a ``<resource>.create`` command) and ``GET
/<resources>`` (a ``<resource>.list`` request) for each resource of the contract's tables.

A create answers 201 with the resource, a list 200 with ``{"data", "pagination"}``, exactly as
the service replied (the bytes are passed on); an error answers with its contract status and
body. The bodies are the commands' own: the services validate them and name each field at
fault; the gateway checks only what HTTP adds (``requests``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from invoicebus_contracts import (
    COMMAND_MODELS,
    ENTITY_ID_PATTERN,
    LIST_REPLY_MODELS,
    RESOURCE_MODELS,
    ErrorBody,
    ErrorCode,
    Header,
    Resource,
)
from invoicebus_contracts.limits import CURSOR_MAX, LIST_LIMIT_DEFAULT, SEARCH_MAX

from .bus import Bus
from .errors import Refused, json_response
from .requests import IDEMPOTENCY_KEY, caller_headers, idempotency_key, json_body

#: The path of each resource, as the API reference names them.
PATHS: dict[Resource, str] = {
    Resource.ENTITY: "/entities",
    Resource.CUSTOMER: "/customers",
    Resource.TAX: "/taxes",
    Resource.ITEM: "/items",
}
#: The query parameters of a list, in the order the API reference gives them.
LIST_PARAMETERS = (
    "limit",
    "next_cursor",
    "prev_cursor",
    "include_total_count",
    "order_by",
    "query",
    "search",
)


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        401: "No valid API key (`INVOICEBUS_AUTH=required`): `unauthenticated`",
        404: "`entity_not_found`: the x-entity-id names no entity the key may act on",
        409: "`idempotency_conflict`: the Idempotency-Key was used with another body",
        422: "`validation_error` (naming each field or parameter), `invalid_query`,"
        " `invalid_cursor`, `tax_not_found`",
        503: "`service_unavailable` (the bus is unreachable) or `query_timeout`",
        504: "`gateway_timeout`: no reply in time; retry a command with its Idempotency-Key",
    }
    return {s: {"model": ErrorBody, "description": described[s]} for s in statuses}


def router(bus: Bus) -> APIRouter:
    routes = APIRouter()
    for resource, path in PATHS.items():
        _create_route(routes, bus, resource, path)
        _list_route(routes, bus, resource, path)
    return routes


def _create_route(routes: APIRouter, bus: Bus, resource: Resource, path: str) -> None:
    command = COMMAND_MODELS[resource]

    async def create(request: Request) -> Response:
        body = await json_body(request)
        reply = await bus.create(resource, body, caller_headers(request), idempotency_key(request))
        return json_response(reply.status, reply.body)

    name = path.strip("/")
    routes.add_api_route(
        path,
        create,
        methods=["POST"],
        status_code=201,
        tags=[name],
        summary=f"Create {'an' if resource.value[0] in 'aeiou' else 'a'} {resource.value}",
        description=(command.__doc__ or "").strip(),
        operation_id=f"create_{resource.value}",
        response_model=RESOURCE_MODELS[resource],
        responses=_errors(401, 404, 409, 422, 503, 504),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{command.__name__}"}
                    }
                },
            },
            "parameters": [_entity_header(), _idempotency_header()],
        },
    )


def _list_route(routes: APIRouter, bus: Bus, resource: Resource, path: str) -> None:
    async def list_resources(
        request: Request,
        limit: Annotated[
            int | None, Query(description=f"Results per page (default {LIST_LIMIT_DEFAULT})")
        ] = None,
        next_cursor: Annotated[
            str | None, Query(max_length=CURSOR_MAX, description="pagination.next_cursor")
        ] = None,
        prev_cursor: Annotated[
            str | None, Query(max_length=CURSOR_MAX, description="pagination.prev_cursor")
        ] = None,
        include_total_count: Annotated[
            bool | None, Query(description="false: pagination.total is -1 (faster)")
        ] = None,
        order_by: Annotated[
            str | None, Query(description="A field, `-field` for descending")
        ] = None,
        query: Annotated[
            str | None, Query(description="A JSON query object (docs/query-language.md)")
        ] = None,
        search: Annotated[
            str | None, Query(max_length=SEARCH_MAX, description="Full-text search")
        ] = None,
    ) -> Response:
        unknown = sorted(set(request.query_params) - set(LIST_PARAMETERS))
        if unknown:
            raise Refused(
                ErrorCode.VALIDATION_ERROR,
                f"unknown query parameter: {unknown[0]} (known: {', '.join(LIST_PARAMETERS)})",
                ["query", unknown[0]],
            )
        given = {
            "limit": limit,
            "next_cursor": next_cursor,
            "prev_cursor": prev_cursor,
            "include_total_count": include_total_count,
            "order_by": order_by,
            "query": query,  # as text: the query service parses it and names what is wrong
            "search": search,
        }
        body = json.dumps({k: v for k, v in given.items() if v is not None}).encode()
        reply = await bus.list(resource, body, caller_headers(request))
        return json_response(reply.status, reply.body)

    name = path.strip("/")
    routes.add_api_route(
        path,
        list_resources,
        methods=["GET"],
        tags=[name],
        summary=f"List {name}",
        description="One page; follow `pagination.next_cursor` (and `prev_cursor`) for the others.",
        operation_id=f"list_{name}",
        response_model=LIST_REPLY_MODELS[resource],
        responses=_errors(401, 404, 422, 503, 504),
        openapi_extra={"parameters": [_entity_header()]},
    )


def _entity_header() -> dict[str, Any]:
    return {
        "name": Header.ENTITY_ID.value,
        "in": "header",
        "required": False,
        "description": "The entity to act on; default: the first entity your key may act on",
        "schema": {"type": "string", "pattern": ENTITY_ID_PATTERN},
    }


def _idempotency_header() -> dict[str, Any]:
    return {
        "name": IDEMPOTENCY_KEY,
        "in": "header",
        "required": False,
        "description": "The command's message_id: the same key again returns the same"
        " resource; with another body it is 409 idempotency_conflict",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    }
