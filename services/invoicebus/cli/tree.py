"""The command tree of ``invoicebus``: every group and command, the module it lives in, and the
one-line summary a parent's help lists. How it is loaded is ``lazy``'s; this module (which
also makes the groups whose commands are built from the contract) imports neither pydantic
nor the SDK, so ``invoicebus --help`` and ``invoicebus customer --help`` stay fast."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import typer

from invoicebus_contracts import Resource

from . import lazy
from .lazy import Lazy


@dataclass(frozen=True)
class Words:
    """How the CLI speaks of a resource."""

    group: str  # the help of its command group
    one: str  # what ``create`` makes: "a customer"
    many: str  # its plural, the ``import`` command's name: "customers"


RESOURCES: Mapping[Resource, Words] = {
    Resource.ENTITY: Words(
        "Entities: the businesses that own customers, taxes and items.", "an entity", "entities"
    ),
    Resource.CUSTOMER: Words("Customers of the entity.", "a customer", "customers"),
    Resource.TAX: Words("Tax rates of the entity.", "a tax rate", "taxes"),
    Resource.ITEM: Words("Items (the product catalog) of the entity.", "an item", "items"),
}


def resource_commands(resource: Resource) -> dict[str, Lazy]:
    words = RESOURCES[resource]
    return {
        "create": Lazy(
            "resources:create_command",
            f"Create {words.one} ({resource.create_key}) and print it.",
            resource.value,
            factory=True,
        ),
        "list": Lazy(
            "resources:list_command",
            f"List {words.many} ({resource.list_key}): a page, or every one with --all.",
            resource.value,
            factory=True,
        ),
    }


def import_commands() -> dict[str, Lazy]:
    return {
        RESOURCES[resource].many: Lazy(
            "importing:import_command",
            f"Create {RESOURCES[resource].many} from a CSV or JSON-lines file.",
            resource.value,
            factory=True,
        )
        for resource in Resource
    }


def group(help: str, commands: Mapping[str, Lazy]) -> typer.Typer:
    """A group of lazily loaded commands."""
    made = lazy.app(help=help, lazy=commands)

    @made.callback()
    def _group() -> None:  # a callback makes typer build a group even with no command yet
        pass

    return made


def resource_group(name: str) -> typer.Typer:
    resource = Resource(name)
    return group(RESOURCES[resource].group, resource_commands(resource))


IMPORT_SUMMARY = "Create many resources from a file, with progress; safe to run again."


def import_group() -> typer.Typer:
    return group(
        f"{IMPORT_SUMMARY} Rows already created (by an earlier, interrupted run over the same"
        " file) are not created twice.",
        import_commands(),
    )


ROOT: Mapping[str, Lazy] = {
    **{
        r.value: Lazy("tree:resource_group", RESOURCES[r].group, r.value, factory=True)
        for r in Resource
    },
    "import": Lazy("tree:import_group", IMPORT_SUMMARY, factory=True),
    "events": Lazy("events:app", "Events: tail them live, or replay stored ones into a queue."),
    "dlq": Lazy("dlq:app", "The dead-letter queue: list, replay or discard refused messages."),
    "access": Lazy("access:app", "Grants: which principal (broker user) may act on which entity."),
    "keys": Lazy("keys:app", "API keys for the HTTP gateway (stored as hashes only)."),
    "run": Lazy("system:run_system", "Run the whole system (what make run starts)."),
    "asyncapi": Lazy("system:asyncapi", "Print the AsyncAPI 3.0 document of the wire contract."),
    "openapi": Lazy("system:openapi", "Print the OpenAPI 3.1 document of the HTTP gateway."),
}
