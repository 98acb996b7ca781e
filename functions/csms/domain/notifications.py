"""What stations report besides boots, connector statuses and transactions (version-neutral).

Firmware, log and publish-firmware progress, security events, vendor DataTransfers, device-model
and monitoring reports, charging limits and profiles, display messages, reservation updates and
certificate requests are kept as notes in the station's log, one per message, each the latest of
its kind until the next (so "firmware: Installing since ..." is one read). The charging needs of an
ISO 15118 vehicle are kept per EVSE, for smart charging.

1.6 names that 2.0.1 renamed map to the 2.0.1 model: DiagnosticsStatusNotification is a log upload
(2.0.1 GetLog with logType DiagnosticsLog), its `UploadFailed` the 2.0.1 `UploadFailure`; 1.6
SignedFirmwareStatusNotification is the 2.0.1 FirmwareStatusNotification.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

from csms.domain.connector import MAX_ID

# A station retransmits a CALL it got no answer to, with the same message id, once it is back
# online (OCPP-J); the same message (id and content) seen again within this window is that
# retransmission. Ids alone are not enough: 1.6 asks them to be unique per connection only, so
# they repeat across the reconnects API Gateway forces every 2 hours.
RETRANSMISSION_WINDOW = timedelta(hours=1)

# A note keeps the JSON text of what the message carried up to this many characters (about
# 2 KB, two DynamoDB write units): enough to read a DataTransfer or an event, not a whole report.
MAX_DETAIL_CHARS = 2000

# OCPP integers are 32-bit; anything larger in a payload is refused rather than stored.
MAX_INT32 = 2_147_483_647


class NoteKind(StrEnum):
    """What a note is about; one latest note is held per kind and station."""

    DATA_TRANSFER = "DataTransfer"
    FIRMWARE_STATUS = "FirmwareStatus"
    LOG_STATUS = "LogStatus"
    PUBLISH_FIRMWARE_STATUS = "PublishFirmwareStatus"
    SECURITY_EVENT = "SecurityEvent"
    CERTIFICATE_REQUEST = "CertificateRequest"
    EVENT = "Event"
    REPORT = "Report"
    MONITORING_REPORT = "MonitoringReport"
    CUSTOMER_INFORMATION = "CustomerInformation"
    DISPLAY_MESSAGES = "DisplayMessages"
    CHARGING_LIMIT = "ChargingLimit"
    CHARGING_LIMIT_CLEARED = "ChargingLimitCleared"
    CHARGING_PROFILES = "ChargingProfiles"
    EV_CHARGING_SCHEDULE = "EVChargingSchedule"
    RESERVATION_STATUS = "ReservationStatus"


class FirmwareStatus(StrEnum):
    """Firmware update progress: the 2.0.1 values, of which 1.6 uses the first seven."""

    DOWNLOADED = "Downloaded"
    DOWNLOAD_FAILED = "DownloadFailed"
    DOWNLOADING = "Downloading"
    IDLE = "Idle"
    INSTALLATION_FAILED = "InstallationFailed"
    INSTALLING = "Installing"
    INSTALLED = "Installed"
    DOWNLOAD_SCHEDULED = "DownloadScheduled"
    DOWNLOAD_PAUSED = "DownloadPaused"
    INSTALL_REBOOTING = "InstallRebooting"
    INSTALL_SCHEDULED = "InstallScheduled"
    INSTALL_VERIFICATION_FAILED = "InstallVerificationFailed"
    INVALID_SIGNATURE = "InvalidSignature"
    SIGNATURE_VERIFIED = "SignatureVerified"


class LogUploadStatus(StrEnum):
    """Log (and 1.6 diagnostics) upload progress, as 2.0.1 UploadLogStatusEnumType."""

    BAD_MESSAGE = "BadMessage"
    IDLE = "Idle"
    NOT_SUPPORTED_OPERATION = "NotSupportedOperation"
    PERMISSION_DENIED = "PermissionDenied"
    UPLOADED = "Uploaded"
    UPLOAD_FAILURE = "UploadFailure"
    UPLOADING = "Uploading"
    ACCEPTED_CANCELED = "AcceptedCanceled"


class PublishFirmwareStatus(StrEnum):
    """Progress of publishing firmware to a local controller's clients (2.0.1 only)."""

    IDLE = "Idle"
    DOWNLOAD_SCHEDULED = "DownloadScheduled"
    DOWNLOADING = "Downloading"
    DOWNLOADED = "Downloaded"
    PUBLISHED = "Published"
    DOWNLOAD_FAILED = "DownloadFailed"
    DOWNLOAD_PAUSED = "DownloadPaused"
    INVALID_CHECKSUM = "InvalidChecksum"
    CHECKSUM_VERIFIED = "ChecksumVerified"
    PUBLISH_FAILED = "PublishFailed"


