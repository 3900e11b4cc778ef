"""Decoding and encoding message bodies exactly as the wire contract says.

Bodies are UTF-8 JSON of at most ``limits.MAX_BODY_BYTES``. JSON numbers are read as
``Decimal`` (never binary floats), so ``0.1`` stays exactly ``0.1`` all the way to storage.

Two kinds of value are valid JSON syntax and still refused here, before any model sees them,
with the path of where they are (``loc``):

- a number of more than ``limits.NUMBER_MAX_CHARS`` characters or with an exponent beyond
  ``limits.NUMBER_MAX_EXPONENT``: the decoder's hooks see a number's text before anything
  converts it, so ``1e10000000`` or a 5,000-digit integer costs the time to scan it and no
  more (converting it would take seconds of CPU);
- text that is not Unicode: a lone surrogate escape such as ``"\\ud800"``, which no database
  can store and no JSON encoder can write back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from . import limits
from .errors import ErrorBody, ErrorCode, ErrorDetail, details_from_pydantic, error_body

M = TypeVar("M", bound=BaseModel)
#: Where in a body a value is: object keys and array indexes, as in ``errors[].loc``.
Loc = list[str | int]

NUMBER_OUT_OF_RANGE = (
    f"number out of range: at most {limits.NUMBER_MAX_CHARS} characters, with an exponent"
    f" within ±{limits.NUMBER_MAX_EXPONENT}"
)
NOT_UNICODE = "is not valid Unicode text (a lone surrogate such as \\ud800)"
# Only a \uD800-\uDFFF escape can make a lone surrogate (UTF-8 bytes cannot), so a text
# without one needs no check of its strings.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_EXPONENT = re.compile(r"[eE]([-+]?[0-9]+)$")


class InvalidMessage(Exception):
    """A body that breaks the contract; carries the error body to send back."""

    def __init__(self, body: ErrorBody) -> None:
        super().__init__(body.error.message)
        self.body = body


class UnreadableValue(ValueError):
    """A value ``loads`` refuses (see the module): ``loc`` says where, ``detail`` why."""

    def __init__(self, loc: Loc, detail: str) -> None:
        super().__init__(f"{_dotted(loc)}: {detail}")
        self.loc = loc
        self.detail = detail


class InvalidValue(InvalidMessage):
    """The ``InvalidMessage`` of a body with an ``UnreadableValue``, keeping where it is."""

    def __init__(self, body: ErrorBody, loc: Loc, detail: str) -> None:
        super().__init__(body)
        self.loc = loc
        self.detail = detail


class _OutOfRange:
    """Stands in the decoded value for a number the decoder would not convert."""


_OUT_OF_RANGE = _OutOfRange()
#: A node's place in a decoded value: its key and its parent's link (None at the top).
_Link = tuple[str | int, Any] | None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(text: str) -> Any:
    """JSON text → value, numbers as ``int`` or ``Decimal``; ``NaN`` and ``Infinity`` refused.

    Raises ``UnreadableValue`` for the values the module describes, ``ValueError`` for text
    that is not JSON, and ``RecursionError`` for nesting too deep to decode.
    """
    refused = False

    def bounded(convert: Callable[[str], Any]) -> Callable[[str], Any]:
        def number(digits: str) -> Any:
            nonlocal refused
            exponent = _EXPONENT.search(digits) if len(digits) <= limits.NUMBER_MAX_CHARS else None
            if len(digits) > limits.NUMBER_MAX_CHARS or (
                exponent is not None and abs(int(exponent.group(1))) > limits.NUMBER_MAX_EXPONENT
            ):
                refused = True
                return _OUT_OF_RANGE
            return convert(digits)

        return number

    value = json.loads(
        text, parse_float=bounded(Decimal), parse_int=bounded(int), parse_constant=_refuse_constant
    )
    check_text = _SURROGATE_ESCAPE.search(text) is not None
    if refused or check_text:
        found = _first_unreadable(value, check_text=check_text)
        if found is not None:
            raise UnreadableValue(*found)
    return value


def _first_unreadable(value: Any, *, check_text: bool) -> tuple[Loc, str] | None:
    """Where the first refused value is, in document order, and why; None if there is none.

    Iterative, since the value may be nested as deeply as the decoder allows; each node keeps
    only its parent link, so finding the path costs its length, not the depth times the size.
    """
    stack: list[tuple[Any, _Link]] = [(value, None)]
    while stack:
        node, link = stack.pop()
        if node is _OUT_OF_RANGE:
            return _path(link), NUMBER_OUT_OF_RANGE
        if isinstance(node, str):
            if check_text and not _is_unicode(node):
                return _path(link), NOT_UNICODE
        elif isinstance(node, dict):
            for key in node:
                if check_text and not _is_unicode(key):
                    return [*_path(link), _escaped(key)], NOT_UNICODE
            stack.extend((child, (key, link)) for key, child in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((child, (index, link)) for index, child in reversed(list(enumerate(node))))
    return None


def _path(link: _Link) -> Loc:
    keys: Loc = []
    while link is not None:
        key, link = link
        keys.append(key)
    return keys[::-1]


def _is_unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _escaped(text: str) -> str:
    """Text that can travel in an error reply: lone surrogates as ``\\udxxx``."""
    return text.encode("utf-8", "backslashreplace").decode()


def _dotted(loc: Loc) -> str:
    return ".".join(str(part) for part in loc) or "body"


def decode_json(body: bytes, *, code: ErrorCode = ErrorCode.VALIDATION_ERROR) -> Any:
    """Bytes → JSON value, refusing oversized, non-UTF-8 and non-JSON bodies, ``NaN`` and
    ``Infinity``, and the values ``loads`` refuses (as ``InvalidValue``, naming where)."""
    if len(body) > limits.MAX_BODY_BYTES:
        raise InvalidMessage(
            error_body(
                code,
                f"body is {len(body)} bytes; the limit is {limits.MAX_BODY_BYTES} bytes",
                [ErrorDetail(loc=["body"], msg="body too large")],
            )
        )
    try:
        return loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        msg = f"body is not valid UTF-8 (byte {exc.start})"
    except RecursionError:
        msg = "body is nested too deeply"
    except UnreadableValue as exc:
        loc = exc.loc or ["body"]
        detail = [ErrorDetail(loc=loc, msg=exc.detail)]
        message = f"invalid {_dotted(loc)}: {exc.detail}"
        raise InvalidValue(error_body(code, message, detail), loc, exc.detail) from None
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        msg = f"body is not valid JSON: {exc}"
    raise InvalidMessage(error_body(code, msg, [ErrorDetail(loc=["body"], msg=msg)]))


def parse(model: type[M], body: bytes, *, code: ErrorCode = ErrorCode.VALIDATION_ERROR) -> M:
    """Decode and validate a body against a contract model, or raise ``InvalidMessage``."""
    data = decode_json(body, code=code)
    if not isinstance(data, dict):
        msg = "body must be a JSON object"
        raise InvalidMessage(error_body(code, msg, [ErrorDetail(loc=["body"], msg=msg)]))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = details_from_pydantic(exc.errors())
        fields = ", ".join(_dotted(d.loc) for d in details)
        raise InvalidMessage(
            error_body(code, f"invalid {fields}: {details[0].msg}", details)
        ) from None


def encode(model: BaseModel) -> bytes:
    """A contract model → UTF-8 JSON bytes (money as JSON numbers, timestamps with ``Z``)."""
    return model.model_dump_json().encode()
