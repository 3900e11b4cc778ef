"""What the harness sends: ``customer.create`` commands with a full body, and the list requests.

Bodies are made (and checked against the contract models) before the clock starts, so the
harness spends no time on them while it measures.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from invoicebus_contracts import CreateCustomer, ListRequest, Resource

from .bus import TAG, Timing
from .context import Context, expect
from .systems import System

Call = Callable[[int], Awaitable[Timing]]

CITIES = (
    "Ljubljana", "Maribor", "Celje", "Kranj", "Koper", "Novo mesto", "Velenje", "Ptuj",
    "Nova Gorica", "Murska Sobota",
)  # fmt: skip
#: Matches one customer in ten (its city), through the search over every text field.
SEARCH = "maribor"

#: The list requests measured, by name.
LIST_REQUESTS: dict[str, ListRequest] = {
    "with total count": ListRequest(limit=10),
    "without count": ListRequest(limit=10, include_total_count=False),
    "search (and count)": ListRequest(limit=10, search=SEARCH),
}


def customer_body(tag: str, i: int) -> bytes:
    """A ``customer.create`` body of about 200 bytes, every field set; ``tag`` comes back in
    the ``created`` event's ``metadata``."""
    body = {
        "name": f"Customer {i:05d}",
        "email": f"customer{i:05d}@example.com",
        "address": f"Dunajska cesta {i % 400 + 1}",
        "post_code": "1000",
        "city": CITIES[i % len(CITIES)],
        "country": "Slovenia",
        "country_code": "SI",
        "tax_number": f"SI{10_000_000 + i}",
        "metadata": {TAG: tag},
    }
    CreateCustomer.model_validate(body)
    return json.dumps(body).encode()


def creating(ctx: Context, system: System, entity_id: str, phase: str, n: int) -> Call:
    """``call(i)``: the i-th of ``n`` ``customer.create`` commands of ``phase``, done once its
    ``customer.created`` event (and, from a system that replies, its 201 reply) arrived."""
    tags = [f"{ctx.run_id}-{phase}-{i}" for i in range(n)]
    bodies = [customer_body(tag, i) for i, tag in enumerate(tags)]

    async def call(i: int) -> Timing:
        timing, reply = await ctx.bus.call(
            ctx.topology.commands_exchange,
            Resource.CUSTOMER.create_key,
            bodies[i],
            entity_id=entity_id,
            event_tag=tags[i],
            await_reply=system.replies,
            keyed=system.keyed,
        )
        if system.replies:
            expect(reply, 201, f"{system.key} customer.create")
        return timing

    return call


def listing(ctx: Context, system: System, entity_id: str, request: ListRequest) -> Call:
    """``call(i)``: one ``customer.list`` request, done when its 200 reply arrived."""
    body = request.model_dump_json(exclude_unset=True).encode()

    async def call(i: int) -> Timing:
        timing, reply = await ctx.bus.call(
            ctx.topology.queries_exchange, Resource.CUSTOMER.list_key, body, entity_id=entity_id
        )
        expect(reply, 200, f"{system.key} customer.list {body!r}")
        return timing

    return call
