"""invoicebus-client: an async, typed Python SDK of the invoicebus wire contract.

Built on aio-pika, tenacity and ``invoicebus-contracts`` only. The API reference is
``docs/sdk.md`` in the repository.

Names are loaded on first use (PEP 562), so importing the package (or ``defaults``) does not
load aio-pika until the client itself is needed. Type checkers see ordinary imports.

Importing it patches pamqp (``pamqp_patch``) before any connection can be made: a message
whose AMQP short strings are not UTF-8 must not kill the connection that receives it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoicebus_contracts.lazy import lazy_names

from . import pamqp_patch

if TYPE_CHECKING:
    from .base import Body, encode_body, new_message_id
    from .client import AnyResource, InvoicebusClient
    from .deadletters import DeadLetter
    from .defaults import DEFAULT_TIMEOUT
    from .dlq import DeadLetterFilter, DlqReplay, Kept
    from .errors import BrokerRefused, ClientError, ErrorReply, NoReply, Unavailable
    from .events import Event
    from .urls import redacted

#: Where each public name lives (a unit test checks it against the imports above and
#: ``__all__``); ``invoicebus_contracts.lazy`` loads them.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "base": ("Body", "encode_body", "new_message_id"),
    "client": ("AnyResource", "InvoicebusClient"),
    "deadletters": ("DeadLetter",),
    "defaults": ("DEFAULT_TIMEOUT",),
    "dlq": ("DeadLetterFilter", "DlqReplay", "Kept"),
    "errors": ("BrokerRefused", "ClientError", "ErrorReply", "NoReply", "Unavailable"),
    "events": ("Event",),
    "urls": ("redacted",),
}
if not TYPE_CHECKING:  # type checkers see the imports above, and no catch-all __getattr__
    __getattr__, __dir__ = lazy_names(globals(), _EXPORTS)

# Importing makes no connection; any connection comes after this.
pamqp_patch.install()

__all__ = [
    "DEFAULT_TIMEOUT",
    "AnyResource",
    "Body",
    "BrokerRefused",
    "ClientError",
    "DeadLetter",
    "DeadLetterFilter",
    "DlqReplay",
    "ErrorReply",
    "Event",
    "InvoicebusClient",
    "Kept",
    "NoReply",
    "Unavailable",
    "encode_body",
    "new_message_id",
    "redacted",
]
