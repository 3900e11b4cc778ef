"""The RabbitMQ permissions of a principal (broker_permissions.py), checked the way RabbitMQ
matches them: a regular expression searched in the resource name or binding key."""

from __future__ import annotations

import json
import re
import shlex

from invoicebus.broker_permissions import definitions, permissions, rabbitmqctl_lines
from invoicebus_contracts import Topology

TOPOLOGY = Topology("acme.prod")
MINE, OTHER = "ent_" + "a" * 24, "ent_" + "b" * 24


def allows(pattern: str, name: str) -> bool:
    return re.search(pattern, name) is not None


def test_a_tenant_sends_commands_and_binds_its_own_entities_keys_only() -> None:
    perms = permissions(TOPOLOGY, [MINE], admin=False)
    for exchange in ("acme.prod.commands", "acme.prod.queries", "amq.gen-x1"):
        assert allows(perms.write, exchange)
    for forbidden in (
        "acme.prod.events",
        "acme.prod.tenant-events",
        "amq.default",
        "acmeXprod.commands",
        "acme.prod.commands2",
    ):
        assert not allows(perms.write, forbidden), forbidden
    assert allows(perms.read, "acme.prod.tenant-events")
    for forbidden in ("acme.prod.events", "acme.prod.dead-letter", "acme.prod.customer.create"):
        assert not allows(perms.read, forbidden), forbidden
    assert allows(perms.configure, "amq.gen-JzTY20BRgKO") and not allows(
        perms.configure, "acme.prod.dlx"
    )
    write, read = perms.topics["acme.prod.tenant-events"]
    assert allows(read, f"{MINE}.#") and allows(read, f"{MINE}.customer.created")
    for key in ("#", "*.customer.created", f"{OTHER}.#", MINE, f"#.{MINE}", f"{MINE}x.#"):
        assert not allows(read, key), key
    assert not allows(write, f"{MINE}.customer.created")


def test_a_principal_without_grants_binds_nothing_and_an_admin_reads_everything() -> None:
    _, read = permissions(TOPOLOGY, [], admin=False).topics["acme.prod.tenant-events"]
    assert not any(allows(read, key) for key in ("#", f"{MINE}.#", "a"))
    admin = permissions(TOPOLOGY, [], admin=True)
    for name in ("acme.prod.events", "acme.prod.dead-letter", "acme.prod.tenant-events"):
        assert allows(admin.read, name)
    assert allows(admin.topics["acme.prod.tenant-events"][1], "#")
    assert not allows(admin.write, "acme.prod.events")  # only the services publish events


def test_printed_as_rabbitmqctl_lines_and_as_definitions() -> None:
    perms = permissions(TOPOLOGY, [MINE, OTHER], admin=False)
    first, topic = rabbitmqctl_lines("alice o'neil", "/", perms)
    assert shlex.split(first) == ["rabbitmqctl", "set_permissions", "-p", "/", "alice o'neil",
                                  perms.configure, perms.write, perms.read]  # fmt: skip
    assert shlex.split(topic)[1:6] == [
        "set_topic_permissions",
        "-p",
        "/",
        "alice o'neil",
        "acme.prod.tenant-events",
    ]
    fragment = json.loads(definitions("alice", "/", perms))
    assert fragment["permissions"][0]["read"] == perms.read
    assert fragment["topic_permissions"][0]["read"] == perms.topics["acme.prod.tenant-events"][1]
