"""``invoicebus``: the command-line client (and the one-command launcher, ``invoicebus run``).

A thin typer layer over ``invoicebus_client.InvoicebusClient``: options become a command body,
the reply becomes JSON on stdout (exit codes in ``output``). One module per command group:
``resources`` (create and list per resource, the create options derived from the contract by
``fields``), ``events``, ``dlq``, ``access`` (grants, broker permissions) and ``keys`` (API
keys), which talk to MongoDB (``database``), and ``system`` (run, asyncapi). This module lays
out the tree.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any

import typer

from invoicebus_contracts import Resource

from ..runtime import tracing
from ..settings import Settings
from . import access, dlq, events, keys, system
from .context import Context
from .resources import resource_app

app = typer.Typer(
    name="invoicebus",
    help="Customers and product catalog over RabbitMQ: send commands, list, tail events, "
    "manage dead letters, or run the whole system.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
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
            help="Entity to act on (x-entity-id); default: the first entity granted to you",
            show_default=False,
        ),
    ] = None,
) -> None:
    overrides: dict[str, Any] = {
        k: v for k, v in {"amqp_url": amqp_url, "prefix": prefix}.items() if v
    }
    ctx.obj = Context(Settings(**overrides), entity)


app.command("run")(system.run_system)
app.command("asyncapi")(system.asyncapi)
for resource in Resource:
    app.add_typer(resource_app(resource), name=resource.value, no_args_is_help=True)
app.add_typer(events.app, name="events", no_args_is_help=True)
app.add_typer(dlq.app, name="dlq", no_args_is_help=True)
app.add_typer(access.app, name="access", no_args_is_help=True)
app.add_typer(keys.app, name="keys", no_args_is_help=True)


def main() -> None:
    # The CLI reports connection failures itself; the AMQP libraries' own log lines would
    # only repeat them.
    for name in ("aiormq", "aio_pika"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    # The SDK's spans (a command's publish and the wait for its reply) start its trace, when
    # the OTEL_* variables ask for traces; stdout is for the results.
    tracing.start_from_environment("invoicebus-cli", console=sys.stderr)
    try:
        app()
    finally:
        tracing.shutdown()
