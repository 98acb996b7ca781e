"""Builders shared by the billing domain tests: tariffs, sessions and samples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import settings

from csms.domain.billing.tariff import Tariff
from csms.domain.billing.usage import SessionUsage

FAST = settings(database=None, deadline=None, derandomize=True, max_examples=200)
BERLIN = ZoneInfo("Europe/Berlin")
# A Monday, 08:00 UTC.
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def a_tariff(**over: Any) -> Tariff:
    """A EUR tariff at 0.30 EUR/kWh including 19 % VAT, nothing else, unless told otherwise."""
    fields: dict[str, Any] = {
        "id": "tariff-1",
        "name": "Standard",
        "currency": "EUR",
        "taxRates": [{"name": "VAT", "percent": "19"}],
        "prices": {"energyPerKwh": "0.30"},
    }
    fields.update(over)
    return Tariff.model_validate(fields)


def window(days: list[str], start: str, end: str) -> dict[str, Any]:
    """A time-of-use window as the API takes it."""
    return {"days": days, "start": start, "end": end}


def a_period(name: str, windows: list[dict[str, Any]], **prices: Any) -> dict[str, Any]:
    """A time-of-use period with these prices (camelCase keys)."""
    return {"name": name, "windows": windows, "prices": prices}


def sample(at: datetime, wh: Decimal | int | str) -> dict[str, Any]:
    """An energy register reading."""
    return {"at": at, "wh": Decimal(str(wh))}


def a_usage(
    start: datetime = T0,
    hours: float = 1,
    kwh: Decimal | int | str = 10,
    **over: Any,
) -> SessionUsage:
    """A session from `start` for `hours` (real ones), delivering `kwh` evenly throughout."""
    # In UTC: adding hours to a zoned datetime adds wall-clock time, wrong across DST.
    start = start.astimezone(UTC)
    stop = start + timedelta(hours=hours)
    fields: dict[str, Any] = {
        "start": start,
        "stop": stop,
        "samples": [sample(start, 0), sample(stop, Decimal(str(kwh)) * 1000)],
    }
    fields.update(over)
    return SessionUsage.model_validate(fields)


def at(hours: float, start: datetime = T0) -> datetime:
    """Some hours after `start`."""
    return start + timedelta(hours=hours)
