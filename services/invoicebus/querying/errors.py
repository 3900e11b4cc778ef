"""The refusal of a list request the query language does not allow."""

from __future__ import annotations

from collections.abc import Sequence

from invoicebus_contracts import ErrorBody, ErrorCode, ErrorDetail, error_body

from ..domain.errors import DomainError


class QueryError(DomainError):
    """A query the language does not allow: ``invalid_query`` (422), located by ``loc``."""

    def __init__(self, message: str, loc: Sequence[str | int]) -> None:
        where = ".".join(str(part) for part in loc)
        super().__init__(ErrorCode.INVALID_QUERY, f"{where}: {message}", list(loc))
        self.loc: list[str | int] = list(loc)
        self.detail = message

    def to_body(self) -> ErrorBody:
        return error_body(self.code, self.message, [ErrorDetail(loc=self.loc, msg=self.detail)])
