"""CSMS-initiated calls to stations: the commands, their results, and the record of one call.

A command says what the operator wants, whatever the station's OCPP version: its `action` is
version-neutral (StartCharging, not RemoteStartTransaction / RequestStartTransaction).
csms.ocpp.v16 and csms.ocpp.v201 encode it into their own message, or refuse it with
CommandNotSupportedError (a 422 saying why) when their version cannot carry it.
docs/commands.md lists every command, its messages, and what is not supported where.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from csms.domain.configuration import ConfigurationResult, SettingRef, SettingText
from csms.domain.connector import MAX_ID
from csms.domain.tokens import AuthorizationStatus, IdTokenType, TokenValue

# OCPP integers are unbounded in the schemas, but stations store them as 32-bit signed ints.
MAX_INT = 2**31 - 1

# An EVSE (in 1.6: the connectorId of the same number).
EvseId = Annotated[int, Field(ge=1, le=MAX_ID)]
# An EVSE, or 0 for the whole station (1.6 connectorId 0, 2.0.1 evseId 0).
StationOrEvseId = Annotated[int, Field(ge=0, le=MAX_ID)]
ConnectorId = Annotated[int, Field(ge=1, le=MAX_ID)]
OcppId = Annotated[int, Field(ge=0, le=MAX_INT)]
Seconds = Annotated[int, Field(ge=0, le=MAX_INT)]
# 2.0.1 caps locations at 512 characters; 1.6 says anyURI. Scheme required: stations fetch it.
Url = Annotated[
    str, Field(min_length=1, max_length=512, pattern=r"^[A-Za-z][A-Za-z0-9+.\-]*://\S+$")
]
TransactionId = Annotated[str, Field(min_length=1, max_length=36)]


def derived_id(unique_id: str) -> int:
    """A positive 31-bit integer derived from a call's unique id: the same call, the same number.

    1.6 ReserveNow needs a reservationId, 2.0.1 a remoteStartId or requestId, all picked by the
    CSMS. Deriving them from the call means a command encoded twice (a retry, a queue re-encoding
    it for a new connection) carries the same number, and anyone holding the call id can
    correlate the station's later notifications (FirmwareStatusNotification.requestId, ...).
    """
    digest = hashlib.sha256(unique_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") & MAX_INT


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class ResetKind(StrEnum):
    """1.6 Hard/Soft map to 2.0.1 Immediate/OnIdle."""

    HARD = "Hard"
    SOFT = "Soft"


class TriggerableMessage(StrEnum):
    """Messages a CSMS can ask a station to send now (common to both versions)."""

    BOOT_NOTIFICATION = "BootNotification"
    HEARTBEAT = "Heartbeat"
    STATUS_NOTIFICATION = "StatusNotification"
    METER_VALUES = "MeterValues"
    FIRMWARE_STATUS_NOTIFICATION = "FirmwareStatusNotification"
    DIAGNOSTICS_STATUS_NOTIFICATION = "DiagnosticsStatusNotification"
    # The 2.0.1 name of the same message (GetDiagnostics became GetLog).
    LOG_STATUS_NOTIFICATION = "LogStatusNotification"


class Availability(StrEnum):
    """1.6 AvailabilityType = 2.0.1 OperationalStatusEnumType."""

    OPERATIVE = "Operative"
    INOPERATIVE = "Inoperative"


class LocalListUpdate(StrEnum):
    """Replace the station's local authorization list, or change entries of it."""

    FULL = "Full"
    DIFFERENTIAL = "Differential"


class LogType(StrEnum):
    """What to upload: 1.6 GetDiagnostics is a DiagnosticsLog; SecurityLog is 2.0.1 only."""

    DIAGNOSTICS = "DiagnosticsLog"
    SECURITY = "SecurityLog"


class ChargingProfilePurpose(StrEnum):
    """2.0.1 names; 1.6 calls the first ChargePointMaxProfile.

    ChargingStationExternalConstraints is left out: a CSMS never sets it (2.0.1 K01.FR.22).
    """

    CHARGING_STATION_MAX = "ChargingStationMaxProfile"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"


