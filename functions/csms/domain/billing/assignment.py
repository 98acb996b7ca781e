"""Which tariff applies to a session: assignments of tariffs to places and drivers.

An assignment names a tariff for a place (WHERE: the tenant as a whole, a site, a station or
one EVSE of a station) and optionally for whom (WHO: anyone, the members of a driver group, or
one id token). The tariff in force at a session's start applies to the whole session.

Precedence, applied by `resolve` to the assignments that match a session:
1. the most specific WHO wins first: an id token's own assignment beats one for its driver
   group, which beats one for anyone;
2. among those, the most specific WHERE: the EVSE beats the station, the station beats the
   site, the site beats the tenant.
So a resident's group tariff at the tenant level still beats the public tariff of one EVSE.

Assignments keep their history, so that the tariff in force at a session's start applies to
the whole session even when the assignment is deleted or replaced while it charges: an
assignment takes effect when it is created (`valid_from`) and a deletion only ends it
(`valid_until`, exclusive); ended assignments stay stored. `resolve(..., at=started_at)` chooses
among the assignments in force at that moment. Assignments stored before this history existed
have no `valid_from`: they count as in force since always.

Two assignments of equal precedence that could match the same session cannot be in force at
once: each assignment has a `slot` (its WHERE and WHO with their ids) and storage refuses a
second assignment in a slot while one is in force there (409). After it ended, a new assignment
may take the slot; its id derives from the slot and its `valid_from`, so ids stay unique across
the slot's history (an assignment without `valid_from` keeps the id of the slot alone). Matching
assignments of equal precedence share their slot; should two writers' clocks disagree so that
a slot's old and new assignment overlap by a moment, the newer (`valid_from`) wins.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import IntEnum
from typing import Annotated, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, computed_field, model_validator

from csms.domain.tenancy import ResourceId
from csms.domain.tokens import GroupId, TokenValue, token_key

StationId = Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._~:*+@-]+$")]
EvseId = Annotated[int, Field(ge=1, le=999)]


class Where(IntEnum):
    """How specific a place is (higher wins among equally specific drivers)."""

    TENANT = 0
    SITE = 1
    STATION = 2
    EVSE = 3


class Who(IntEnum):
    """How specific the drivers are (higher wins first)."""

    ANYONE = 0
    GROUP = 1
    TOKEN = 2


class TariffAssignment(BaseModel):
    """A tariff for a place and, optionally, for a driver group or one id token.

    `site_id` is the place of a site assignment; on station and EVSE assignments it records the
    station's site when the assignment was made (site-restricted users see only their sites').
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tariff_id: ResourceId
    site_id: ResourceId | None = None
    station_id: StationId | None = None
    evse_id: EvseId | None = None
    group_id: GroupId | None = None
    id_token: TokenValue | None = None
    created_at: datetime | None = None
    # In force from (inclusive) until (exclusive); None: since always, until further notice.
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.evse_id is not None and self.station_id is None:
            raise ValueError("an EVSE is named with its station")
        if self.group_id is not None and self.id_token is not None:
            raise ValueError("an assignment is for a driver group or for one id token, not both")
        if (
            self.valid_from is not None
            and self.valid_until is not None
            and self.valid_until < self.valid_from
        ):
            raise ValueError("an assignment cannot end before it takes effect")
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        """Derived from the slot and `valid_from`: unique across the slot's history."""
        if self.valid_from is None:
            return assignment_id(self.slot)
        return assignment_id(f"{self.slot}|{self.valid_from.astimezone(UTC).isoformat()}")

    @property
    def ended(self) -> bool:
        """Whether it was deleted (it stays stored for the sessions that started under it)."""
        return self.valid_until is not None

    def in_force_at(self, moment: datetime) -> bool:
        """Whether a session starting at `moment` comes under it."""
        started = self.valid_from is None or self.valid_from <= moment
        return started and (self.valid_until is None or moment < self.valid_until)

    @property
    def where(self) -> Where:
        """How specific the place is."""
        if self.evse_id is not None:
            return Where.EVSE
        if self.station_id is not None:
            return Where.STATION
        return Where.SITE if self.site_id is not None else Where.TENANT

    @property
    def who(self) -> Who:
        """How specific the drivers are."""
        if self.id_token is not None:
            return Who.TOKEN
        return Who.GROUP if self.group_id is not None else Who.ANYONE

    @property
    def precedence(self) -> tuple[Who, Where]:
        """Compared as a tuple: WHO first, then WHERE (see the module docstring)."""
        return self.who, self.where

    @property
    def slot(self) -> str:
        """The place and drivers: at most one assignment per slot."""
        place = {
            Where.TENANT: "tenant",
            Where.SITE: f"site:{self.site_id}",
            Where.STATION: f"station:{self.station_id}",
            Where.EVSE: f"evse:{self.station_id}/{self.evse_id}",
        }[self.where]
        drivers = {
            Who.ANYONE: "anyone",
            Who.GROUP: f"group:{self.group_id}",
            Who.TOKEN: f"token:{token_key(self.id_token or '')}",
        }[self.who]
        return f"{place}|{drivers}"

    def matches(
        self,
        *,
        site_id: str | None,
        station_id: str,
        evse_id: int | None,
        group_id: str | None,
        id_token: str | None,
    ) -> bool:
        """Whether the assignment covers a session at this place, for these drivers."""
        return self._place_matches(site_id, station_id, evse_id) and self._drivers_match(
            group_id, id_token
        )

    def _place_matches(self, site_id: str | None, station_id: str, evse_id: int | None) -> bool:
        where = self.where
        if where is Where.TENANT:
            return True
        if where is Where.SITE:
            return site_id is not None and self.site_id == site_id
        if self.station_id != station_id:
            return False
        return where is Where.STATION or self.evse_id == evse_id

    def _drivers_match(self, group_id: str | None, id_token: str | None) -> bool:
        who = self.who
        if who is Who.ANYONE:
            return True
        if who is Who.GROUP:
            return group_id is not None and self.group_id == group_id
        return id_token is not None and token_key(self.id_token or "") == token_key(id_token)


def assignment_id(slot: str) -> str:
    """A short id, safe in a URL path, that derives from the slot (a retried create collides)."""
    return "ta-" + hashlib.sha256(slot.encode()).hexdigest()[:24]


def resolve(
    assignments: list[TariffAssignment] | tuple[TariffAssignment, ...],
    *,
    site_id: str | None,
    station_id: str,
    evse_id: int | None,
    group_id: str | None,
    id_token: str | None,
    at: datetime | None = None,
) -> TariffAssignment | None:
    """The assignment that applies to a session here, by precedence; None when none matches.

    Among the assignments in force `at` the session's start (None: those not ended).
    """
    matching = [
        a
        for a in assignments
        if (a.in_force_at(at) if at is not None else not a.ended)
        and a.matches(
            site_id=site_id,
            station_id=station_id,
            evse_id=evse_id,
            group_id=group_id,
            id_token=id_token,
        )
    ]
    # Equal precedence means the same slot (module docstring): the newer wins; `id` only makes
    # ties impossible.
    return max(matching, key=lambda a: (a.precedence, _since(a), a.id), default=None)


_ALWAYS = datetime.min.replace(tzinfo=UTC)


def _since(assignment: TariffAssignment) -> datetime:
    return assignment.valid_from if assignment.valid_from is not None else _ALWAYS
