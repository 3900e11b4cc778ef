"""The log format of every invoicebus process: ``INVOICEBUS_LOG_FORMAT`` (``json``: one JSON
object per line, for a log pipeline; ``text``: for people) and ``INVOICEBUS_LOG_LEVEL``.

Every line logged while a message is handled carries that message's fields
(``logcontext``: message id, correlation id, entity, routing key, outcome), whichever
library logs it. On the success path nothing is logged per message at INFO: FastStream's
``Received``/``Processed`` lines are DEBUG (``runtime/broker.py``), and the services log a
message at INFO or above only when it is refused, handed back or fails.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

from .. import logcontext
from . import tracing

LogFormat = Literal["json", "text"]
TEXT = "%(asctime)s %(levelname)s %(name)s %(message)s"
#: Libraries whose DEBUG lines are about frames and driver internals, not messages: they log
#: INFO and above even at DEBUG.
CHATTY = ("aiormq", "aio_pika", "pamqp", "pymongo", "uvicorn", "asyncio")


class MessageFieldsFilter(logging.Filter):
    """Adds the fields of the message being handled to each record (as attributes), and when
    tracing is on the ids of the current trace and span (``trace_id``, ``span_id``), to go
    from a log line to its trace."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in logcontext.current().items():
            setattr(record, name, value)
        if tracing.provider() is not None:
            for name, value in tracing.current_ids().items():
                setattr(record, name, value)
        return True


class TextFormatter(logging.Formatter):
    """The text line, then the message's fields as ``name=value``."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [
            f"{name}={value}"
            for name in logcontext.FIELDS
            if (value := getattr(record, name, None)) is not None
        ]
        if not fields:
            return line
        head, newline, rest = line.partition("\n")  # a traceback follows the first line
        return f"{head} [{' '.join(fields)}]{newline}{rest}"


def formatter(log_format: LogFormat) -> logging.Formatter:
    if log_format == "text":
        return TextFormatter(TEXT)
    # time (ISO 8601, UTC), level, logger and message first; then every field the record
    # carries (the message's, FastStream's queue and exchange), and exc_info if any.
    return JsonFormatter(
        "{levelname}{name}{message}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
    )


def configure_logging(log_format: LogFormat = "text", level: str = "INFO") -> None:
    """Log to stderr in ``log_format`` from ``level`` up (replacing any earlier setup)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(MessageFieldsFilter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    floor = max(logging.getLevelName(level), logging.INFO)
    for name in CHATTY:
        logging.getLogger(name).setLevel(floor)
