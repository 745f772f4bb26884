"""Money: Decimal to the cent, never float.

Sums stay exact (the CUR gives up to 10 decimals); only what is shown is rounded, half up. Rows of
a breakdown are allocated with the largest-remainder method so they add up to the rounded total
exactly, cent for cent.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal(0)
HUNDRED = Decimal(100)


def cents(value: Decimal) -> Decimal:
    """Round half up to the cent."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def discounted(value: Decimal, discount_percent: Decimal) -> Decimal:
    """The exact amount after a percent discount (not rounded)."""
    return value * (HUNDRED - discount_percent) / HUNDRED


def allocate(exact: Mapping[str, Decimal], total: Decimal) -> dict[str, Decimal]:
    """Round each value to the cent so that the rounded values add up to ``total`` exactly.

    ``total`` is the rounded sum. Each value is floored to the cent, and the cents still missing go,
    one each, to the values that lost the most in the flooring (ties: the larger value, then the key).
    """
    floors = {k: v.quantize(CENT, rounding=ROUND_FLOOR) for k, v in exact.items()}
    missing = int((total - sum(floors.values(), ZERO)) / CENT)
    if missing > 0:
        order = sorted(exact, key=lambda k: (-(exact[k] - floors[k]), -exact[k], k))
        for k in order[:missing]:
            floors[k] += CENT
    return floors


def fmt(value: Decimal) -> str:
    """12345.6 -> '12,345.60' (for people; JSON and CSV use the plain string)."""
    return f"{cents(value):,.2f}"


def plain(value: Decimal) -> str:
    """The machine form: '12345.60'."""
    return f"{cents(value):.2f}"
