"""Text that arrives in AMQP properties and headers, and how bytes that are not UTF-8 are shown.

RabbitMQ does not check that AMQP short strings (``message_id``, ``correlation_id``,
``content_type``, ``type``, header names, routing keys...) are UTF-8, so they may hold any
bytes. The Python SDK decodes those bytes losslessly, as surrogate escapes
(``invoicebus_client.pamqp_patch``); ``is_text`` tells them apart from real text and ``shown``
writes each undecodable byte as ``\\xNN``, which is what logs, replies, events, error locations
and the dead-letter tools carry. The services refuse a command or list request with such text
(``validation_error``).
"""

from __future__ import annotations


def is_text(value: str) -> bool:
    """Whether ``value`` is UTF-8 text: no surrogate escapes of undecodable bytes."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown(value: str | bytes) -> str:
    """``value`` as UTF-8 text, each byte that is not valid UTF-8 written as ``\\xNN``."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if is_text(value):
        return value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that escapes no byte: show it, too
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")
