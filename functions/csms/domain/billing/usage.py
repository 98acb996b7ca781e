"""What a session used, as pricing needs it: times, energy, idle period, who, where.

Built from a stored session (its meter values) or read from a file (`csms price`). Times are
aware; the site's timezone decides which time-of-use prices apply.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

# A session longer than this is not priced (a stuck transaction, not a charge).
MAX_SESSION = timedelta(days=31)
MAX_SAMPLES = 100_000


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


# Kept in UTC: two datetimes sharing a ZoneInfo compare and subtract by wall clock, which is
# wrong across a DST change.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class EnergySample(_Model):
    """The session's energy register at a moment (Wh, cumulative: it never goes down)."""

    at: UtcDatetime
    wh: Annotated[Decimal, Field(ge=0, le=10_000_000)]


class IdlePeriod(_Model):
    """Plugged in but no longer charging (the EV is full or stopped drawing)."""

    start: UtcDatetime
    end: UtcDatetime


class SessionUsage(_Model):
    """One session's use of a charger.

    - `start`/`stop`: plug-in (or authorisation) to the end of the transaction;
    - `samples`: the energy register (at least one); energy before the first sample and after
      the last is none, between two samples it is spread evenly over the time between them;
    - `idle`: the time after charging ended while still plugged in (idle fees, and not
      charging time), within start-stop;
    - `timezone`: the site's (IANA name), for time-of-use prices.
    """

    session_id: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    start: UtcDatetime
    stop: UtcDatetime
    samples: Annotated[tuple[EnergySample, ...], Field(min_length=1, max_length=MAX_SAMPLES)]
    idle: IdlePeriod | None = None
    timezone: str = "UTC"
    # Who charged: the token and its group (for tariff assignment and reports).
    id_token: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    token_group: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{name!r} is not an IANA timezone (e.g. Europe/Berlin)") from None
        return name

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.stop <= self.start:
            raise ValueError("stop must be after start")
        if self.stop - self.start > MAX_SESSION:
            raise ValueError("a session longer than 31 days is not priced")
        previous: EnergySample | None = None
        for sample in self.samples:
            if not self.start <= sample.at <= self.stop:
                raise ValueError(f"energy sample at {sample.at.isoformat()} is outside start-stop")
            if previous is not None and (sample.at < previous.at or sample.wh < previous.wh):
                raise ValueError(
                    "energy samples must be in time order and never go down "
                    f"(at {sample.at.isoformat()})"
                )
            previous = sample
        if self.idle is not None and not (
            self.start <= self.idle.start <= self.idle.end <= self.stop
        ):
            raise ValueError("the idle period must lie within start-stop, start before end")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The site's timezone."""
        return ZoneInfo(self.timezone)

    @property
    def energy_wh(self) -> Decimal:
        """Energy delivered over the session."""
        return self.samples[-1].wh - self.samples[0].wh

    @property
    def plugged(self) -> timedelta:
        """The whole session."""
        return self.stop - self.start

    @property
    def idle_time(self) -> timedelta:
        """Plugged in, not charging."""
        return self.idle.end - self.idle.start if self.idle is not None else timedelta(0)

    @property
    def charging(self) -> timedelta:
        """The session minus its idle period."""
        return self.plugged - self.idle_time


def at(moment: datetime, zone: ZoneInfo) -> datetime:
    """A moment as the site's wall clock shows it."""
    return moment.astimezone(zone)
