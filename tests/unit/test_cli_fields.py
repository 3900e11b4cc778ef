"""The create commands' options are derived from the contract's command models."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import typer
from pydantic import BaseModel, Field

from invoicebus.cli.fields import body_fields, field_options
from invoicebus_contracts import COMMAND_MODELS, CreateItem, Resource


def no_values(model: type[BaseModel]) -> dict[str, Any]:
    return dict.fromkeys((o.param for o in field_options(model)), None)


@pytest.mark.parametrize("resource", list(Resource))
def test_every_field_of_the_command_has_an_option(resource: Resource) -> None:
    model = COMMAND_MODELS[resource]
    assert {o.field for o in field_options(model)} == set(model.model_fields)


def test_item_options_keep_the_cli_names_and_build_the_body_in_model_order() -> None:
    options = field_options(CreateItem)
    assert [o.param for o in options] == [
        "name", "description", "price", "gross_price", "tax_rate", "tax_class", "tax_id",
        "unit", "metadata",
    ]  # fmt: skip
    values = {
        **no_values(CreateItem),
        "name": "Tea",
        "gross_price": "1.20",
        "tax_rate": ["22", "9.5"],
        "tax_class": ["standard"],
        "tax_id": ["tax_" + "b" * 24],
        "metadata": ["k=v", "e="],
    }
    assert body_fields(options, values) == {
        "name": "Tea",
        "description": None,
        "price": None,
        "gross_price": Decimal("1.20"),
        "taxes": [{"rate": Decimal(22)}, {"rate": Decimal("9.5")}, {"classification": "standard"}],
        "tax_ids": ["tax_" + "b" * 24],
        "unit": None,
        "metadata": {"k": "v", "e": ""},
    }


def test_bad_numbers_and_pairs_are_usage_errors_naming_the_option() -> None:
    options = {o.param: o for o in field_options(CreateItem)}
    with pytest.raises(typer.BadParameter, match="is not a number"):
        options["tax_rate"].to_body(["22", "abc"])
    with pytest.raises(typer.BadParameter, match="not key=value") as caught:
        options["metadata"].to_body(["novalue"])
    assert caught.value.param_hint == "--metadata"


class Future(BaseModel):
    """A command with field types the contract does not use yet."""

    labels: list[str] = Field(default_factory=list, description="A label")
    count: int | None = None


def test_a_new_field_appears_by_itself() -> None:
    options = {o.param: o for o in field_options(Future)}
    assert set(options) == {"labels", "count"}
    values = {"labels": ["a", "b"], "count": "3"}
    assert body_fields(list(options.values()), values) == {"labels": ["a", "b"], "count": 3}
    with pytest.raises(typer.BadParameter, match="is not JSON"):
        options["count"].to_body("three")
