"""invoicebus wire contract: message models, error codes, topology names and declarations.

Depends on pydantic alone, so any Python client can build and validate messages exactly as
the services do. See the project README and the generated AsyncAPI document for the wire rules.

Names are loaded on first use (PEP 562): ``from invoicebus_contracts import Topology`` reads
the topology's plain data without importing pydantic, so a program that only needs names
(the CLI's ``--help``, for one) starts fast. Type checkers see ordinary imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_names

if TYPE_CHECKING:
    from .commands import (
        COMMAND_MODELS,
        CreateCustomer,
        CreateEntity,
        CreateItem,
        CreateTax,
        TaxRef,
    )
    from .errors import Error, ErrorBody, ErrorCode, ErrorDetail, Rejected, error_body
    from .queries import LIST_REPLY_MODELS, ListReply, ListRequest, Pagination
    from .replay import REPLAYABLE_TYPES, ReplayReply, ReplayRequest
    from .resources import ENTITY_ID_PATTERN, RESOURCE_MODELS, Customer, Entity, Item, Tax
    from .topology import (
        CONTENT_TYPE,
        DEFAULT_COMMAND_SHARDS,
        DEFAULT_DELIVERY_LIMIT,
        DEFAULT_PREFIX,
        REPLAY_KEY,
        Declarations,
        Header,
        Resource,
        Topology,
    )

#: Where each public name lives (``tests/unit/test_contracts_package.py`` checks that it
#: matches the imports above and ``__all__``); ``lazy`` loads them.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "commands": ("COMMAND_MODELS", "CreateCustomer", "CreateEntity", "CreateItem", "CreateTax",
                 "TaxRef"),
    "errors": ("Error", "ErrorBody", "ErrorCode", "ErrorDetail", "Rejected", "error_body"),
    "queries": ("LIST_REPLY_MODELS", "ListReply", "ListRequest", "Pagination"),
    "replay": ("REPLAYABLE_TYPES", "ReplayReply", "ReplayRequest"),
    "resources": ("ENTITY_ID_PATTERN", "RESOURCE_MODELS", "Customer", "Entity", "Item", "Tax"),
    "topology": ("CONTENT_TYPE", "DEFAULT_COMMAND_SHARDS", "DEFAULT_DELIVERY_LIMIT",
                 "DEFAULT_PREFIX", "REPLAY_KEY", "Declarations", "Header", "Resource", "Topology"),
}  # fmt: skip
if not TYPE_CHECKING:  # type checkers see the imports above, and no catch-all __getattr__
    __getattr__, __dir__ = lazy_names(globals(), _EXPORTS)

__all__ = [
    "COMMAND_MODELS",
    "CONTENT_TYPE",
    "DEFAULT_COMMAND_SHARDS",
    "DEFAULT_DELIVERY_LIMIT",
    "DEFAULT_PREFIX",
    "ENTITY_ID_PATTERN",
    "LIST_REPLY_MODELS",
    "REPLAYABLE_TYPES",
    "REPLAY_KEY",
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
    "ReplayReply",
    "ReplayRequest",
    "Resource",
    "Tax",
    "TaxRef",
    "Topology",
    "error_body",
]
