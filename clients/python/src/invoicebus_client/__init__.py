"""invoicebus-client: an async Python SDK of the invoicebus wire contract.

Built on aio-pika, tenacity and ``invoicebus-contracts`` only. See this package's README.

Importing it patches pamqp (``pamqp_patch``) before any connection can be made: a message
whose AMQP short strings are not UTF-8 must not kill the connection that receives it.
"""

from . import pamqp_patch
from .client import InvoicebusClient
from .deadletters import DeadLetter
from .errors import ClientError, ErrorReply, NoReply, Unavailable
from .events import Event
from .transport import DEFAULT_TIMEOUT, Reply
from .urls import redacted

# Importing makes no connection; any connection comes after this.
pamqp_patch.install()

__all__ = [
    "DEFAULT_TIMEOUT",
    "ClientError",
    "DeadLetter",
    "ErrorReply",
    "Event",
    "InvoicebusClient",
    "NoReply",
    "Reply",
    "Unavailable",
    "redacted",
]
