"""Which handler serves each command (its contract model is ``COMMAND_MODELS``'s)."""

from __future__ import annotations

from collections.abc import Mapping

from invoicebus_contracts import Resource

from .catalog import create_item, create_tax
from .context import Handler
from .handlers import create_customer, create_entity

HANDLERS: Mapping[Resource, Handler] = {
    Resource.ENTITY: create_entity,
    Resource.CUSTOMER: create_customer,
    Resource.TAX: create_tax,
    Resource.ITEM: create_item,
}
