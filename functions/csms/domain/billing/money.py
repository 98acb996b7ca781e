"""Currencies and amounts: ISO 4217 codes, their minor units, and the one rounding rule.

Money is `Decimal`, never float. An amount is rounded to its currency's minor unit once, with
ROUND_HALF_UP (0.005 EUR -> 0.01 EUR), where a price line is made; totals are sums of rounded
lines, so a breakdown always adds up to its total.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import AfterValidator

# ISO 4217 active codes and their minor units (decimal places), as published by the ISO 4217
# maintenance agency (SIX); kept here because no currency library is a runtime dependency of
# the functions. Funds codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW) and precious metals
# are left out: nobody pays for charging in them.
_TWO_DECIMALS = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD
    CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
    GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD
    MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP
    PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS
    TMT TOP TRY TTD TWD TZS UAH USD UZS VES WST XCD YER ZAR ZMW ZWG
"""
_NO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"


def _codes(text: str, places: int) -> dict[str, int]:
    return dict.fromkeys(text.split(), places)


_MINOR_UNITS: dict[str, int] = {
    **_codes(_TWO_DECIMALS, 2),
    **_codes(_NO_DECIMALS, 0),
    **_codes(_THREE_DECIMALS, 3),
}

CURRENCIES = frozenset(_MINOR_UNITS)


def _known(code: str) -> str:
    if code not in _MINOR_UNITS:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code (e.g. EUR, USD, GBP)")
    return code


CurrencyCode = Annotated[str, AfterValidator(_known)]
"""An active ISO 4217 currency code, upper case."""


def minor_units(currency: str) -> int:
    """Decimal places of the currency's minor unit (EUR 2, JPY 0, KWD 3)."""
    return _MINOR_UNITS[currency]


def round_money(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded half up to the currency's minor unit (the rule every line follows)."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)