class FirmwareStatusReport(BaseModel):
    """A station's firmware update progress; `request_id` names the update it belongs to."""

    model_config = ConfigDict(frozen=True)

    status: FirmwareStatus
    request_id: int | None = None


class LogStatusReport(BaseModel):
    """A station's log upload progress; `request_id` names the GetLog it belongs to."""

    model_config = ConfigDict(frozen=True)

    status: LogUploadStatus
    request_id: int | None = None


class PublishFirmwareStatusReport(BaseModel):
    """A local controller's firmware publishing progress, with the URLs it publishes at."""

    model_config = ConfigDict(frozen=True)

    status: PublishFirmwareStatus
    request_id: int | None = None
    locations: tuple[str, ...] = ()


class SecurityEvent(BaseModel):
    """A security event (same shape in the 1.6 security extension and 2.0.1)."""

    model_config = ConfigDict(frozen=True)

    type: str
    at: AwareDatetime
    tech_info: str | None = None


class DataTransferStatus(StrEnum):
    """Answer to a DataTransfer (same four values in 1.6 and 2.0.1)."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    UNKNOWN_MESSAGE_ID = "UnknownMessageId"
    UNKNOWN_VENDOR_ID = "UnknownVendorId"


@dataclass(frozen=True)
class DataTransferRequest:
    """A vendor-specific message. 1.6 data is always a string; 2.0.1 data is any JSON value."""

    vendor_id: str
    message_id: str | None = None
    data: JsonValue = None


@dataclass(frozen=True)
class DataTransferReply:
    """What a vendor handler answers: a status and optional data (a string for 1.6 stations)."""

    status: DataTransferStatus
    data: JsonValue = None


class CertificateOperation(StrEnum):
    """What a station asks of the CSMS's certificate authority (the action names of both)."""

    SIGN = "SignCertificate"
    EV_CERTIFICATE = "Get15118EVCertificate"
    CERTIFICATE_STATUS = "GetCertificateStatus"


class CertificateUse(StrEnum):
    """Which certificate a CSR is for (2.0.1 CertificateSigningUseEnumType)."""

    CHARGING_STATION = "ChargingStationCertificate"
    V2G = "V2GCertificate"


class CertificateRequest(BaseModel):
    """A certificate request, without its CSR or EXI body (nothing signs them yet).

    `subject` says what the request is for: the certificate use of a CSR, Install/Update for an
    EV certificate, the serial number of a certificate whose OCSP status is asked.
    """

    model_config = ConfigDict(frozen=True)

    operation: CertificateOperation
    subject: str | None = None


class CertificateAnswer(BaseModel):
    """The answer to a certificate request, with the reason a station (and operator) can read."""

    model_config = ConfigDict(frozen=True)

    accepted: bool
    reason_code: str = Field(max_length=20)
    info: str = Field(max_length=512)


class EnergyTransferMode(StrEnum):
    """How the vehicle asks to be charged (2.0.1 EnergyTransferModeEnumType)."""

    DC = "DC"
    AC_SINGLE_PHASE = "AC_single_phase"
    AC_TWO_PHASE = "AC_two_phase"
    AC_THREE_PHASE = "AC_three_phase"


