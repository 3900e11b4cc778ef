"""Which handler serves each command (its contract model is ``COMMAND_MODELS``'s)."""

from __future__ import annotations

from collections.abc import Mapping

from invoicebus_contracts import Resource

from .catalog import create_item, create_tax
from .context import Builder, Handler
from .handlers import build_customer, build_entity, create_customer, create_entity

HANDLERS: Mapping[Resource, Handler] = {
    Resource.ENTITY: create_entity,
    Resource.CUSTOMER: create_customer,
    Resource.TAX: create_tax,
    Resource.ITEM: create_item,
}

#: The commands that create exactly one record, by a pure builder: the ones written in batches
#: (``batch.py``). The others (taxes, items: lookups, rules, side effects) run one by one.
BUILDERS: Mapping[Resource, Builder] = {
    Resource.ENTITY: build_entity,
    Resource.CUSTOMER: build_customer,
}
