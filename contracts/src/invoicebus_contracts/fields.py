"""Reusable field types: text with length limits, email, country code, metadata, money.

Kept dependency-free (pydantic only), so any client can validate exactly as the services do.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, StringConstraints

from . import limits

# ISO 3166-1 alpha-2, all 249 officially assigned codes.
ISO_COUNTRY_CODES = frozenset(
    """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ
DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP
GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG
KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML
MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE
PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL
SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM
US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
""".split()  # noqa: SIM905 - a table reads better than 249 lines
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_METADATA_KEY = re.compile(r"^[^.$][^.]*$")  # no dots, no leading $: keys become Mongo paths


def _text(max_length: int) -> object:
    return StringConstraints(strip_whitespace=True, max_length=max_length)


Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=limits.NAME_MAX)
]
Text = Annotated[str, _text(limits.TEXT_MAX)]
PostCode = Annotated[str, _text(limits.POST_CODE_MAX)]
TaxNumber = Annotated[str, _text(limits.TAX_NUMBER_MAX)]
Description = Annotated[str, _text(limits.DESCRIPTION_MAX)]


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("value is not a valid email address")
    return value


def _check_country(value: str) -> str:
    code = value.upper()
    if code not in ISO_COUNTRY_CODES:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, e.g. 'SI' or 'DE'")
    return code


def _check_metadata(value: dict[str, str]) -> dict[str, str]:
    if len(value) > limits.METADATA_MAX_KEYS:
        raise ValueError(f"at most {limits.METADATA_MAX_KEYS} keys are allowed, got {len(value)}")
    for key, item in value.items():
        if not 1 <= len(key) <= limits.METADATA_KEY_MAX:
            raise ValueError(f"key {key[:50]!r} must be 1 to {limits.METADATA_KEY_MAX} characters")
        if not _METADATA_KEY.match(key):
            raise ValueError(f"key {key!r} must not contain '.' or start with '$'")
        if "\x00" in key:  # keys become MongoDB field names, which are C strings
            raise ValueError(f"key {key!r} must not contain NUL characters")
        if len(item) > limits.METADATA_VALUE_MAX:
            raise ValueError(
                f"value of key {key!r} must be at most {limits.METADATA_VALUE_MAX} characters,"
                f" got {len(item)}"
            )
    return value


Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=limits.EMAIL_MAX),
    AfterValidator(_check_email),
]
CountryCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=2),
    AfterValidator(_check_country),
]
Metadata = Annotated[dict[str, str], AfterValidator(_check_metadata)]


def format_timestamp(value: datetime) -> str:
    """UTC ISO-8601 with milliseconds and ``Z``: ``2024-01-01T00:00:00.000Z``."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def decimal_to_json(value: Decimal) -> int | float:
    """A JSON number with the decimal's exact digits.

    Amounts are bounded to 15 significant digits (see ``limits``), and a float with at most
    15 significant digits prints back as exactly those digits, so ``0.87`` stays ``0.87``.
    """
    if value == value.to_integral_value():
        return int(value)
    return float(value)


Timestamp = Annotated[
    datetime, PlainSerializer(format_timestamp, return_type=str, when_used="json")
]


def _json_number(value: object) -> object:
    # Amounts are JSON numbers on the wire; "10.05" or true is a type error, not a coercion.
    if isinstance(value, str | bool):
        raise ValueError("must be a JSON number")
    return value


_money_serializer = PlainSerializer(decimal_to_json, return_type=int | float, when_used="json")
_number_only = BeforeValidator(_json_number)
Money = Annotated[
    Decimal,
    _number_only,
    Field(ge=0, lt=limits.MONEY_MAX, decimal_places=limits.MONEY_PLACES, allow_inf_nan=False),
    _money_serializer,
]
Rate = Annotated[
    Decimal,
    _number_only,
    Field(ge=0, le=100, decimal_places=limits.RATE_PLACES, allow_inf_nan=False),
    _money_serializer,
]
#: A computed amount (no input bound needed) with the same JSON-number wire form.
Amount = Annotated[Decimal, _money_serializer]
