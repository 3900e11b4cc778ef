"""``invoicebus``: the command-line client (and the one-command launcher, ``invoicebus run``).

A thin typer layer over ``client.InvoicebusClient``: options become a command body, the reply
becomes JSON on stdout. Exit codes: 0 success; 1 the service refused the request (4xx) or the
input is invalid; 2 no reply in time, the broker is unreachable, or a usage error; 3 the
service failed (5xx).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel

from invoicebus_client import DEFAULT_TIMEOUT, ClientError, ErrorReply, InvoicebusClient
from invoicebus_contracts import (
    CreateCustomer,
    CreateEntity,
    CreateItem,
    CreateTax,
    ListRequest,
    Resource,
)
from invoicebus_contracts.errors import ErrorCode, ErrorDetail, error_body
from invoicebus_contracts.fields import decimal_to_json
from invoicebus_contracts.wire import InvalidMessage, decode_json, parse

from .settings import Settings

T = TypeVar("T")

EXIT_REFUSED = 1
EXIT_UNAVAILABLE = 2
EXIT_SERVER_ERROR = 3

app = typer.Typer(
    name="invoicebus",
    help="Customers and product catalog over RabbitMQ: send commands, list, tail events, "
    "manage dead letters, or run the whole system.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@dataclass
class Context:
    settings: Settings
    entity_id: str | None

    def client(self) -> InvoicebusClient:
        return InvoicebusClient(
            self.settings.amqp_url,
            self.settings.prefix,
            entity_id=self.entity_id,
            delivery_limit=self.settings.delivery_limit,
        )


@app.callback()
def main_options(
    ctx: typer.Context,
    amqp_url: Annotated[
        str | None, typer.Option(help="Broker URL (env AMQP_URL)", show_default=False)
    ] = None,
    prefix: Annotated[
        str | None,
        typer.Option(
            help="Prefix of exchange and queue names (env INVOICEBUS_PREFIX)", show_default=False
        ),
    ] = None,
    entity: Annotated[
        str | None,
        typer.Option(
            envvar="INVOICEBUS_ENTITY",
            help="Entity to act on (x-entity-id); default: the first created entity",
            show_default=False,
        ),
    ] = None,
) -> None:
    overrides: dict[str, Any] = {
        k: v for k, v in {"amqp_url": amqp_url, "prefix": prefix}.items() if v
    }
    ctx.obj = Context(Settings(**overrides), entity)


# -- output and errors -----------------------------------------------------------------------


def emit(value: Any, *, pretty: bool = True) -> None:
    print(json.dumps(value, indent=2 if pretty else None, ensure_ascii=False), flush=True)


def fail(code: int, message: str | Any) -> NoReturn:
    text = message if isinstance(message, str) else json.dumps(message, indent=2)
    print(text, file=sys.stderr, flush=True)
    raise typer.Exit(code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one client call; client errors become exit codes."""
    try:
        return asyncio.run(coro)
    except ErrorReply as exc:
        fail(EXIT_SERVER_ERROR if exc.status >= 500 else EXIT_REFUSED, exc.body)
    except ClientError as exc:
        fail(EXIT_UNAVAILABLE, f"invoicebus: {exc}")


async def using(ctx: Context, call: Callable[[InvoicebusClient], Awaitable[T]]) -> T:
    async with ctx.client() as client:
        return await call(client)


def invalid(message: str, field: str) -> NoReturn:
    body = error_body(ErrorCode.VALIDATION_ERROR, message, [ErrorDetail(loc=[field], msg=message)])
    fail(EXIT_REFUSED, body.model_dump(mode="json"))


# -- building command bodies -----------------------------------------------------------------


def decimal_option(value: str | None) -> Decimal | None:
    """A number option, kept exact: at most 15 significant digits travel as a JSON number."""
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise typer.BadParameter(f"{value!r} is not a number") from None
    if not number.is_finite() or len(number.as_tuple().digits) > 15:
        raise typer.BadParameter(f"{value!r} must be a finite number of at most 15 digits")
    return number


