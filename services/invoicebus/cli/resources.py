"""``invoicebus entity|customer|tax|item create|list``: one command group per resource.

The create commands are built from the contract: their options from the command model
(``fields``), their body checked against it (``bodies``). The options every create command
shares are declared once, below.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from invoicebus_client.defaults import DEFAULT_TIMEOUT
from invoicebus_contracts import COMMAND_MODELS, ListRequest, Resource, limits
from invoicebus_contracts.errors import ErrorCode
from invoicebus_contracts.wire import InvalidMessage, parse

from .bodies import command_body
from .context import Context
from .fields import body_fields, field_options
from .output import EXIT_REFUSED, emit, fail, invalid, warn
from .tree import RESOURCES, resource_commands

if TYPE_CHECKING:
    from invoicebus_client import InvoicebusClient

TimeoutOpt = Annotated[float, typer.Option(help="Seconds to wait for the reply", metavar="SECONDS")]


def _keyword(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)  # fmt: skip


#: The options every create command has after its fields.
SHARED_CREATE_OPTIONS = (
    _keyword("raw_json", Annotated[str | None, typer.Option(
        "--json", metavar="JSON",
        help="The raw command body as JSON ('-' reads stdin); options win")], None),
    _keyword("message_id", Annotated[str | None, typer.Option(
        metavar="ID", help="Idempotency key; default: a fresh UUID. Reuse one to retry safely")],
        None),
    _keyword("no_wait", Annotated[bool, typer.Option(
        "--no-wait", help="Only publish (confirmed) and print the message_id")], False),
    _keyword("timeout", TimeoutOpt, DEFAULT_TIMEOUT),
    _keyword("no_validate", Annotated[bool, typer.Option(
        "--no-validate", help="Send the body as is; the service validates it")], False),
)  # fmt: skip


def create_command(name: str) -> Callable[..., None]:
    resource = Resource(name)
    model = COMMAND_MODELS[resource]
    options = field_options(model)

    def create(ctx: typer.Context, **values: Any) -> None:
        from invoicebus_client import new_message_id

        body = command_body(
            model, values["raw_json"], body_fields(options, values),
            validate=not values["no_validate"],
        )  # fmt: skip
        context: Context = ctx.obj
        message_id = values["message_id"] or new_message_id()
        queued = False

        def confirmed(_: str) -> None:
            nonlocal queued
            queued = True

        async def send(client: InvoicebusClient) -> Any:
            if not await client.consumers(resource):
                warn(
                    f"no service consumes {resource.create_key} commands now; the command"
                    " waits in its queue until one starts"
                )
            if values["no_wait"]:
                return await client.send(resource, body, message_id=message_id)
            return await client.create(
                resource, body, message_id=message_id, reply_timeout=values["timeout"],
                on_queued=confirmed,
            )  # fmt: skip

        result = context.call(send, interrupted=lambda: _interrupted(message_id, queued))
        if values["no_wait"]:
            print(result, flush=True)
        else:
            emit(result)

    ctx = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                            annotation=typer.Context)  # fmt: skip
    fields = [_keyword(option.param, option.annotation, None) for option in options]
    clash = {p.name for p in fields} & {p.name for p in SHARED_CREATE_OPTIONS}
    assert not clash, f"{model.__name__} fields clash with the CLI's own options: {clash}"
    # typer reads the options from the signature.
    create.__signature__ = inspect.Signature([ctx, *fields, *SHARED_CREATE_OPTIONS])  # type: ignore[attr-defined]
    create.__doc__ = resource_commands(resource)["create"].summary
    return create


def _interrupted(message_id: str, queued: bool) -> str:
    retry = f"run the same command again with --message-id {message_id}"
    if queued:
        return (
            f"interrupted: the command {message_id} is queued and will still be processed;"
            f" to see its result or retry safely, {retry}"
        )
    return (
        f"interrupted before the broker confirmed the command {message_id}: it may not be"
        f" queued; to create it exactly once, {retry}"
    )


def list_command(name: str) -> Callable[..., None]:
    resource = Resource(name)

    def list_resources(
        ctx: typer.Context,
        query: Annotated[
            str | None,
            typer.Option(
                metavar="JSON", help='Filter as JSON, e.g. \'{"name": {"startsWith": "A"}}\''
            ),
        ] = None,
        search: Annotated[
            str | None, typer.Option(metavar="TEXT", help="Case-insensitive text search")
        ] = None,
        order_by: Annotated[
            str | None,
            typer.Option(metavar="FIELD", help="field or -field; default: id (creation order)"),
        ] = None,
        limit: Annotated[
            int | None, typer.Option(metavar="N", help=f"Page size, 1..{limits.LIST_LIMIT_MAX}")
        ] = None,
        next_cursor: Annotated[
            str | None, typer.Option(metavar="CURSOR", help="Page after this cursor")
        ] = None,
        prev_cursor: Annotated[
            str | None, typer.Option(metavar="CURSOR", help="Page before this cursor")
        ] = None,
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
        f"List {RESOURCES[resource].many} ({resource.list_key}): one page as a JSON document,"
        " or with --all every match as JSON lines."
    )
    return list_resources
