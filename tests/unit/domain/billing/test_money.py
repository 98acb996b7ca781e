"""Currencies and the one rounding rule."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from csms.domain.billing.money import CURRENCIES, CurrencyCode, minor_units, round_money

_CODE = TypeAdapter(CurrencyCode)


@pytest.mark.parametrize(("code", "places"), [("EUR", 2), ("USD", 2), ("JPY", 0), ("KWD", 3)])
def test_minor_units_follow_iso_4217(code: str, places: int) -> None:
    # GIVEN an active currency WHEN asking for its minor unit THEN ISO 4217's decimals come back
    assert minor_units(code) == places
    assert code in CURRENCIES


@pytest.mark.parametrize(
    ("amount", "code", "rounded"),
    [
        ("0.005", "EUR", "0.01"),
        ("0.0049", "EUR", "0.00"),
        ("2.675", "EUR", "2.68"),
        ("149.5", "JPY", "150"),
        ("1.2345", "KWD", "1.235"),
    ],
)
def test_round_money_rounds_half_up_to_the_minor_unit(amount: str, code: str, rounded: str) -> None:
    # GIVEN an amount with more decimals than the currency has
    # WHEN rounding it
    result = round_money(Decimal(amount), code)
    # THEN it is rounded half up to the minor unit, with exactly that many decimals
    assert str(result) == rounded


@pytest.mark.parametrize("code", ["XXX", "eur", "EURO", "", "CHE"])
def test_currency_code_rejects_what_is_not_an_active_code(code: str) -> None:
    # GIVEN a string that is not an active ISO 4217 code (funds codes left out)
    # WHEN validating it THEN it is refused with a hint
    with pytest.raises(ValidationError, match="ISO 4217"):
        _CODE.validate_python(code)


def test_currency_code_accepts_an_active_code() -> None:
    # GIVEN / WHEN an active code is validated THEN it passes unchanged
    assert _CODE.validate_python("GBP") == "GBP"