class ChargingProfileKind(StrEnum):
    """How a schedule's start is read."""

    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class RecurrencyKind(StrEnum):
    """How often a Recurring profile repeats."""

    DAILY = "Daily"
    WEEKLY = "Weekly"


class ChargingRateUnit(StrEnum):
    """Amperes per phase, or watts."""

    A = "A"
    W = "W"


class SchedulePeriod(_Model):
    """One step of a charging schedule: from `startPeriod` seconds on, at most `limit`."""

    start_period: Seconds
    limit: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
    number_phases: Annotated[int, Field(ge=1, le=3)] | None = None
    # 2.0.1 only: the phase a single-phase EV uses on a three-phase EVSE.
    phase_to_use: Annotated[int, Field(ge=1, le=3)] | None = None


class ChargingSchedule(_Model):
    """Limits over time. 1.6 sends limits with one decimal (its schema's multipleOf 0.1)."""

    # 2.0.1 only (required there): left out, the profile's id is used.
    id: OcppId | None = None
    start_schedule: AwareDatetime | None = None
    duration: Seconds | None = None
    charging_rate_unit: ChargingRateUnit
    min_charging_rate: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] | None = None
    periods: Annotated[tuple[SchedulePeriod, ...], Field(min_length=1, max_length=1024)]

    @model_validator(mode="after")
    def _periods_in_order(self) -> ChargingSchedule:
        # A period's start is also the previous one's end: the first starts the schedule.
        starts = [period.start_period for period in self.periods]
        if starts[0] != 0 or any(a >= b for a, b in pairwise(starts)):
            raise ValueError("periods must start at 0 and increase")
        return self


class ChargingProfile(_Model):
    """A raw charging profile: one shape for 1.6 csChargingProfiles and 2.0.1 chargingProfile."""

    id: OcppId
    stack_level: Annotated[int, Field(ge=0, le=MAX_ID)]
    purpose: ChargingProfilePurpose
    kind: ChargingProfileKind
    recurrency: RecurrencyKind | None = None
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None
    # A TxProfile's transaction: the session's id (2.0.1), its integer alias (1.6).
    transaction_id: TransactionId | None = None
    ocpp16_transaction_id: OcppId | None = None
    schedule: ChargingSchedule

    @model_validator(mode="after")
    def _consistent(self) -> ChargingProfile:
        if (self.recurrency is None) == (self.kind is ChargingProfileKind.RECURRING):
            raise ValueError("recurrency is required for, and only for, kind Recurring")
        has_transaction = self.transaction_id is not None or self.ocpp16_transaction_id is not None
        if has_transaction and self.purpose is not ChargingProfilePurpose.TX:
            raise ValueError("only a TxProfile names a transaction")
        if self.valid_from and self.valid_to and self.valid_from >= self.valid_to:
            raise ValueError("validFrom must be before validTo")
        return self


class StartChargingCommand(_Model):
    """Start a session for a token (1.6 RemoteStartTransaction / 2.0.1 RequestStartTransaction)."""

    action: Literal["StartCharging"] = "StartCharging"
    id_token: TokenValue
    token_type: IdTokenType = IdTokenType.CENTRAL
    # Left out, the station picks the EVSE (1.6: its connector of the same number).
    evse_id: EvseId | None = None
    group_id_token: TokenValue | None = None
    charging_profile: ChargingProfile | None = None
    # 2.0.1 only; derived from the call when left out (see `derived_id`).
    remote_start_id: OcppId | None = None

    @model_validator(mode="after")
    def _tx_profile_only(self) -> StartChargingCommand:
        # Both versions: the profile of a remote start is a TxProfile for the coming transaction.
        profile = self.charging_profile
        if profile is not None and (
            profile.purpose is not ChargingProfilePurpose.TX
            or profile.transaction_id is not None
            or profile.ocpp16_transaction_id is not None
        ):
            raise ValueError("chargingProfile must be a TxProfile without a transaction")
        return self

    def remote_start_id_for(self, unique_id: str) -> int:
        """The remoteStartId the CALL with this unique id carries."""
        return self.remote_start_id if self.remote_start_id is not None else derived_id(unique_id)


