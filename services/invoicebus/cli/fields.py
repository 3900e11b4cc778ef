"""The options of a create command, derived from the contract's command model.

Every field of the model becomes an option, ``--field-name`` (so a field added to the contract
shows up in the CLI by itself), typed by what the field holds: text as is, numbers kept exact,
a mapping as repeated ``key=value``, a list as a repeatable option, and a list of objects as
one repeatable option per member field (``taxes: [{"rate": 22}]`` is ``--tax-rate 22``). The
help text is the field's description in the contract. Anything else takes JSON.
"""

from __future__ import annotations

import functools
import json
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Union, get_args, get_origin

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from .bodies import decimal_option, parse_pairs

#: Where the CLI's name is not the field's: repeatable options take the singular, and the
#: tax classification is shortened. Everything else is ``--field-name``.
NAMES: Mapping[tuple[str, ...], str] = {
    ("taxes", "rate"): "tax_rate",
    ("taxes", "classification"): "tax_class",
    ("tax_ids",): "tax_id",
}
#: What each kind of value looks like in the help; anything else is given as JSON.
_METAVARS: Mapping[Any, str] = {str: "TEXT", Decimal: "NUMBER"}
#: Short flags, for options typed often.
SHORT: Mapping[tuple[str, ...], str] = {("metadata",): "-m"}


@dataclass(frozen=True)
class FieldOption:
    """One option of a create command, and how its value goes into the body."""

    #: The Python parameter; typer names the option after it (``tax_rate`` → ``--tax-rate``).
    param: str
    #: The body field it fills.
    field: str
    #: ``Annotated[<type>, typer.Option(...)]``.
    annotation: Any
    #: The option's value → the field's value (``None``, ``[]``, ``{}``: not given).
    to_body: Callable[[Any], Any]
    #: For a list of objects: each value becomes ``{member: value}``.
    member: str | None = None
    #: Whether the option repeats (its value is a list of texts).
    repeated: bool = False


def field_options(model: type[BaseModel]) -> list[FieldOption]:
    options: list[FieldOption] = []
    for name, info in model.model_fields.items():
        kind = _bare(info.annotation)
        if get_origin(kind) is not list:
            options.append(_option((name,), info, kind, repeated=False))
            continue
        item = _bare(get_args(kind)[0])
        if not _is_model(item):
            options.append(_option((name,), info, item, repeated=True))
            continue
        for member, member_info in item.model_fields.items():
            path = (name, member)
            options.append(_option(path, member_info, _bare(member_info.annotation), repeated=True))
    return options


def body_fields(options: Sequence[FieldOption], values: Mapping[str, Any]) -> dict[str, Any]:
    """The fields the options give, in the model's order."""
    fields: dict[str, Any] = {}
    for option in options:
        value = option.to_body(values[option.param])
        if option.member is None:
            fields[option.field] = value
        else:
            fields.setdefault(option.field, []).extend({option.member: v} for v in value)
    return fields


def _option(path: tuple[str, ...], info: FieldInfo, kind: Any, *, repeated: bool) -> FieldOption:
    param = NAMES.get(path, "_".join(path))
    flag = "--" + param.replace("_", "-")
    decls = (flag, SHORT[path]) if path in SHORT else ()
    help_text = info.description
    metavar = _METAVARS.get(kind, "JSON")
    convert: Callable[[Any], Any]
    if get_origin(kind) is dict:
        value_type: Any = list[str] | None
        metavar = "KEY=VALUE"
        help_text = f"{help_text}; key=value, repeatable" if help_text else "key=value, repeatable"
        convert = functools.partial(parse_pairs, option=flag)
    elif repeated:
        value_type = list[str] | None
        help_text = f"{help_text}, repeatable" if help_text else "repeatable"
        one = _scalar(kind, flag)
        convert = lambda values: [one(v) for v in values or []]  # noqa: E731
    else:
        value_type = str | None
        convert = _scalar(kind, flag)
    option = typer.Option(*decls, help=help_text, show_default=False, metavar=metavar)
    return FieldOption(
        param=param,
        field=path[0],
        annotation=Annotated[value_type, option],
        to_body=convert,
        member=path[1] if len(path) > 1 else None,
        repeated=value_type != str | None,
    )


def _scalar(kind: Any, flag: str) -> Callable[[str | None], Any]:
    if kind is str:
        return lambda value: value
    if kind is Decimal:
        return decimal_option
    return lambda value: None if value is None else _json(value, flag)


def _json(value: str, flag: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not JSON", param_hint=flag) from None


def _bare(annotation: Any) -> Any:
    """The type inside ``Optional[...]`` and ``Annotated[...]``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)
