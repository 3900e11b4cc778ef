"""The service's own Prometheus counters: the failures that are handled, so none goes unseen.

FastStream's middleware counts messages per queue and how they were settled; these add why.
They live in one registry of their own, which ``/metrics`` serves next to the broker's.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

REGISTRY = CollectorRegistry(auto_describe=True)

SETTLED_COMMANDS = Counter(
    "invoicebus_commands",
    "Commands settled, by command and result (created, refused with an error code).",
    ["command", "result"],
    registry=REGISTRY,
)
TRANSIENT_FAILURES = Counter(
    "invoicebus_transient_failures",
    "Database or broker failures waited out with backoff, by where they happened.",
    ["stage"],
    registry=REGISTRY,
)
REQUEUED = Counter(
    "invoicebus_requeued",
    "Messages handed back to the broker unprocessed (retry window over, shutdown, lost"
    " channel); each counts against the queue's delivery limit.",
    ["queue", "reason"],
    registry=REGISTRY,
)
RELAYED_EVENTS = Counter(
    "invoicebus_outbox_relayed_events",
    "Events the outbox relay published because the command that stored them did not.",
    registry=REGISTRY,
)
CONSUMER_RESTARTS = Counter(
    "invoicebus_consumer_restarts",
    "Subscribers the watchdog restarted after finding their consumer gone.",
    ["queue"],
    registry=REGISTRY,
)