class StopChargingCommand(_Model):
    """Stop a session (1.6 RemoteStopTransaction / 2.0.1 RequestStopTransaction).

    The API names the session; delivery resolves it into the transaction id and, for a 1.6
    session, its integer alias, before the command is encoded.
    """

    action: Literal["StopCharging"] = "StopCharging"
    session_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    transaction_id: TransactionId | None = None
    ocpp16_transaction_id: OcppId | None = None

    @model_validator(mode="after")
    def _names_a_session(self) -> StopChargingCommand:
        if self.session_id is None and self.transaction_id is None:
            raise ValueError("name the session (sessionId) or its transaction (transactionId)")
        return self


class ResetCommand(_Model):
    """Reboot the station (or, 2.0.1 only, one EVSE)."""

    action: Literal["Reset"] = "Reset"
    kind: ResetKind = ResetKind.SOFT
    evse_id: EvseId | None = None


class UnlockConnectorCommand(_Model):
    """Unlock a connector (1.6: connectorId N is EVSE N's connector 1)."""

    action: Literal["UnlockConnector"] = "UnlockConnector"
    evse_id: EvseId
    connector_id: ConnectorId = 1


class ChangeAvailabilityCommand(_Model):
    """Make the station, an EVSE or a connector (in)operative."""

    action: Literal["ChangeAvailability"] = "ChangeAvailability"
    availability: Availability
    # Left out: the whole station.
    evse_id: EvseId | None = None
    connector_id: ConnectorId | None = None

    @model_validator(mode="after")
    def _connector_needs_evse(self) -> ChangeAvailabilityCommand:
        if self.connector_id is not None and self.evse_id is None:
            raise ValueError("connectorId needs an evseId")
        return self


class GetConfigurationCommand(_Model):
    """Read settings (1.6 GetConfiguration / 2.0.1 GetVariables).

    None listed: every setting (1.6), or every setting of the mapping table (2.0.1, which has
    no "all" in GetVariables; GetBaseReport answers through NotifyReport instead).
    """

    action: Literal["GetConfiguration"] = "GetConfiguration"
    settings: Annotated[tuple[SettingRef, ...], Field(max_length=100)] = ()


class SetConfigurationCommand(_Model):
    """Change one setting (1.6 ChangeConfiguration / 2.0.1 SetVariables).

    One per command: 1.6 ChangeConfiguration carries a single key.
    """

    action: Literal["SetConfiguration"] = "SetConfiguration"
    setting: SettingRef
    value: SettingText


class TriggerMessageCommand(_Model):
    """Ask the station to send one of its messages now."""

    action: Literal["TriggerMessage"] = "TriggerMessage"
    message: TriggerableMessage
    # 0 asks about the station itself (1.6 connectorId 0); left out, about everything.
    evse_id: Annotated[int, Field(ge=0, le=MAX_ID)] | None = None


class ClearCacheCommand(_Model):
    """Empty the station's authorization cache."""

    action: Literal["ClearCache"] = "ClearCache"


class LocalListEntry(_Model):
    """A token on the station's local list; in a differential update, no status deletes it."""

    id_token: TokenValue
    token_type: IdTokenType = IdTokenType.ISO14443
    status: AuthorizationStatus | None = None
    expires_at: AwareDatetime | None = None
    # 1.6 parentIdTag / 2.0.1 groupIdToken (of type Central).
    group_id_token: TokenValue | None = None


class SendLocalListCommand(_Model):
    """Replace (Full) or change (Differential) the local authorization list, as version N."""

    action: Literal["SendLocalList"] = "SendLocalList"
    update_type: LocalListUpdate
    # 0 means "no list" to GetLocalListVersion, so a sent list is version 1 or later. Left
    # out, the CSMS gives the station's next version (csms.services.commands).
    version: Annotated[int, Field(ge=1, le=MAX_INT)] | None = None
    # Bounded so the CALL stays inside API Gateway's 128 KB message.
    entries: Annotated[tuple[LocalListEntry, ...], Field(max_length=500)] = ()

    @model_validator(mode="after")
    def _full_list_has_statuses(self) -> SendLocalListCommand:
        if self.update_type is LocalListUpdate.FULL and any(e.status is None for e in self.entries):
            raise ValueError("every entry of a Full list needs a status")
        return self


