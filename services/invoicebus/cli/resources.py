"""``invoicebus entity|customer|tax|item create|list``: one command group per resource.

The create commands are built from the contract: their options from the command model
(``fields``), their body checked against it (``bodies``). The options every create command
shares are declared once, below.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import typer

from invoicebus_client import DEFAULT_TIMEOUT, InvoicebusClient
from invoicebus_contracts import COMMAND_MODELS, ListRequest, Resource, limits
from invoicebus_contracts.errors import ErrorCode
from invoicebus_contracts.wire import InvalidMessage, parse

from .bodies import command_body
from .context import Context
from .fields import body_fields, field_options
from .output import EXIT_REFUSED, emit, fail, invalid

#: How the CLI speaks of each resource: its group's help, and what ``create`` makes.
GROUPS: Mapping[Resource, tuple[str, str]] = {
    Resource.ENTITY: ("Entities: the businesses that own customers, taxes and items.", "an entity"),
    Resource.CUSTOMER: ("Customers of the entity.", "a customer"),
    Resource.TAX: ("Tax rates of the entity.", "a tax rate"),
    Resource.ITEM: ("Items (the product catalog) of the entity.", "an item"),
}

TimeoutOpt = Annotated[float, typer.Option(help="Seconds to wait for the reply")]


def _keyword(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)  # fmt: skip


#: The options every create command has after its fields.
SHARED_CREATE_OPTIONS = (
    _keyword("raw_json", Annotated[str | None, typer.Option(
        "--json", help="The raw command body as JSON ('-' reads stdin); options win")], None),
    _keyword("message_id", Annotated[str | None, typer.Option(
        help="Idempotency key; default: a fresh UUID. Reuse one to retry safely")], None),
    _keyword("no_wait", Annotated[bool, typer.Option(
        "--no-wait", help="Only publish (confirmed) and print the message_id")], False),
    _keyword("timeout", TimeoutOpt, DEFAULT_TIMEOUT),
    _keyword("no_validate", Annotated[bool, typer.Option(
        "--no-validate", help="Send the body as is; the service validates it")], False),
)  # fmt: skip


def create_command(resource: Resource) -> Callable[..., None]:
    model = COMMAND_MODELS[resource]
    options = field_options(model)

    def create(ctx: typer.Context, **values: Any) -> None:
        body = command_body(
            model, values["raw_json"], body_fields(options, values),
            validate=not values["no_validate"],
        )  # fmt: skip
        wait = not values["no_wait"]
        context: Context = ctx.obj
        reply = context.call(
            lambda c: c.create(resource, body, message_id=values["message_id"], wait=wait,
                               reply_timeout=values["timeout"])
        )  # fmt: skip
        if wait:
            emit(reply.body)
        else:
            print(reply.message_id, flush=True)

    ctx = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                            annotation=typer.Context)  # fmt: skip
    fields = [_keyword(option.param, option.annotation, None) for option in options]
    clash = {p.name for p in fields} & {p.name for p in SHARED_CREATE_OPTIONS}
    assert not clash, f"{model.__name__} fields clash with the CLI's own options: {clash}"
    # typer reads the options from the signature.
    create.__signature__ = inspect.Signature([ctx, *fields, *SHARED_CREATE_OPTIONS])  # type: ignore[attr-defined]
    create.__doc__ = f"Create {GROUPS[resource][1]} ({resource.create_key}) and print it."
    return create


def list_command(resource: Resource) -> Callable[..., None]:
    def list_resources(
        ctx: typer.Context,
        query: Annotated[
            str | None, typer.Option(help='Filter as JSON, e.g. \'{"name": {"startsWith": "A"}}\'')
        ] = None,
        search: Annotated[str | None, typer.Option(help="Case-insensitive text search")] = None,
        order_by: Annotated[
            str | None, typer.Option(help="field or -field; default: id (creation order)")
        ] = None,
        limit: Annotated[
            int | None, typer.Option(help=f"Page size, 1..{limits.LIST_LIMIT_MAX}")
        ] = None,
        next_cursor: Annotated[str | None, typer.Option(help="Page after this cursor")] = None,
        prev_cursor: Annotated[str | None, typer.Option(help="Page before this cursor")] = None,
        no_total: Annotated[
            bool, typer.Option("--no-total", help="Skip counting (total is -1)")
        ] = False,
        all_pages: Annotated[
            bool,
            typer.Option("--all", help="Follow next_cursor; print every resource as one JSON line"),
        ] = False,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    ) -> None:
        request: dict[str, Any] = {
            "limit": limit,
            "next_cursor": next_cursor,
            "prev_cursor": prev_cursor,
            "order_by": order_by,
            "search": search,
        }
        if query is not None:
            try:
                request["query"] = json.loads(query)
            except ValueError as exc:
                invalid(f"--query is not valid JSON: {exc}", "query")
        if no_total:
            request["include_total_count"] = False
        request = {k: v for k, v in request.items() if v is not None}
        try:
            parse(ListRequest, json.dumps(request).encode(), code=ErrorCode.INVALID_QUERY)
        except InvalidMessage as exc:
            fail(EXIT_REFUSED, exc.body.model_dump(mode="json"))
        context: Context = ctx.obj
        if not all_pages:
            emit(context.call(lambda c: c.list(resource, request, reply_timeout=timeout)))
            return

        async def every(client: InvoicebusClient) -> None:
            async for item in client.iterate_all(resource, request, reply_timeout=timeout):
                emit(item, pretty=False)

        context.call(every)

    list_resources.__doc__ = (
        f"List {resource.value} resources ({resource.list_key}): one page as a JSON document,"
        " or with --all every match as JSON lines."
    )
    return list_resources


def resource_app(resource: Resource) -> typer.Typer:
    group = typer.Typer(help=GROUPS[resource][0])
    group.command("create")(create_command(resource))
    group.command("list")(list_command(resource))
    return group
