"""invoicebus wire contract: message models, error codes, topology names and declarations.

Depends on pydantic alone, so any Python client can build and validate messages exactly as
the services do. See the project README and the generated AsyncAPI document for the wire rules.
"""

from .commands import COMMAND_MODELS, CreateCustomer, CreateEntity, CreateItem, CreateTax, TaxRef
from .errors import Error, ErrorBody, ErrorCode, ErrorDetail, Rejected, error_body
from .queries import LIST_REPLY_MODELS, ListReply, ListRequest, Pagination
from .resources import ENTITY_ID_PATTERN, RESOURCE_MODELS, Customer, Entity, Item, Tax
from .topology import (
    CONTENT_TYPE,
    DEFAULT_DELIVERY_LIMIT,
    DEFAULT_PREFIX,
    Declarations,
    Header,
    Resource,
    Topology,
)

__all__ = [
    "COMMAND_MODELS",
    "CONTENT_TYPE",
    "DEFAULT_DELIVERY_LIMIT",
    "DEFAULT_PREFIX",
    "ENTITY_ID_PATTERN",
    "LIST_REPLY_MODELS",
    "RESOURCE_MODELS",
    "CreateCustomer",
    "CreateEntity",
    "CreateItem",
    "CreateTax",
    "Customer",
    "Declarations",
    "Entity",
    "Error",
    "ErrorBody",
    "ErrorCode",
    "ErrorDetail",
    "Header",
    "Item",
    "ListReply",
    "ListRequest",
    "Pagination",
    "Rejected",
    "Resource",
    "Tax",
    "TaxRef",
    "Topology",
    "error_body",
]