class GetLocalListVersionCommand(_Model):
    """Ask for the version of the station's local authorization list."""

    action: Literal["GetLocalListVersion"] = "GetLocalListVersion"


class ReserveNowCommand(_Model):
    """Reserve an EVSE (or, left out, any EVSE) for a token until `expiresAt`."""

    action: Literal["ReserveNow"] = "ReserveNow"
    expires_at: AwareDatetime
    id_token: TokenValue
    token_type: IdTokenType = IdTokenType.CENTRAL
    evse_id: EvseId | None = None
    group_id_token: TokenValue | None = None
    # Derived from the call when left out (see `derived_id`); CancelReservation names it.
    reservation_id: OcppId | None = None

    def reservation_id_for(self, unique_id: str) -> int:
        """The reservation id the CALL with this unique id carries."""
        return self.reservation_id if self.reservation_id is not None else derived_id(unique_id)


class CancelReservationCommand(_Model):
    """Cancel a reservation."""

    action: Literal["CancelReservation"] = "CancelReservation"
    reservation_id: OcppId


class UpdateFirmwareCommand(_Model):
    """Download firmware from `location` from `retrieveAt` on, and install it."""

    action: Literal["UpdateFirmware"] = "UpdateFirmware"
    location: Url
    retrieve_at: AwareDatetime
    retries: Annotated[int, Field(ge=0, le=MAX_ID)] | None = None
    retry_interval: Seconds | None = None
    # 2.0.1 only:
    install_at: AwareDatetime | None = None
    signing_certificate: Annotated[str, Field(min_length=1, max_length=5500)] | None = None
    signature: Annotated[str, Field(min_length=1, max_length=800)] | None = None
    # 2.0.1 requestId; derived from the call when left out (see `derived_id`).
    request_id: OcppId | None = None

    def request_id_for(self, unique_id: str) -> int:
        """The requestId the CALL with this unique id carries (2.0.1)."""
        return self.request_id if self.request_id is not None else derived_id(unique_id)


class GetDiagnosticsCommand(_Model):
    """Upload diagnostics or logs to `location` (1.6 GetDiagnostics / 2.0.1 GetLog)."""

    action: Literal["GetDiagnostics"] = "GetDiagnostics"
    location: Url
    log_type: LogType = LogType.DIAGNOSTICS
    oldest: AwareDatetime | None = None
    latest: AwareDatetime | None = None
    retries: Annotated[int, Field(ge=0, le=MAX_ID)] | None = None
    retry_interval: Seconds | None = None
    # 2.0.1 requestId; derived from the call when left out (see `derived_id`).
    request_id: OcppId | None = None

    @model_validator(mode="after")
    def _window_in_order(self) -> GetDiagnosticsCommand:
        if self.oldest and self.latest and self.oldest > self.latest:
            raise ValueError("oldest must not be after latest")
        return self

    def request_id_for(self, unique_id: str) -> int:
        """The requestId the CALL with this unique id carries (2.0.1)."""
        return self.request_id if self.request_id is not None else derived_id(unique_id)


class SetChargingProfileCommand(_Model):
    """Install a raw charging profile on an EVSE, or (0) on the station."""

    action: Literal["SetChargingProfile"] = "SetChargingProfile"
    evse_id: StationOrEvseId
    profile: ChargingProfile

    @model_validator(mode="after")
    def _purpose_fits_target(self) -> SetChargingProfileCommand:
        # Both versions: a station maximum sits on the station, a TxProfile on an EVSE.
        purpose = self.profile.purpose
        if purpose is ChargingProfilePurpose.CHARGING_STATION_MAX and self.evse_id != 0:
            raise ValueError("a ChargingStationMaxProfile goes on evseId 0")
        if purpose is ChargingProfilePurpose.TX and self.evse_id == 0:
            raise ValueError("a TxProfile goes on an EVSE (evseId > 0)")
        return self


