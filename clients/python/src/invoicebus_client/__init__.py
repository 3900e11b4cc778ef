"""invoicebus-client: an async Python SDK of the invoicebus wire contract.

Built on aio-pika, tenacity and ``invoicebus-contracts`` only. See this package's README.
"""

from .client import InvoicebusClient
from .deadletters import DeadLetter
from .errors import ClientError, ErrorReply, NoReply, Unavailable
from .events import Event
from .transport import DEFAULT_TIMEOUT, Reply
from .urls import redacted

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
