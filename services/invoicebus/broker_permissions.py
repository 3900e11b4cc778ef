"""The RabbitMQ permissions of a principal's broker user, derived from the topology and its
grants (pure; ``invoicebus access broker-permissions`` prints them).

What they allow, and why each part is there:

- configure and read/write on server-named queues (``amq.gen-…``): the private, exclusive
  queue a subscriber declares and binds (clients may not name a queue ``amq.…`` themselves,
  and an exclusive queue refuses every other connection);
- write on the commands and queries exchanges: sending commands and list requests. Replies
  come back by direct reply-to, which needs no permission;
- read on the tenant events exchange, with a topic permission whose read pattern admits only
  binding keys that start with one of the principal's entities (``ent_….``): RabbitMQ checks
  it on every ``queue.bind``, so ``#`` or another tenant's id is refused;
- nothing else: no write on either events exchange (only the services publish events), no
  read on the internal events exchange or the dead-letter queue, no configure on the topology
  (the services declare it), and never the ``impersonator`` tag (it would let the user set
  another ``user_id``).

An admin (``INVOICEBUS_ADMINS``) may also read the internal events exchange and the dead-letter
queue (``invoicebus events tail``, ``invoicebus dlq``) and bind any key on the tenant events.
The services' own user needs full permissions on the prefix (it declares the topology).
Grants change in MongoDB at once; the broker's copy changes only when these are set again.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from invoicebus_contracts import Topology

SERVER_NAMED_QUEUES = r"amq\.gen-.*"
#: Matches no binding key a subscriber would use ("" alone, which nothing is published with).
NOTHING = "^$"


@dataclass(frozen=True)
class Permissions:
    configure: str
    write: str
    read: str
    #: exchange -> (write, read) topic permission patterns.
    topics: dict[str, tuple[str, str]]


def _either(*patterns: str) -> str:
    return "^(" + "|".join(patterns) + ")$"


def permissions(topology: Topology, entity_ids: Iterable[str], *, admin: bool) -> Permissions:
    """The permissions of a principal granted ``entity_ids`` (or of an admin)."""
    name = re.escape
    readable = [SERVER_NAMED_QUEUES, name(topology.tenant_events_exchange)]
    if admin:
        readable += [name(topology.events_exchange), name(topology.dead_letter_queue)]
        own_keys = ".*"
    else:
        ids = sorted(set(entity_ids))
        own_keys = "^(" + "|".join(map(name, ids)) + r")\." if ids else NOTHING
    writable = [SERVER_NAMED_QUEUES, name(topology.commands_exchange)]
    writable.append(name(topology.queries_exchange))
    return Permissions(
        configure=f"^{SERVER_NAMED_QUEUES}$",
        write=_either(*writable),
        read=_either(*readable),
        topics={topology.tenant_events_exchange: (NOTHING, own_keys)},
    )


def rabbitmqctl_lines(user: str, vhost: str, perms: Permissions) -> list[str]:
    q = shlex.quote
    lines = [
        f"rabbitmqctl set_permissions -p {q(vhost)} {q(user)}"
        f" {q(perms.configure)} {q(perms.write)} {q(perms.read)}"
    ]
    for exchange, (write, read) in perms.topics.items():
        lines.append(
            f"rabbitmqctl set_topic_permissions -p {q(vhost)} {q(user)} {q(exchange)}"
            f" {q(write)} {q(read)}"
        )
    return lines


def definitions(user: str, vhost: str, perms: Permissions) -> str:
    """The same as a fragment of RabbitMQ's definitions JSON (``rabbitmqctl
    import_definitions``, or the management API)."""
    fragment = {
        "permissions": [
            {
                "user": user,
                "vhost": vhost,
                "configure": perms.configure,
                "write": perms.write,
                "read": perms.read,
            }
        ],
        "topic_permissions": [
            {"user": user, "vhost": vhost, "exchange": exchange, "write": write, "read": read}
            for exchange, (write, read) in perms.topics.items()
        ],
    }
    return json.dumps(fragment, indent=2)