class ClearChargingProfileCommand(_Model):
    """Clear charging profiles by id, or by criteria (none given: every profile)."""

    action: Literal["ClearChargingProfile"] = "ClearChargingProfile"
    profile_id: OcppId | None = None
    evse_id: StationOrEvseId | None = None
    purpose: ChargingProfilePurpose | None = None
    stack_level: Annotated[int, Field(ge=0, le=MAX_ID)] | None = None


class GetCompositeScheduleCommand(_Model):
    """Ask for the schedule an EVSE (or, 0, the station) will follow for the next `duration` s."""

    action: Literal["GetCompositeSchedule"] = "GetCompositeSchedule"
    duration: Annotated[int, Field(ge=1, le=MAX_INT)]
    charging_rate_unit: ChargingRateUnit | None = None
    evse_id: StationOrEvseId = 0


Command = Annotated[
    StartChargingCommand
    | StopChargingCommand
    | ResetCommand
    | UnlockConnectorCommand
    | ChangeAvailabilityCommand
    | GetConfigurationCommand
    | SetConfigurationCommand
    | TriggerMessageCommand
    | ClearCacheCommand
    | SendLocalListCommand
    | GetLocalListVersionCommand
    | ReserveNowCommand
    | CancelReservationCommand
    | UpdateFirmwareCommand
    | GetDiagnosticsCommand
    | SetChargingProfileCommand
    | ClearChargingProfileCommand
    | GetCompositeScheduleCommand,
    Field(discriminator="action"),
]


class CommandStatus(StrEnum):
    """The station's answer to a command, version-neutral.

    Every status either version's CALLRESULTs spell, spelled as on the wire.
    """

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    SCHEDULED = "Scheduled"
    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    UNLOCKED = "Unlocked"
    UNLOCK_FAILED = "UnlockFailed"
    ONGOING_AUTHORIZED_TRANSACTION = "OngoingAuthorizedTransaction"
    UNKNOWN_CONNECTOR = "UnknownConnector"
    OCCUPIED = "Occupied"
    FAULTED = "Faulted"
    UNAVAILABLE = "Unavailable"
    FAILED = "Failed"
    VERSION_MISMATCH = "VersionMismatch"
    REBOOT_REQUIRED = "RebootRequired"
    UNKNOWN = "Unknown"  # ClearChargingProfile: no profile matched
    UNKNOWN_COMPONENT = "UnknownComponent"
    UNKNOWN_VARIABLE = "UnknownVariable"
    NOT_SUPPORTED_ATTRIBUTE_TYPE = "NotSupportedAttributeType"
    ACCEPTED_CANCELED = "AcceptedCanceled"  # a new firmware update or log upload replaced one
    INVALID_CERTIFICATE = "InvalidCertificate"
    REVOKED_CERTIFICATE = "RevokedCertificate"


class ReportedPeriod(_Model):
    """A period of a schedule as a station reported it (not checked: it is the station's)."""

    start_period: int
    limit: float
    number_phases: int | None = None
    phase_to_use: int | None = None


class CompositeSchedule(_Model):
    """The schedule an EVSE (0: the station) will follow, as GetCompositeSchedule reports it."""

    evse_id: int
    schedule_start: datetime | None = None
    duration: int | None = None
    charging_rate_unit: ChargingRateUnit | None = None
    min_charging_rate: float | None = None
    periods: tuple[ReportedPeriod, ...] = ()


class CommandResult(_Model):
    """A CALLRESULT read version-neutrally: the status, and what else the answer carries."""

    status: CommandStatus | None = None
    # 2.0.1 statusInfo: why, in the station's words.
    reason: str | None = None
    additional_info: str | None = None
    # RequestStartTransaction: the transaction already running on the EVSE, if any.
    transaction_id: str | None = None
    # GetDiagnostics / GetLog: the file the station will upload.
    file_name: str | None = None
    list_version: int | None = None
    configuration: ConfigurationResult | None = None
    schedule: CompositeSchedule | None = None
