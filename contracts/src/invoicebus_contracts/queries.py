"""List requests and replies (request/reply on the queries exchange)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from . import limits
from .resources import RESOURCE_MODELS, Customer, Entity, Item, Tax
from .topology import Resource

R = TypeVar("R", Entity, Customer, Tax, Item)


class ListRequest(BaseModel):
    """Body of ``<resource>.list``; every field is optional.

    Strict, like the commands' fields: ``"10"``, ``10.0`` or ``true`` is not a ``limit``, and
    ``"yes"``, ``1`` or ``"true"`` is not a boolean.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    limit: int = Field(default=limits.LIST_LIMIT_DEFAULT, ge=1, le=limits.LIST_LIMIT_MAX)
    next_cursor: str | None = Field(default=None, max_length=limits.CURSOR_MAX)
    prev_cursor: str | None = Field(default=None, max_length=limits.CURSOR_MAX)
    include_total_count: bool = True
    order_by: str | None = Field(default=None, max_length=64)
    query: dict[str, Any] | str | None = None
    search: str | None = Field(default=None, max_length=limits.SEARCH_MAX)


class Pagination(BaseModel):
    total: int
    next_cursor: str | None
    prev_cursor: str | None
    has_more: bool


class ListReply(BaseModel, Generic[R]):
    data: list[R]
    pagination: Pagination


#: The reply model of each resource's ``list`` request.
LIST_REPLY_MODELS: Mapping[Resource, type[ListReply[Any]]] = {
    resource: ListReply[model]  # type: ignore[valid-type]
    for resource, model in RESOURCE_MODELS.items()
}
