"""Which contract model and handler serve each command."""

from __future__ import annotations

from pydantic import BaseModel

from invoicebus_contracts import CreateCustomer, CreateEntity, CreateItem, CreateTax, Resource

from .catalog import create_item, create_tax
from .context import Handler
from .handlers import create_customer, create_entity

COMMANDS: dict[Resource, tuple[type[BaseModel], Handler]] = {
    Resource.ENTITY: (CreateEntity, create_entity),
    Resource.CUSTOMER: (CreateCustomer, create_customer),
    Resource.TAX: (CreateTax, create_tax),
    Resource.ITEM: (CreateItem, create_item),
}