class ChargingNeedsAnswer(StrEnum):
    """Answer to NotifyEVChargingNeeds (2.0.1 NotifyEVChargingNeedsStatusEnumType)."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    PROCESSING = "Processing"


class ChargingNeeds(BaseModel):
    """What an ISO 15118 vehicle on an EVSE needs (2.0.1 NotifyEVChargingNeeds), for smart charging.

    One record per station and EVSE: a newer one replaces it. Energy in Wh, power in W, current
    in A, voltage in V, states of charge in percent. `received_at` is set when it is stored.
    """

    model_config = ConfigDict(frozen=True)

    evse_id: int = Field(ge=0, le=MAX_ID)
    requested_transfer: EnergyTransferMode
    departure_time: AwareDatetime | None = None
    energy_amount_wh: int | None = Field(default=None, ge=0, le=MAX_INT32)
    ev_max_power_w: int | None = Field(default=None, ge=0, le=MAX_INT32)
    ev_max_current_a: int | None = Field(default=None, ge=0, le=MAX_INT32)
    ev_min_current_a: int | None = Field(default=None, ge=0, le=MAX_INT32)
    ev_max_voltage_v: int | None = Field(default=None, ge=0, le=MAX_INT32)
    state_of_charge_pct: int | None = Field(default=None, ge=0, le=100)
    ev_energy_capacity_wh: int | None = Field(default=None, ge=0, le=MAX_INT32)
    full_soc_pct: int | None = Field(default=None, ge=0, le=100)
    bulk_soc_pct: int | None = Field(default=None, ge=0, le=100)
    max_schedule_tuples: int | None = Field(default=None, ge=0, le=MAX_INT32)
    received_at: AwareDatetime | None = None
    # The unique id of the NotifyEVChargingNeeds that told them (a resend is recognised).
    message_id: str | None = None


@dataclass(frozen=True)
class StationReport:
    """A 2.0.1 notification kept as a note as it is: the fields a note indexes, and the content.

    Device-model, monitoring, charging-limit, charging-profile, display-message, customer and
    reservation reports have no use case yet beyond an operator reading them.
    """

    kind: NoteKind
    at: datetime | None = None
    evse_id: int | None = None
    reference: int | None = None
    seq_no: int | None = None
    tbc: bool = False
    subject: str | None = None
    status: str | None = None
    content: JsonValue = None


class StationNote(BaseModel):
    """One message of a station, as its log keeps it.

    `at` is when it happened by the station's clock where the message says so (a security
    event's timestamp, a report's generatedAt), else when the CSMS received it. `reference` is
    the CSMS request it follows up (requestId, reservationId). `detail` is the JSON text of the
    message's content, cut after MAX_DETAIL_CHARS (`truncated` then says so). `fingerprint` is
    the same for a retransmission of the same message (id and content) and nothing else.
    """

    model_config = ConfigDict(frozen=True)

    kind: NoteKind
    at: AwareDatetime
    received_at: AwareDatetime
    unique_id: str
    fingerprint: str
    status: str | None = None
    subject: str | None = None
    name: str | None = None
    evse_id: int | None = None
    reference: int | None = None
    seq_no: int | None = None
    tbc: bool = False
    info: str | None = None
    detail: str | None = None
    truncated: bool = False

    def is_retransmission_of(self, earlier: StationNote) -> bool:
        """True when this is the same message as `earlier`, sent again within the window."""
        return (
            self.fingerprint == earlier.fingerprint
            and self.received_at - earlier.received_at <= RETRANSMISSION_WINDOW
        )

    def without_detail(self) -> StationNote:
        """The note as the latest of its kind is held: everything but the bulky detail."""
        return self.model_copy(update={"detail": None, "truncated": False})


def json_text(value: JsonValue) -> str | None:
    """Compact JSON text of a value; None when there is none or it cannot be written as JSON.

    A payload passed the frame parser, but writing it back needs more stack than reading it:
    a value nested close to the recursion limit is not kept rather than failing the message.
    NaN and infinities (which a vendor handler could answer) are not JSON.
    """
    if value is None:
        return None
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (RecursionError, TypeError, ValueError):
        return None


def cut(text: str | None, limit: int = MAX_DETAIL_CHARS) -> tuple[str | None, bool]:
    """The text, at most `limit` characters, and whether it was cut."""
    if text is None or len(text) <= limit:
        return text, False
    return text[:limit], True


def fingerprint(*parts: object) -> str:
    """A digest of a message's id and content: equal for a retransmission, differs otherwise."""
    text = json.dumps(
        [part.isoformat() if isinstance(part, datetime) else part for part in parts],
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
