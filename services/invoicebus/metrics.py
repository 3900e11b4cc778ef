"""The services' own Prometheus series: the failures that are handled, so none goes unseen, and
the outbox's backlog.

FastStream's middleware counts messages per queue and how they were settled; these add why.
Each service has a registry of its own, which its ``/metrics`` serves next to its broker's
(``runtime/broker.py``), so a service shows only its own series: ``COMMAND_SERVICE``,
``QUERY_SERVICE``, and ``RUNTIME`` for what every service's runtime counts alike.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: Series of the command service.
COMMAND_SERVICE = CollectorRegistry(auto_describe=True)
#: Series of the query service.
QUERY_SERVICE = CollectorRegistry(auto_describe=True)
#: Series of the HTTP gateway.
GATEWAY = CollectorRegistry(auto_describe=True)
#: Series of the runtime every service runs (``runtime/``); each serves them.
RUNTIME = CollectorRegistry(auto_describe=True)

# -- the command service ---------------------------------------------------------------------

SETTLED_COMMANDS = Counter(
    "invoicebus_commands",
    "Commands settled, by command and result (created, refused with an error code).",
    ["command", "result"],
    registry=COMMAND_SERVICE,
)
COMMAND_BATCH_SIZE = Histogram(
    "invoicebus_command_batch_size",
    "Commands per batch of the batched write path (entity.create, customer.create).",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
    registry=COMMAND_SERVICE,
)
TRANSIENT_FAILURES = Counter(
    "invoicebus_transient_failures",
    "Database or broker failures waited out with backoff, by where they happened.",
    ["stage"],
    registry=COMMAND_SERVICE,
)
REQUEUED = Counter(
    "invoicebus_requeued",
    "Messages handed back to the broker unprocessed (retry window over, shutdown, lost"
    " channel); each counts against the queue's delivery limit.",
    ["queue", "reason"],
    registry=COMMAND_SERVICE,
)
RELAYED_EVENTS = Counter(
    "invoicebus_outbox_relayed_events",
    "Events the outbox relay published because the command that stored them did not.",
    registry=COMMAND_SERVICE,
)
OUTBOX_PENDING = Gauge(
    "invoicebus_outbox_pending_events",
    "Stored events not yet published, by resource, as the outbox relay saw them on its last"
    " pass (every replica sees the same database).",
    ["resource"],
    registry=COMMAND_SERVICE,
)
OUTBOX_OLDEST_PENDING_AGE = Gauge(
    "invoicebus_outbox_oldest_pending_age_seconds",
    "Age of the oldest stored event not yet published, by resource, on the relay's last pass;"
    " 0 when none is pending.",
    ["resource"],
    registry=COMMAND_SERVICE,
)

# -- the query service -----------------------------------------------------------------------

LIST_REQUESTS = Counter(
    "invoicebus_list_requests",
    "List requests answered, by request and result (ok, or the error code of the refusal).",
    ["request", "result"],
    registry=QUERY_SERVICE,
)
QUERY_TIMEOUTS = Counter(
    "invoicebus_query_timeouts",
    "List requests answered query_timeout, by request and where their time went (waiting for"
    " a slot, or in the database).",
    ["request", "stage"],
    registry=QUERY_SERVICE,
)

# -- the HTTP gateway -----------------------------------------------------------------------

GATEWAY_REQUESTS = Counter(
    "invoicebus_gateway_requests",
    "HTTP requests answered, by method, route (its template, /customers) and status.",
    ["method", "route", "status"],
    registry=GATEWAY,
)
GATEWAY_LATENCY = Histogram(
    "invoicebus_gateway_request_duration_seconds",
    "Seconds from an HTTP request's arrival to its response, by method and route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=GATEWAY,
)
GATEWAY_BUS_FAILURES = Counter(
    "invoicebus_gateway_bus_failures",
    "Requests the gateway answered itself because the bus did not: the broker unreachable"
    " (service_unavailable) or no reply in time (gateway_timeout), by routing key.",
    ["request", "code"],
    registry=GATEWAY,
)

# -- every service's runtime -----------------------------------------------------------------

CONSUMER_RESTARTS = Counter(
    "invoicebus_consumer_restarts",
    "Subscribers the watchdog restarted after finding their consumer gone.",
    ["queue"],
    registry=RUNTIME,
)
UNDELIVERABLE_REPLIES = Counter(
    "invoicebus_undeliverable_replies",
    "Replies the broker refused or that could not be sent in time (the reply_to queue is full,"
    " or refuses publishes); the request was settled all the same. A runtime series: both"
    " services answer requests.",
    ["request"],
    registry=RUNTIME,
)
