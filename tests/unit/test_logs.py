"""The log format: JSON lines (or text) carrying the fields of the message being handled, set
by the consumers through ``logcontext``; INVOICEBUS_LOG_FORMAT and INVOICEBUS_LOG_LEVEL."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from invoicebus import logcontext
from invoicebus.messaging import Envelope
from invoicebus.runtime import tracing
from invoicebus.runtime.logs import MessageFieldsFilter, formatter
from invoicebus.settings import Settings

ENVELOPE = Envelope(
    "customer.create",
    b"{}",
    message_id="m-\udcff",  # bytes that are not UTF-8, as the SDK decodes them
    correlation_id="c-1",
    entity_id="ent_1",
)


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through the services' JSON handler into a buffer."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter("json"))
    handler.addFilter(MessageFieldsFilter())
    logger = logging.getLogger("tests.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_about_a_message_carries_its_fields_and_outcome(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = logged
    logger.info("before")
    with logcontext.about(ENVELOPE):
        logger.info("received")
        logcontext.note(outcome="validation_error")
        logger.warning("refused %s", "it", extra={"queue": "q"})
    logger.info("after")

    before, received, refused, after = lines(out)
    assert set(before) == set(after) == {"time", "level", "logger", "message"}
    assert received | {"time": None} == {
        "time": None,
        "level": "INFO",
        "logger": "tests.logs",
        "message": "received",
        "message_id": "m-\\xff",  # shown escaped: the line is UTF-8 JSON
        "correlation_id": "c-1",
        "entity_id": "ent_1",
        "routing_key": "customer.create",
    }
    assert refused["message"] == "refused it" and refused["queue"] == "q"
    assert refused["outcome"] == "validation_error" and refused["level"] == "WARNING"
    assert received["time"].endswith("+00:00")


def test_a_traceback_stays_in_its_line(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = logged
    with logcontext.about(ENVELOPE):
        try:
            raise ZeroDivisionError("bug")
        except ZeroDivisionError:
            logger.exception("unexpected error")
    [line] = lines(out)
    assert "ZeroDivisionError: bug" in line["exc_info"] and line["message_id"] == "m-\\xff"


async def test_concurrent_messages_keep_their_own_fields(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = logged

    async def handle(message_id: str) -> None:
        with logcontext.about(Envelope("tax.create", b"{}", message_id=message_id)):
            await asyncio.sleep(0.01)
            logcontext.note(outcome=f"done-{message_id}")
            await asyncio.sleep(0.01)
            logger.info("settled %s", message_id)

    await asyncio.gather(*(handle(f"m{i}") for i in range(5)))
    assert sorted(
        (line["message"], line["message_id"], line["outcome"]) for line in lines(out)
    ) == [(f"settled m{i}", f"m{i}", f"done-m{i}") for i in range(5)]


def test_text_lines_end_with_the_messages_fields() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "requeue", None, None)
    with logcontext.about(ENVELOPE):
        MessageFieldsFilter().filter(record)
    text = formatter("text").format(record)
    assert text.endswith(
        "WARNING x requeue [message_id=m-\\xff correlation_id=c-1 entity_id=ent_1"
        " routing_key=customer.create]"
    )


def test_format_and_level_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICEBUS_LOG_FORMAT", "JSON")
    monkeypatch.setenv("INVOICEBUS_LOG_LEVEL", "debug")
    settings = Settings()
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")
    monkeypatch.setenv("INVOICEBUS_LOG_LEVEL", "loud")
    with pytest.raises(ValueError, match="log_level"):
        Settings()


def test_debug_leaves_the_drivers_at_info() -> None:
    code = (
        "import logging\n"
        "from invoicebus.runtime.logs import configure_logging\n"
        "configure_logging('json', 'DEBUG')\n"
        "logging.getLogger('invoicebus.x').debug('ours')\n"
        "logging.getLogger('aiormq.connection').debug('a frame')\n"
        "logging.getLogger('aiormq.connection').info('reconnecting')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    said = [(line["logger"], line["message"]) for line in map(json.loads, run.stderr.splitlines())]
    assert said == [("invoicebus.x", "ours"), ("aiormq.connection", "reconnecting")]
    assert run.stdout == ""


def test_while_tracing_a_line_carries_the_trace_and_span_ids(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = logged
    provider = TracerProvider()
    logger.info("untraced")
    tracing.use(provider)
    try:
        with provider.get_tracer("test").start_as_current_span("a message") as span:
            logger.info("traced")
        logger.info("outside any span")
    finally:
        tracing.use(None)
    untraced, traced, outside = lines(out)
    context = span.get_span_context()
    assert traced["trace_id"] == f"{context.trace_id:032x}"
    assert traced["span_id"] == f"{context.span_id:016x}"
    assert "trace_id" not in untraced and "trace_id" not in outside
