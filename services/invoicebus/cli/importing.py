"""``invoicebus import customers|items|... FILE``: create many resources from a file.

Rows (``rows``) are checked against the contract locally, then sent as create commands over
one connection with up to ``--window`` in flight: each is published with a confirm and its
reply awaited (direct reply-to, matched by correlation id), so the broker and the service work
on the next while one is answered. Each command's ``message_id`` comes from the file's hash
and the row's line, so running the import again (after a crash, Ctrl-C, or a lost broker)
creates nothing twice: rows already created are answered with their original resource.

Refused rows (locally, or by the service) go to a report file, one JSON line each with the line
number and the error. A progress bar (rate, ETA) runs on stderr; a summary ends it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from invoicebus_client.defaults import DEFAULT_TIMEOUT
from invoicebus_contracts import COMMAND_MODELS, Resource

from .context import Context
from .fields import field_options
from .output import EXIT_INTERRUPTED, EXIT_REFUSED, EXIT_UNAVAILABLE, note, warn
from .rows import Format, Row, count, detect, file_hash, message_id, read
from .tree import RESOURCES

if TYPE_CHECKING:
    from invoicebus_client import InvoicebusClient

#: Commands in flight at once by default: enough to keep the service's consumers busy.
DEFAULT_WINDOW = 128


@dataclass
class Tally:
    """What an import did so far; the summary reads it, however the import ended."""

    total: int
    accepted: int = 0
    refused: int = 0
    started: float = field(default_factory=time.monotonic)
    report: IO[str] | None = None
    #: Whether it reached the broker: a failure before says so in its one line, no summary.
    connected: bool = False

    @property
    def done(self) -> int:
        return self.accepted + self.refused

    def summary(self, path: Path, report_path: Path) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        text = (
            f"{path.name}: {self.done} of {self.total} row(s) in {elapsed:.1f}s ({rate:.1f}/s):"
            f" {self.accepted} created (now or by an earlier run), {self.refused} refused"
        )
        return text + (f" (see {report_path})" if self.refused else "")


def import_command(name: str) -> Callable[..., None]:
    resource = Resource(name)
    model = COMMAND_MODELS[resource]

    def run_import(
        ctx: typer.Context,
        file: Annotated[
            Path,
            typer.Argument(
                exists=True, dir_okay=False, metavar="FILE", help="CSV (header row) or JSON lines"
            ),
        ],
        file_format: Annotated[
            Format | None,
            typer.Option("--format", metavar="csv|jsonl", help="Default: from the file's suffix"),
        ] = None,
        report: Annotated[
            Path | None,
            typer.Option(metavar="FILE", help="Where refused rows go; default: FILE.refused.jsonl"),
        ] = None,
        window: Annotated[
            int, typer.Option(min=1, max=10_000, metavar="N", help="Commands in flight at once")
        ] = DEFAULT_WINDOW,
        timeout: Annotated[
            float, typer.Option(metavar="SECONDS", help="Seconds to wait for each reply")
        ] = DEFAULT_TIMEOUT,
    ) -> None:
        fmt = detect(file, file_format)
        options = field_options(model)
        report_path = report or file.with_name(f"{file.name}.refused.jsonl")
        rows = read(file, fmt, options)
        file_id = file_hash(file)
        tally = Tally(total=count(file, fmt))
        context: Context = ctx.obj

        async def load(client: InvoicebusClient) -> None:
            tally.connected = True
            report_path.unlink(missing_ok=True)  # a report of an earlier run would mislead
            if not await client.consumers(resource):
                warn(f"no service consumes {resource.create_key} commands now")
            with ProgressBar(RESOURCES[resource].many, tally.total) as advance:
                await _send_all(
                    client, resource, rows, file_id, window, timeout,
                    tally, lambda: _open(report_path, tally), advance,
                )  # fmt: skip

        code = 0
        try:
            context.call(load, interrupted=lambda: "interrupted; run it again to resume")
        except typer.Exit as stopped:
            code = int(stopped.exit_code or 0)
        finally:
            if tally.report is not None:
                tally.report.close()
            if tally.connected:
                note(f"imported {tally.summary(file, report_path)}")
        if code == 0 and tally.refused:
            code = EXIT_REFUSED
        if tally.connected and code in (EXIT_UNAVAILABLE, EXIT_INTERRUPTED):
            note("run the same import again to resume: rows already created are not created twice")
        raise typer.Exit(code)

    run_import.__doc__ = (
        f"Create {RESOURCES[resource].many} from FILE ({resource.create_key} per row): CSV with"
        " a header row of the create options' names (and metadata.KEY columns; ';' separates"
        " the values of a repeatable option), or JSON lines of command bodies."
    )
    return run_import


async def _send_all(
    client: InvoicebusClient,
    resource: Resource,
    rows: Any,
    file_id: str,
    window: int,
    reply_timeout: float,
    tally: Tally,
    report: Callable[[], IO[str]],
    advance: Callable[[], None],
) -> None:
    from invoicebus_client import ErrorReply
    from invoicebus_contracts.wire import InvalidMessage, parse

    model = COMMAND_MODELS[resource]
    slots = asyncio.Semaphore(window)
    failure: list[BaseException] = []

    def refuse(row: Row, status: int, error: Any) -> None:
        tally.refused += 1
        inner = error.get("error", error) if isinstance(error, dict) else error
        line = {"line": row.line, "message_id": message_id(file_id, row.line), "status": status}
        report().write(json.dumps({**line, "error": inner}, ensure_ascii=False) + "\n")
        advance()

    async def send(row: Row, body: bytes) -> None:
        try:
            await client.create(
                resource,
                body,
                message_id=message_id(file_id, row.line),
                reply_timeout=reply_timeout,
            )
            tally.accepted += 1
            advance()
        except ErrorReply as exc:
            refuse(row, exc.status, exc.raw)
        except Exception as exc:  # the broker is gone, no reply...: stop sending
            failure.append(exc)
        finally:
            slots.release()

    tasks: set[asyncio.Task[None]] = set()
    try:
        for row in rows:
            if failure:
                break
            if row.body is None:
                refuse(row, 422, _problem(row.problem or "unreadable row"))
                continue
            try:
                parse(model, row.body)
            except InvalidMessage as exc:
                refuse(row, exc.body.status, exc.body.model_dump(mode="json"))
                continue
            await slots.acquire()
            task = asyncio.create_task(send(row, row.body))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    if failure:
        raise failure[0]


def _problem(message: str) -> dict[str, Any]:
    from invoicebus_contracts import ErrorCode, ErrorDetail, error_body

    return error_body(
        ErrorCode.VALIDATION_ERROR, message, [ErrorDetail(loc=["body"], msg=message)]
    ).model_dump(mode="json")


def _open(path: Path, tally: Tally) -> IO[str]:
    if tally.report is None:
        tally.report = path.open("w", encoding="utf-8")
    return tally.report


class ProgressBar:
    """A rich progress bar on stderr: done of total, rate, elapsed and ETA. The rate is
    computed when the bar is drawn (ten times a second), not for every row."""

    def __init__(self, what: str, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            Task,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task: Task) -> Text:
                return Text("" if task.speed is None else f"{task.speed:.1f}/s")

        self.progress = Progress(
            TextColumn(f"importing {what}"),
            BarColumn(),
            MofNCompleteColumn(),
            Rate(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.task = self.progress.add_task(what, total=total)

    def __enter__(self) -> Callable[[], None]:
        self.progress.start()
        return self.advance

    def advance(self) -> None:
        self.progress.advance(self.task)

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
