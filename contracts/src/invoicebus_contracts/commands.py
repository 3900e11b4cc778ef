"""Command bodies: exactly the request bodies of the API references. Unknown fields are refused."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from . import limits
from .fields import (
    CountryCode,
    Description,
    Email,
    Metadata,
    Money,
    Name,
    PostCode,
    Rate,
    TaxNumber,
    Text,
)
from .topology import Resource

TaxId = Annotated[str, Field(pattern=Resource.TAX.id_pattern)]
#: A tax's classification ("standard", "reduced"...): the key items look taxes up by.
Classification = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=limits.TEXT_MAX)
]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _field_errors(
    model: str, message: str, fields: dict[tuple[str | int, ...], Any]
) -> ValidationError:
    """One error per named field, so a client sees every field involved in its ``loc``."""
    return ValidationError.from_exception_data(
        model,
        [
            InitErrorDetails(type=PydanticCustomError("value_error", message), loc=loc, input=value)
            for loc, value in fields.items()
        ],
    )


class PartyFields(Command):
    """Name, contact, address and tax fields shared by entities and customers."""

    name: Name = Field(description="Name, as it appears on invoices")
    email: Email | None = Field(default=None, description="Email address")
    tax_number: TaxNumber | None = Field(default=None, description="Tax (VAT) number")
    address: Text | None = Field(default=None, description="Street address")
    address_2: Text | None = Field(default=None, description="Second address line")
    post_code: PostCode | None = Field(default=None, description="Postal code")
    city: Text | None = Field(default=None, description="City")
    state: Text | None = Field(default=None, description="State or region")
    country: Text | None = Field(default=None, description="Country name")
    country_code: CountryCode | None = Field(
        default=None, description="ISO 3166-1 alpha-2 country code, e.g. SI"
    )
    metadata: Metadata = Field(
        default_factory=dict, description="Your own string keys and values, e.g. a CRM id"
    )


class CreateEntity(PartyFields):
    """``entity.create``: the business that issues invoices; owns customers, taxes and items."""


class CreateCustomer(PartyFields):
    """``customer.create`` (``POST /customers``)."""


class CreateTax(Command):
    """``tax.create``: a tax rate of the entity; ``classification`` is unique per entity."""

    rate: Rate = Field(description="Percent, 0..100, e.g. 22 or 9.5")
    name: Text | None = Field(default=None, description="Name, e.g. VAT 22%")
    classification: Classification | None = Field(
        default=None, description="Unique per entity, e.g. standard"
    )


class TaxRef(Command):
    """An item's inline tax: ``{"rate": 22}`` (reuse or create one with that rate) or
    ``{"classification": "standard"}`` (look an existing one up)."""

    rate: Rate | None = Field(default=None, description="Tax by rate (reused or created)")
    classification: Classification | None = Field(
        default=None, description="Existing tax by classification"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.rate is None) == (self.classification is None):
            raise PydanticCustomError(
                "value_error",
                "give exactly one of 'rate' (reuse or create the entity's tax with that rate)"
                " or 'classification' (an existing tax of the entity)",
            )
        return self


class CreateItem(Command):
    """``item.create`` (``POST /items``), plus ``unit``."""

    name: Name = Field(description="Name, as it appears on invoices")
    description: Description | None = Field(default=None, description="Longer description")
    price: Money | None = Field(default=None, description="Net unit price")
    gross_price: Money | None = Field(
        default=None, description="Gross unit price (instead of price)"
    )
    taxes: list[TaxRef] = Field(
        default_factory=list,
        max_length=limits.MAX_TAXES_PER_ITEM,
        description="Taxes by rate or classification",
    )
    tax_ids: list[TaxId] = Field(
        default_factory=list, max_length=limits.MAX_TAXES_PER_ITEM, description="Existing tax id"
    )
    unit: Text | None = Field(default=None, description="Unit of sale, e.g. piece or hour")
    metadata: Metadata = Field(
        default_factory=dict, description="Your own string keys and values, e.g. a SKU"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.price is not None and self.gross_price is not None:
            raise _field_errors(
                type(self).__name__,
                "give either 'price' or 'gross_price', not both",
                {("price",): self.price, ("gross_price",): self.gross_price},
            )
        return self

    @model_validator(mode="after")
    def _no_duplicate_taxes(self) -> Self:
        seen: set[object] = set()
        for index, ref in enumerate(self.taxes):
            key = (
                ("rate", ref.rate)
                if ref.rate is not None
                else ("classification", ref.classification)
            )
            if key in seen:
                raise _field_errors(
                    type(self).__name__,
                    f"duplicate tax: {key[0]} {key[1]} is given twice",
                    {("taxes", index): key[1]},
                )
            seen.add(key)
        for index, tax_id in enumerate(self.tax_ids):
            if tax_id in self.tax_ids[:index]:
                raise _field_errors(
                    type(self).__name__,
                    f"duplicate tax: {tax_id} is given twice",
                    {("tax_ids", index): tax_id},
                )
        return self


#: The body of each resource's ``create`` command.
COMMAND_MODELS: Mapping[Resource, type[Command]] = {
    Resource.ENTITY: CreateEntity,
    Resource.CUSTOMER: CreateCustomer,
    Resource.TAX: CreateTax,
    Resource.ITEM: CreateItem,
}
