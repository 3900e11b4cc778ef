"""Resource and event ids: ``<prefix>_<24 lowercase hex>``.

The hex part is a BSON ObjectId (4-byte timestamp, random, counter), so ids sort in creation
order: the default ``id`` ordering of lists relies on it.
"""

from __future__ import annotations

from bson import ObjectId

from invoicebus_contracts import Resource

EVENT_PREFIX = "evt"


def new_id(resource: Resource) -> str:
    return f"{resource.id_prefix}_{ObjectId()}"


def new_event_id() -> str:
    return f"{EVENT_PREFIX}_{ObjectId()}"
