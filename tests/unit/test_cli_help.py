"""The CLI's help: every command and option described, no type placeholders, and help that
loads neither pydantic nor aio-pika where it does not need them (the start-up cost)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from typer.core import TyperArgument, TyperGroup, TyperOption
from typer.main import get_command
from typer.testing import CliRunner

from invoicebus.cli import app
from invoicebus.cli.output import one_line

PLACEHOLDER = re.compile(r"<(str|bool|int|float|file|path|list\[[a-z]+\])>")


def commands() -> Iterator[tuple[list[str], Any]]:
    """Every command of the tree, with its path of names; groups are loaded as they are met."""
    root = get_command(app)
    stack: list[tuple[list[str], Any]] = [([], root)]
    while stack:
        path, command = stack.pop()
        yield path, command
        if isinstance(command, TyperGroup):
            ctx = command.make_context("invoicebus", [], resilient_parsing=True)
            for name in command.list_commands(ctx):
                stack.append(([*path, name], command.get_command(ctx, name)))


EVERY_COMMAND = sorted(" ".join(path) for path, _ in commands())


def test_the_tree_has_the_commands_the_readme_documents() -> None:
    expected = {
        "customer create", "customer list", "entity create", "item create", "tax list",
        "import customers", "import items", "events tail", "events replay", "dlq list",
        "dlq replay", "dlq discard", "run", "asyncapi",
    }  # fmt: skip
    assert expected <= set(EVERY_COMMAND)


def test_every_command_and_option_is_described() -> None:
    undescribed = []
    for path, command in commands():
        name = " ".join(path) or "invoicebus"
        if path and not (command.help or command.short_help):
            undescribed.append(name)
        ctx = command.make_context("invoicebus", [], resilient_parsing=True)
        for param in command.get_params(ctx):
            if isinstance(param, TyperOption | TyperArgument) and not param.help:
                undescribed.append(f"{name} {param.opts[0]}")
    assert undescribed == []


@pytest.mark.parametrize("path", EVERY_COMMAND)
def test_help_shows_no_type_placeholders(path: str) -> None:
    result = CliRunner().invoke(app, [*path.split(), "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert not PLACEHOLDER.findall(result.output), result.output


#: What no help needs: the broker library, the database driver, the settings loader.
HEAVY = {"aio_pika", "aiormq", "pymongo", "pydantic_settings", "faststream"}
#: The contract's models (pydantic models built at import).
MODELS = "invoicebus_contracts.commands"


def loaded_after(*args: str) -> set[str]:
    """The modules imported by ``invoicebus ARGS`` (run in a fresh interpreter)."""
    code = (
        "import sys\n"
        f"sys.argv = ['invoicebus', *{list(args)!r}]\n"
        "from invoicebus.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stderr.split())


def packages(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_the_root_help_loads_only_typer() -> None:
    loaded = loaded_after("--help")
    assert not packages(loaded) & {*HEAVY, "pydantic"}


@pytest.mark.parametrize("args", [["customer", "--help"], ["dlq", "--help"], ["import", "--help"]])
def test_group_help_loads_no_contract_model_and_no_broker_library(args: list[str]) -> None:
    # (typer itself loads pydantic to convert the global options' values)
    loaded = loaded_after(*args)
    assert not packages(loaded) & HEAVY
    assert MODELS not in loaded


def test_a_create_commands_help_loads_the_contract_but_not_the_broker_library() -> None:
    loaded = loaded_after("customer", "create", "--help")
    assert MODELS in loaded  # its options are the contract model's fields
    assert not packages(loaded) & HEAVY


def test_an_error_body_is_one_line_with_code_status_and_message() -> None:
    body = {"error": {"type": "invalid_request_error", "code": "tax_not_found", "message": "m"}}
    assert one_line(body) == "tax_not_found (422): m"
    newer = {"error": {"code": "payment_required", "message": "pay first"}}
    assert one_line(newer) == "payment_required: pay first"  # a code newer than this CLI
    assert one_line("not a body") == "not a body"
