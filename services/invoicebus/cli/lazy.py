"""The CLI's command tree, loaded as it is used, and its help made readable.

A command group lists its commands from a table (``tree``) and imports a command's module only
when that command runs or shows its own help: ``invoicebus --help`` then needs neither
pydantic nor aio-pika, and ``invoicebus dlq list`` does not build the create commands from
the contract models. Listing commands in a group's help uses each entry's one-line summary
from the table, so it imports nothing either.

Every option shows a plain metavar (``TEXT``, ``INTEGER``...) and a flag none, instead of
typer's ``<str>`` and ``<bool>``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.main import get_command

#: Type names (typer's ``bare_type()``) and how help shows them.
METAVARS = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "bool": "BOOLEAN", "Path": "PATH"}


@dataclass(frozen=True)
class Lazy:
    """A command or group, loaded on first use: ``module:attribute`` in ``invoicebus.cli``,
    a ``typer.Typer`` (a group) or a command function, or a ``factory`` that makes one (called
    with ``argument`` when given)."""

    target: str
    summary: str
    argument: str | None = None
    factory: bool = False

    def load(self, name: str) -> Any:
        module, _, attribute = self.target.partition(":")
        found = getattr(importlib.import_module(f"{__package__}.{module}"), attribute)
        if self.factory:
            found = found() if self.argument is None else found(self.argument)
        if isinstance(found, typer.Typer):
            command = get_command(found)
        elif callable(found) and not isinstance(found, TyperCommand | TyperGroup):
            single = app(help=None)
            command_of(single, name)(found)
            command = get_command(single)
        else:
            command = found
        command.name = name
        command.short_help = command.short_help or self.summary
        return command


def _readable(params: list[Any]) -> list[Any]:
    for param in params:
        if isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = "" if param.is_flag else _metavar(param)
        elif isinstance(param, TyperArgument):
            # Its name (FILE) says what it is; typer would add ``<file>``.
            param.display_type_rich = _no_type  # type: ignore[method-assign]
    return params


def _no_type(ctx: Any) -> None:
    return None


def _metavar(option: TyperOption) -> str:
    name = option.bare_type()
    many = name.startswith("list[")
    name = name.removeprefix("list[").removesuffix("]")
    label = METAVARS.get(name, name.upper())
    return f"{label}..." if many else label


class Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _readable(super().get_params(ctx))


class Group(TyperGroup):
    """A group whose commands may be ``Lazy``: see the module."""

    lazy: Mapping[str, Lazy] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listing = False

    def get_params(self, ctx: Any) -> list[Any]:
        return _readable(super().get_params(ctx))

    def list_commands(self, ctx: Any) -> list[str]:
        loaded = super().list_commands(ctx)
        return [*loaded, *(name for name in self.lazy if name not in loaded)]

    def get_command(self, ctx: Any, name: str) -> Any:
        command = super().get_command(ctx, name)
        if command is not None or name not in self.lazy:
            return command
        entry = self.lazy[name]
        if self._listing:  # a help listing needs only the name and the summary
            return TyperCommand(name, help=entry.summary)
        command = entry.load(name)
        self.add_command(command, name)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def lazy_group(entries: Mapping[str, Lazy]) -> type[Group]:
    """A ``Group`` class whose commands are ``entries``."""
    return type("LazyGroup", (Group,), {"lazy": dict(entries)})


def app(*, help: str | None, lazy: Mapping[str, Lazy] | None = None, **options: Any) -> typer.Typer:
    """A typer app as every group of the CLI is made: readable help, no completion."""
    return typer.Typer(
        help=help,
        cls=lazy_group(lazy or {}),
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        **options,
    )


def command_of(group: typer.Typer, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``@command_of(app, "list")``: a command of ``group`` with readable help."""
    return group.command(name, cls=Command)
