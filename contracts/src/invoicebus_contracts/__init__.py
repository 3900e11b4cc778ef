"""invoicebus wire contract: message models, error codes, topology names and declarations.

Depends on pydantic alone, so any Python client can build and validate messages exactly as
the services do. See the project README and the generated AsyncAPI document for the wire rules.

Names are loaded on first use (PEP 562): ``from invoicebus_contracts import Topology`` reads
the topology's plain data without importing pydantic, so a program that only needs names
(the CLI's ``--help``, for one) starts fast. Type checkers see ordinary imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
        DEFAULT_DELIVERY_LIMIT,
        DEFAULT_PREFIX,
        REPLAY_KEY,
        Declarations,
        Header,
        Resource,
        Topology,
    )

#: Where each public name lives (``tests/unit/test_contracts_package.py`` checks that it
#: matches the imports above and ``__all__``).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "commands": ("COMMAND_MODELS", "CreateCustomer", "CreateEntity", "CreateItem", "CreateTax",
                 "TaxRef"),
    "errors": ("Error", "ErrorBody", "ErrorCode", "ErrorDetail", "Rejected", "error_body"),
    "queries": ("LIST_REPLY_MODELS", "ListReply", "ListRequest", "Pagination"),
    "replay": ("REPLAYABLE_TYPES", "ReplayReply", "ReplayRequest"),
    "resources": ("ENTITY_ID_PATTERN", "RESOURCE_MODELS", "Customer", "Entity", "Item", "Tax"),
    "topology": ("CONTENT_TYPE", "DEFAULT_DELIVERY_LIMIT", "DEFAULT_PREFIX", "REPLAY_KEY",
                 "Declarations", "Header", "Resource", "Topology"),
}  # fmt: skip
_MODULES = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once loaded, an ordinary module attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULES])


__all__ = [
    "COMMAND_MODELS",
    "CONTENT_TYPE",
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
