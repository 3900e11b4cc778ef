"""The pricing rules: examples from the contract, and properties checked against exact fractions."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from math import floor

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from invoicebus.domain.pricing import Pricing, canonical, price_item, to_cents
from invoicebus_contracts import limits

# Every amount and rate the contract accepts: < 1e12 with 2 places; 0..100 with 4 places.
amounts = st.decimals(
    min_value=0, max_value=limits.MONEY_MAX - Decimal("0.01"), places=limits.MONEY_PLACES
)
rates = st.decimals(min_value=0, max_value=100, places=limits.RATE_PLACES)
rate_lists = st.lists(rates, max_size=limits.MAX_TAXES_PER_ITEM)


def half_up_cents(value: Fraction) -> Fraction:
    """The reference rounding, on exact rationals: no decimal context involved."""
    return Fraction(floor(value * 100 + Fraction(1, 2)), 100)


@pytest.mark.parametrize(
    ("price", "gross", "rates", "expected"),
    [
        ("200", None, ["22"], Pricing(Decimal(200), None, Decimal(44))),
        (None, "122", ["22"], Pricing(Decimal(100), Decimal(122), Decimal(22))),
        (None, "10", ["9.5"], Pricing(Decimal("9.13"), Decimal(10), Decimal("0.87"))),
        ("1500", None, [], Pricing(Decimal(1500), None, Decimal(0))),
        (None, None, ["22"], Pricing(None, None, Decimal(0))),
        (None, "50", [], Pricing(Decimal(50), Decimal(50), Decimal(0))),
        ("0.05", None, ["10"], Pricing(Decimal("0.05"), None, Decimal("0.01"))),  # 0.005 -> 0.01
        ("0.04", None, ["10"], Pricing(Decimal("0.04"), None, Decimal(0))),  # 0.004 -> 0
        ("100", None, ["22", "9.5", "0.0001"], Pricing(Decimal(100), None, Decimal("31.50"))),
    ],
)
def test_examples(
    price: str | None, gross: str | None, rates: list[str], expected: Pricing
) -> None:
    result = price_item(
        price=Decimal(price) if price else None,
        gross_price=Decimal(gross) if gross else None,
        rates=[Decimal(r) for r in rates],
    )
    assert result == expected


def test_amounts_come_out_in_cents() -> None:
    result = price_item(price=Decimal("1E+2"), gross_price=None, rates=[Decimal(22)])
    assert str(result.price) == "100.00"
    assert str(result.total_tax) == "22.00"


def test_both_prices_are_refused() -> None:
    with pytest.raises(ValueError, match="either"):
        price_item(price=Decimal(1), gross_price=Decimal(1), rates=[])


@given(price=amounts, rates=rate_lists)
@example(price=Decimal("999999999999.99"), rates=[Decimal(100)] * 10)
def test_net_price_tax_is_the_half_up_rounding_of_the_exact_product(
    price: Decimal, rates: list[Decimal]
) -> None:
    result = price_item(price=price, gross_price=None, rates=rates)
    exact = Fraction(price) * sum(map(Fraction, rates), Fraction(0)) / 100
    assert Fraction(result.total_tax) == half_up_cents(exact)
    assert result.price == price
    assert result.gross_price is None


@given(gross=amounts, rates=rate_lists)
@example(gross=Decimal(10), rates=[Decimal("9.5")])
@example(gross=Decimal("999999999999.99"), rates=[Decimal("0.0001")])
def test_gross_price_splits_exactly_into_price_and_tax(
    gross: Decimal, rates: list[Decimal]
) -> None:
    result = price_item(price=None, gross_price=gross, rates=rates)
    assert result.price is not None
    assert result.price + result.total_tax == gross
    assert result.gross_price == gross
    # The net price is the exact quotient rounded half-up once (no double rounding).
    exact = Fraction(gross) / (1 + sum(map(Fraction, rates), Fraction(0)) / 100)
    assert Fraction(result.price) == half_up_cents(exact)
    assert result.total_tax >= 0


@given(amount=st.decimals(allow_nan=False, allow_infinity=False, min_value=0, max_value=10**12))
def test_to_cents_keeps_two_places(amount: Decimal) -> None:
    cents = to_cents(amount)
    assert cents.as_tuple().exponent == -2
    assert Fraction(cents) == half_up_cents(Fraction(amount))


@pytest.mark.parametrize(
    ("value", "expected"),
    [("22", "22"), ("22.0", "22"), ("22.50", "22.5"), ("1E+2", "100"), ("0.0001", "0.0001")],
)
def test_canonical_drops_trailing_zeros_and_exponents(value: str, expected: str) -> None:
    assert str(canonical(Decimal(value))) == expected


@given(rate=rates)
def test_canonical_keeps_the_value(rate: Decimal) -> None:
    assert canonical(rate) == rate
    assert "E" not in str(canonical(rate))
