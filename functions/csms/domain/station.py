"""Stations, their identity, protocol negotiation and boot information (version-neutral)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from csms.domain.errors import InvalidStationIdError


class ProtocolVersion(StrEnum):
    """OCPP-J subprotocols, spelled as in `Sec-WebSocket-Protocol`."""

    OCPP201 = "ocpp2.0.1"
    OCPP16 = "ocpp1.6"


# Server preference: newest first (DESIGN §3).
SERVER_PREFERENCE: tuple[ProtocolVersion, ...] = (ProtocolVersion.OCPP201, ProtocolVersion.OCPP16)

# OCPP 1.6 chargeBoxIdentity and 2.0.1 identity are CiString48; the identity is part of a URL
# path, so we accept the unreserved URL characters plus a few common separators.
_STATION_ID = re.compile(r"^[A-Za-z0-9._~:*+@-]{1,48}$")


def validate_station_id(raw: str) -> str:
    """Return the station id if it is a well-formed identity, else raise."""
    if not _STATION_ID.fullmatch(raw):
        raise InvalidStationIdError(raw)
    return raw


def negotiate_subprotocol(
    offered: Iterable[str], pinned: ProtocolVersion | None = None
) -> ProtocolVersion | None:
    """Pick the subprotocol for a connection: the server's preference among those offered.

    A station pinned to one version gets that version or nothing.
    """
    offered_set = {item.strip() for item in offered}
    candidates = (pinned,) if pinned is not None else SERVER_PREFERENCE
    for version in candidates:
        if version.value in offered_set:
            return version
    return None


def parse_subprotocol_header(value: str | None) -> list[str]:
    """Split a `Sec-WebSocket-Protocol` header (comma-separated, any spacing)."""
    if not value:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


class RegistrationStatus(StrEnum):
    """Answer to a BootNotification (same three values in 1.6 and 2.0.1)."""

    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class BootReason(StrEnum):
    """Why the station booted. 1.6 does not say; 2.0.1 does (BootReasonEnumType)."""

    UNKNOWN = "Unknown"
    APPLICATION_RESET = "ApplicationReset"
    FIRMWARE_UPDATE = "FirmwareUpdate"
    LOCAL_RESET = "LocalReset"
    POWER_UP = "PowerUp"
    REMOTE_RESET = "RemoteReset"
    SCHEDULED_RESET = "ScheduledReset"
    TRIGGERED = "Triggered"
    WATCHDOG = "Watchdog"


class BootInfo(BaseModel):
    """What a station tells about itself when it boots."""

    model_config = ConfigDict(frozen=True)

    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None
    reason: BootReason = BootReason.UNKNOWN


# Station passwords as OCPP 2.0.1 SecurityCtrlr.BasicAuthPassword allows them (passwordString:
# 16-40 characters of letters, digits and `*-_=:+|@.`); 1.6 AuthorizationKey is set the same way.
STATION_PASSWORD_PATTERN = r"^[A-Za-z0-9*\-_=:+|@.]{16,40}$"  # noqa: S105 - a pattern
GENERATED_PASSWORD_LENGTH = 24


class StationState(StrEnum):
    """Whether the station is in service; a decommissioned one is refused at `$connect`."""

    ACTIVE = "active"
    DECOMMISSIONED = "decommissioned"


class PasswordUsed(StrEnum):
    """Which of a station's passwords opened a connection (two are valid during a rotation)."""

    CURRENT = "Current"
    PREVIOUS = "Previous"


class Station(BaseModel):
    """A registered charging station as the CSMS knows it.

    `version` counts changes of what operators manage (name, site, pin, password, state);
    connection and boot data change without it.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    tenant_id: str
    site_id: str | None = None
    name: str | None = None
    state: StationState = StationState.ACTIVE
    password_hash: str
    # The password before the last rotation, valid until `previous_password_until` or until
    # the station first connects with the new one (so it can be reconfigured without a gap).
    previous_password_hash: str | None = None
    previous_password_until: datetime | None = None
    pinned_protocol: ProtocolVersion | None = None
    # Frames of the station's connections are kept in the message log until then.
    trace_until: datetime | None = None
    registered_at: datetime | None = None
    decommissioned_at: datetime | None = None
    version: int = 0
    boot: BootInfo | None = None
    registration_status: RegistrationStatus | None = None
    last_boot_at: datetime | None = None
    online: bool = False
    protocol: ProtocolVersion | None = None
    connection_id: str | None = None
    connected_at: datetime | None = None
    disconnected_at: datetime | None = None

    @property
    def decommissioned(self) -> bool:
        """True once the station was taken out of service."""
        return self.state is StationState.DECOMMISSIONED

    def previous_password_valid(self, at: datetime) -> bool:
        """Whether the password before the last rotation still opens a connection at `at`."""
        return (
            self.previous_password_hash is not None
            and self.previous_password_until is not None
            and at < self.previous_password_until
        )