def parse_metadata(pairs: list[str] | None) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="--metadata")
        metadata[key] = value
    return metadata


def load_json(text: str) -> bytes:
    """``--json`` text, or ``-`` for standard input."""
    return sys.stdin.buffer.read() if text == "-" else text.encode()


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return decimal_to_json(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def command_body(
    model: type[BaseModel], raw_json: str | None, fields: dict[str, Any], *, validate: bool
) -> bytes:
    """The body to send: ``--json`` (if any) with the options laid over it, checked against
    the contract model unless ``validate`` is off (then the service is the judge)."""
    fields = {k: v for k, v in fields.items() if v not in (None, [], {})}
    raw = load_json(raw_json) if raw_json is not None else b"{}"
    if fields or raw_json is None:
        try:
            base = decode_json(raw)
        except InvalidMessage as exc:
            fail(EXIT_REFUSED, exc.body.model_dump(mode="json"))
        if not isinstance(base, dict):
            invalid("--json must be a JSON object", "body")
        if "metadata" in fields and isinstance(base.get("metadata"), dict):
            fields["metadata"] = {**base["metadata"], **fields["metadata"]}
        raw = json.dumps({**base, **fields}, default=_json_default).encode()
    if validate:
        try:
            parse(model, raw)
        except InvalidMessage as exc:
            fail(EXIT_REFUSED, exc.body.model_dump(mode="json"))
    return raw


def send_create(
    ctx: typer.Context,
    resource: Resource,
    body: bytes,
    *,
    message_id: str | None,
    wait: bool,
    reply_timeout: float,
) -> None:
    context: Context = ctx.obj
    reply = run(
        using(
            context,
            lambda c: c.create(
                resource, body, message_id=message_id, wait=wait, reply_timeout=reply_timeout
            ),
        )
    )
    if wait:
        emit(reply.body)
    else:
        print(reply.message_id, flush=True)


# Options every create command shares.
JsonOpt = Annotated[
    str | None,
    typer.Option("--json", help="The raw command body as JSON ('-' reads stdin); options win"),
]
MetadataOpt = Annotated[
    list[str] | None, typer.Option("--metadata", "-m", help="key=value, repeatable")
]
MessageIdOpt = Annotated[
    str | None,
    typer.Option(help="Idempotency key; default: a fresh UUID. Reuse one to retry safely"),
]
NoWaitOpt = Annotated[
    bool, typer.Option("--no-wait", help="Only publish (confirmed) and print the message_id")
]
TimeoutOpt = Annotated[float, typer.Option(help="Seconds to wait for the reply")]
NoValidateOpt = Annotated[
    bool, typer.Option("--no-validate", help="Send the body as is; the service validates it")
]
Text = Annotated[str | None, typer.Option(show_default=False)]


def party_fields(
    name: str | None,
    email: str | None,
    tax_number: str | None,
    address: str | None,
    address_2: str | None,
    post_code: str | None,
    city: str | None,
    state: str | None,
    country: str | None,
    country_code: str | None,
    metadata: list[str] | None,
) -> dict[str, Any]:
    return {
        "name": name,
        "email": email,
        "tax_number": tax_number,
        "address": address,
        "address_2": address_2,
        "post_code": post_code,
        "city": city,
        "state": state,
        "country": country,
        "country_code": country_code,
        "metadata": parse_metadata(metadata),
    }


# -- list ------------------------------------------------------------------------------------


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
        limit: Annotated[int | None, typer.Option(help="Page size, 1..100")] = None,
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
            emit(run(using(context, lambda c: c.list(resource, request, reply_timeout=timeout))))
            return

        async def every(client: InvoicebusClient) -> int:
            count = 0
            async for item in client.iterate_all(resource, request, reply_timeout=timeout):
                emit(item, pretty=False)
                count += 1
            return count

        run(using(context, every))

    list_resources.__doc__ = (
        f"List {resource.value} resources ({resource.list_key}): one page as a JSON document,"
        " or with --all every match as JSON lines."
    )
    return list_resources


# -- entity ----------------------------------------------------------------------------------

entity_app = typer.Typer(help="Entities: the businesses that own customers, taxes and items.")
customer_app = typer.Typer(help="Customers of the entity.")
tax_app = typer.Typer(help="Tax rates of the entity.")
item_app = typer.Typer(help="Items (the product catalog) of the entity.")
events_app = typer.Typer(help="Events published by the services.")
dlq_app = typer.Typer(help="The dead-letter queue: refused or undeliverable messages.")
for sub, name in (
    (entity_app, "entity"),
    (customer_app, "customer"),
    (tax_app, "tax"),
    (item_app, "item"),
    (events_app, "events"),
    (dlq_app, "dlq"),
):
    app.add_typer(sub, name=name, no_args_is_help=True)


def _party_create(resource: Resource, model: type[BaseModel], noun: str) -> Callable[..., None]:
    """The ``create`` command of a party (entities and customers share every field)."""

    def create(
        ctx: typer.Context,
        name: Text = None,
        email: Text = None,
        tax_number: Text = None,
        address: Text = None,
        address_2: Text = None,
        post_code: Text = None,
        city: Text = None,
        state: Text = None,
        country: Text = None,
        country_code: Text = None,
        metadata: MetadataOpt = None,
        raw_json: JsonOpt = None,
        message_id: MessageIdOpt = None,
        no_wait: NoWaitOpt = False,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        no_validate: NoValidateOpt = False,
    ) -> None:
        fields = party_fields(name, email, tax_number, address, address_2, post_code, city, state,
                              country, country_code, metadata)  # fmt: skip
        body = command_body(model, raw_json, fields, validate=not no_validate)
        send_create(ctx, resource, body, message_id=message_id, wait=not no_wait,
                    reply_timeout=timeout)  # fmt: skip

    create.__doc__ = f"Create {noun} ({resource.create_key}) and print it."
    return create


entity_app.command("create")(_party_create(Resource.ENTITY, CreateEntity, "an entity"))
customer_app.command("create")(_party_create(Resource.CUSTOMER, CreateCustomer, "a customer"))


@tax_app.command("create")
def tax_create(
    ctx: typer.Context,
    rate: Annotated[str | None, typer.Option(help="Percent, 0..100, e.g. 22 or 9.5")] = None,
    name: Text = None,
    classification: Annotated[
        str | None, typer.Option(help="Unique per entity, e.g. standard")
    ] = None,
    raw_json: JsonOpt = None,
    message_id: MessageIdOpt = None,
    no_wait: NoWaitOpt = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    no_validate: NoValidateOpt = False,
) -> None:
    """Create a tax rate (tax.create) and print it."""
    fields: dict[str, Any] = {
        "rate": decimal_option(rate),
        "name": name,
        "classification": classification,
    }
    body = command_body(CreateTax, raw_json, fields, validate=not no_validate)
    send_create(ctx, Resource.TAX, body, message_id=message_id, wait=not no_wait,
                reply_timeout=timeout)  # fmt: skip


@item_app.command("create")
def item_create(
    ctx: typer.Context,
    name: Text = None,
    price: Annotated[str | None, typer.Option(help="Net unit price")] = None,
    gross_price: Annotated[
        str | None, typer.Option(help="Gross unit price (instead of --price)")
    ] = None,
    tax_rate: Annotated[
        list[str] | None,
        typer.Option(help="Tax by rate (reused or created), repeatable"),
    ] = None,
    tax_class: Annotated[
        list[str] | None, typer.Option(help="Existing tax by classification, repeatable")
    ] = None,
    tax_id: Annotated[list[str] | None, typer.Option(help="Existing tax id, repeatable")] = None,
    unit: Text = None,
    description: Text = None,
    metadata: MetadataOpt = None,
    raw_json: JsonOpt = None,
    message_id: MessageIdOpt = None,
    no_wait: NoWaitOpt = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    no_validate: NoValidateOpt = False,
) -> None:
    """Create an item (item.create) and print it."""
    taxes: list[dict[str, Any]] = [{"rate": decimal_option(r)} for r in tax_rate or []]
    taxes += [{"classification": c} for c in tax_class or []]
    fields = {
        "name": name,
        "description": description,
        "price": decimal_option(price),
        "gross_price": decimal_option(gross_price),
        "taxes": taxes,
        "tax_ids": tax_id or [],
        "unit": unit,
        "metadata": parse_metadata(metadata),
    }
    body = command_body(CreateItem, raw_json, fields, validate=not no_validate)
    send_create(ctx, Resource.ITEM, body, message_id=message_id, wait=not no_wait,
                reply_timeout=timeout)  # fmt: skip


for sub, resource in (
    (entity_app, Resource.ENTITY),
    (customer_app, Resource.CUSTOMER),
    (tax_app, Resource.TAX),
    (item_app, Resource.ITEM),
):
    sub.command("list")(list_command(resource))


# -- events ----------------------------------------------------------------------------------


@events_app.command("tail")
def events_tail(
    ctx: typer.Context,
    binding: Annotated[
        list[str] | None,
        typer.Option(help="Routing-key pattern, e.g. customer.* (repeatable; default: #)"),
    ] = None,
) -> None:
    """Print events live, one JSON line each, until Ctrl-C."""
    context: Context = ctx.obj
    bindings = binding or ["#"]

    def ready() -> None:
        print(
            f"listening on {context.settings.topology.events_exchange}"
            f" ({', '.join(bindings)}); Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )

    async def tail(client: InvoicebusClient) -> None:
        async for event in client.tail(bindings, on_ready=ready):
            emit(event.as_dict(), pretty=False)

    try:
        run(using(context, tail))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


# -- dead letters ----------------------------------------------------------------------------


@dlq_app.command("list")
def dlq_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Show at most this many")] = 1000,
) -> None:
    """Show dead-lettered messages (one JSON line each) without removing them."""
    for letter in run(using(ctx.obj, lambda c: c.dlq_list(limit))):
        emit(letter.as_dict(), pretty=False)


@dlq_app.command("replay")
def dlq_replay(
    ctx: typer.Context,
    message_id: Annotated[
        list[str] | None, typer.Option(help="Replay this message (repeatable)")
    ] = None,
    all_messages: Annotated[bool, typer.Option("--all", help="Replay every message")] = False,
    limit: Annotated[int, typer.Option(help="Look at most at this many")] = 1000,
) -> None:
    """Republish dead letters to their original exchange and routing key, without the error
    headers; each leaves the dead-letter queue once its copy is confirmed."""
    if not message_id and not all_messages:
        fail(EXIT_UNAVAILABLE, "give --message-id ID (repeatable) or --all")
    ids = None if all_messages else message_id
    replayed = run(using(ctx.obj, lambda c: c.dlq_replay(ids, limit=limit)))
    for letter in replayed:
        emit(letter.as_dict(), pretty=False)
    print(f"replayed {len(replayed)} message(s)", file=sys.stderr)
    missing = set(ids or ()) - {letter.message_id for letter in replayed}
    if missing:
        fail(EXIT_REFUSED, f"not found in the dead-letter queue: {', '.join(sorted(missing))}")


# -- system ----------------------------------------------------------------------------------


@app.command("run")
def run_system(ctx: typer.Context) -> None:
    """Start the whole system: broker check, MongoDB (embedded unless MONGODB_URL), the
    command and query services. Stops cleanly on Ctrl-C/SIGTERM."""
    from .launcher import launch

    raise typer.Exit(launch(ctx.obj.settings))


@app.command("asyncapi")
def asyncapi(
    ctx: typer.Context,
    yaml: Annotated[bool, typer.Option("--yaml", help="YAML instead of JSON")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout")
    ] = None,
) -> None:
    """Print (or write) the AsyncAPI 3.0 document of the wire contract."""
    from .asyncapi import render

    text = render(yaml_format=yaml, prefix=ctx.obj.settings.prefix)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


def main() -> None:
    # The CLI reports connection failures itself; the AMQP libraries' own log lines would
    # only repeat them.
    for name in ("aiormq", "aio_pika"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    app()
