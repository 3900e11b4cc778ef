"""Item pricing: net price, gross price and total tax, in decimal, rounded half-up to cents.

- price given: ``total_tax = round(price * sum(rates) / 100)``, ``gross_price`` is null;
- gross_price given: ``price = round(gross_price / (1 + sum(rates) / 100))`` and
  ``total_tax = gross_price - price``, so ``price + total_tax == gross_price`` exactly;
- neither: no price, no tax.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal

CENT = Decimal("0.01")
HUNDRED = Decimal(100)

# Decimal128's 34 digits. Products of amounts (< 1e12, 2 places) and rate sums (<= 1000,
# 4 places) need at most 22 digits: exact. A quotient g / (1 + s/100) = G*10^4 / D (G cents,
# D = 10^6 + s*10^4, an integer) is either exactly on a half cent or at least 1/(200*D)
# (> 1e-10) away from one, far beyond the 34th digit: rounding it to cents is exact half-up.
_CONTEXT = Context(prec=34, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Pricing:
    price: Decimal | None
    gross_price: Decimal | None
    total_tax: Decimal


def to_cents(amount: Decimal) -> Decimal:
    """Round half-up to 2 decimal places (0.005 -> 0.01)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP, context=_CONTEXT)


def canonical(value: Decimal) -> Decimal:
    """The same number without trailing zeros or exponent: 22.50 -> 22.5, 1E+2 -> 100."""
    integral = value.to_integral_value()
    return integral.quantize(Decimal(1)) if value == integral else value.normalize(_CONTEXT)


def price_item(
    *, price: Decimal | None, gross_price: Decimal | None, rates: Iterable[Decimal]
) -> Pricing:
    if price is not None and gross_price is not None:
        raise ValueError("give either price or gross_price, not both")
    total_rate = sum(rates, Decimal(0))
    if price is not None:
        tax = _CONTEXT.divide(_CONTEXT.multiply(price, total_rate), HUNDRED)
        return Pricing(price=to_cents(price), gross_price=None, total_tax=to_cents(tax))
    if gross_price is not None:
        gross = to_cents(gross_price)
        factor = _CONTEXT.add(1, _CONTEXT.divide(total_rate, HUNDRED))
        net = to_cents(_CONTEXT.divide(gross, factor))
        return Pricing(price=net, gross_price=gross, total_tax=_CONTEXT.subtract(gross, net))
    return Pricing(price=None, gross_price=None, total_tax=to_cents(Decimal(0)))
