"""``invoicebus``: the command-line client (and the one-command launcher, ``invoicebus run``).

A thin typer layer over ``invoicebus_client.InvoicebusClient``: options become a command body,
the reply becomes JSON on stdout (exit codes in ``output``). The tree of commands is ``tree``'s
table, loaded as it is used (``lazy``): one module per command group, ``resources`` (create
and list per resource, the create options derived from the contract by ``fields``),
``importing``, ``events``, ``dlq``, ``access`` (grants, broker permissions) and ``keys`` (API
keys), which talk to MongoDB (``database``), and ``system`` (run, asyncapi). This module holds
the global options. Nothing here imports pydantic or the SDK: a command imports what it needs
when it runs.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from ..runtime import tracing
from . import output
from .context import Context
from .lazy import app as make_app
from .tree import ROOT

app = make_app(
    name="invoicebus",
    help="Customers and product catalog over RabbitMQ: send commands, list, import files, "
    "tail and replay events, manage dead letters, or run the whole system.",
    lazy=ROOT,
)


@app.callback()
def main_options(
    ctx: typer.Context,
    amqp_url: Annotated[
        str | None,
        typer.Option(
            help="Broker URL (env AMQP_URL; default amqp://guest:guest@127.0.0.1:5672/)",
            show_default=False,
            metavar="URL",
        ),
    ] = None,
    prefix: Annotated[
        str | None,
        typer.Option(
            help="Prefix of exchange and queue names (env INVOICEBUS_PREFIX; default invoicebus)",
            show_default=False,
            metavar="PREFIX",
        ),
    ] = None,
    entity: Annotated[
        str | None,
        typer.Option(
            envvar="INVOICEBUS_ENTITY",
            help="Entity to act on (x-entity-id); default: the first entity granted to you",
            show_default=False,
            metavar="ENT",
        ),
    ] = None,
    json_errors: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Errors as the contract's whole error body (a JSON line) instead of one line",
        ),
    ] = False,
) -> None:
    output.errors_as_json(json_errors)
    ctx.obj = Context(amqp_url=amqp_url, prefix=prefix, entity_id=entity)


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
