"""Refusals raised by the domain and the command handlers; each maps onto a contract error."""

from __future__ import annotations

from invoicebus_contracts import ErrorBody, ErrorCode, ErrorDetail, error_body

#: Where in a message a refusal points: field names and list indexes, as in ``errors[].loc``.
Loc = list[str | int]


class DomainError(Exception):
    """A command that is well-formed but can't be carried out (unknown entity, missing tax...)."""

    def __init__(self, code: ErrorCode, message: str, loc: Loc | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.loc = loc

    def to_body(self) -> ErrorBody:
        details = [ErrorDetail(loc=self.loc, msg=self.message)] if self.loc is not None else []
        return error_body(self.code, self.message, details)
