"""Use cases of what stations report besides boots, statuses and transactions.

Every verb takes the connection's binding (station, tenant) and the CALL's message id, which
tells a retransmission (same id, same content) from a new message: a retransmission is answered
again and stored once.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping
from datetime import datetime

from pydantic import JsonValue

from csms.domain.connection import ConnectionBinding
from csms.domain.notifications import (
    CertificateAnswer,
    CertificateRequest,
    ChargingNeeds,
    ChargingNeedsAnswer,
    DataTransferReply,
    DataTransferRequest,
    DataTransferStatus,
    FirmwareStatusReport,
    LogStatusReport,
    NoteKind,
    PublishFirmwareStatusReport,
    SecurityEvent,
    StationNote,
    StationReport,
    cut,
    fingerprint,
    json_text,
)
from csms.services.ports import ChargingNeedsRepository, Clock, Page, StationNoteRepository
from csms.services.resends import message_key

logger = logging.getLogger(__name__)

# A vendor's DataTransfer handler: the station's binding and its request in, the answer out.
# Unknown message ids are the handler's to answer (UnknownMessageId). It is called again for a
# retransmitted message, so it must be idempotent itself.
VendorHandler = Callable[[ConnectionBinding, DataTransferRequest], DataTransferReply]

# Until the CSMS has a certificate authority, every certificate request gets this answer.
NO_CA = CertificateAnswer(
    accepted=False,
    reason_code="NoCA",
    info="No certificate authority is configured in this CSMS",
)


class NotificationService:
    """DataTransfer routing, status and event notifications, certificates, charging needs."""

    def __init__(
        self,
        *,
        notes: StationNoteRepository,
        needs: ChargingNeedsRepository,
        clock: Clock,
        vendors: Mapping[str, VendorHandler] | None = None,
    ) -> None:
        self._notes = notes
        self._needs = needs
        self._clock = clock
        # 1.6 vendorId is a CiString (case-insensitive); 2.0.1 compares it the same way here.
        self._vendors = {vendor.casefold(): handler for vendor, handler in (vendors or {}).items()}

    # -- DataTransfer --------------------------------------------------------------------------
    def data_transfer(
        self, binding: ConnectionBinding, request: DataTransferRequest, *, unique_id: str
    ) -> DataTransferReply:
        """Route a DataTransfer to its vendor's handler; keep the message and the answer given.

        An unknown vendor is answered UnknownVendorId. A handler that fails, or answers
        something that is not a DataTransferReply with JSON data, is answered Rejected.
        """
        handler = self._vendors.get(request.vendor_id.casefold())
        if handler is None:
            reply = DataTransferReply(status=DataTransferStatus.UNKNOWN_VENDOR_ID)
        else:
            reply = self._ask_vendor(handler, binding, request)
        self._record(
            binding,
            NoteKind.DATA_TRANSFER,
            unique_id,
            status=reply.status.value,
            subject=request.vendor_id,
            name=request.message_id,
            content=request.data,
        )
        return reply

    @staticmethod
    def _ask_vendor(
        handler: VendorHandler, binding: ConnectionBinding, request: DataTransferRequest
    ) -> DataTransferReply:
        log = {
            "station_id": binding.station_id,
            "vendor_id": request.vendor_id,
            "message_id": request.message_id,
        }
        try:
            reply = handler(binding, request)
        except Exception as exc:
            # Type and place only: the exception's text may quote the station's data.
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            logger.error(
                "vendor DataTransfer handler failed",
                extra={
                    **log,
                    "error": type(exc).__name__,
                    "at": f"{frame.filename}:{frame.lineno}",
                },
            )
            return DataTransferReply(status=DataTransferStatus.REJECTED)
        if (
            not isinstance(reply, DataTransferReply)
            or not isinstance(reply.status, DataTransferStatus)
            or (reply.data is not None and json_text(reply.data) is None)
        ):
            logger.error("vendor DataTransfer handler gave no valid reply", extra=log)
            return DataTransferReply(status=DataTransferStatus.REJECTED)
        return reply

    # -- status notifications ------------------------------------------------------------------
    def record_firmware_status(
        self, binding: ConnectionBinding, report: FirmwareStatusReport, *, unique_id: str
    ) -> None:
        """Keep firmware update progress; the latest one is the station's firmware status."""
        self._record(
            binding,
            NoteKind.FIRMWARE_STATUS,
            unique_id,
            status=report.status.value,
            reference=report.request_id,
        )

    def record_log_status(
        self, binding: ConnectionBinding, report: LogStatusReport, *, unique_id: str
    ) -> None:
        """Keep log (1.6: diagnostics) upload progress; the latest one is the station's."""
        self._record(
            binding,
            NoteKind.LOG_STATUS,
            unique_id,
            status=report.status.value,
            reference=report.request_id,
        )

    def record_publish_firmware_status(
        self, binding: ConnectionBinding, report: PublishFirmwareStatusReport, *, unique_id: str
    ) -> None:
        """Keep a local controller's firmware publishing progress, with its URLs."""
        self._record(
            binding,
            NoteKind.PUBLISH_FIRMWARE_STATUS,
            unique_id,
            status=report.status.value,
            reference=report.request_id,
            content=list(report.locations) or None,
        )

    def record_security_event(
        self, binding: ConnectionBinding, event: SecurityEvent, *, unique_id: str
    ) -> None:
        """Keep a security event at the station's time of it."""
        self._record(
            binding,
            NoteKind.SECURITY_EVENT,
            unique_id,
            at=event.at,
            subject=event.type,
            info=event.tech_info,
        )

    def record_report(
        self, binding: ConnectionBinding, report: StationReport, *, unique_id: str
    ) -> None:
        """Keep a report that has no use case of its own yet, for operators to read."""
        self._record(
            binding,
            report.kind,
            unique_id,
            at=report.at,
            status=report.status,
            subject=report.subject,
            evse_id=report.evse_id,
            reference=report.reference,
            seq_no=report.seq_no,
            tbc=report.tbc,
            content=report.content,
        )

    # -- certificates --------------------------------------------------------------------------
    def request_certificate(
        self, binding: ConnectionBinding, request: CertificateRequest, *, unique_id: str
    ) -> CertificateAnswer:
        """Refuse clearly: no certificate authority is configured. The request is kept."""
        answer = NO_CA
        self._record(
            binding,
            NoteKind.CERTIFICATE_REQUEST,
            unique_id,
            status="Accepted" if answer.accepted else "Rejected",
            subject=request.subject,
            name=request.operation.value,
            info=answer.reason_code,
        )
        return answer

    # -- smart charging input ------------------------------------------------------------------
    def record_charging_needs(
        self, binding: ConnectionBinding, needs: ChargingNeeds, *, unique_id: str
    ) -> ChargingNeedsAnswer:
        """Make these the EVSE's current charging needs. Smart charging reads them later.

        A retransmission (same unique id, same content) is recognised by the repository and
        changes nothing; the content counts because stations may reuse ids after a reboot.
        """
        stamped = needs.model_copy(
            update={"received_at": self._clock.now(), "message_id": message_key(unique_id, needs)}
        )
        self._needs.put(binding.station_id, binding.tenant_id, stamped)
        return ChargingNeedsAnswer.ACCEPTED

    # -- reading -------------------------------------------------------------------------------
    def latest(self, station_id: str, kind: NoteKind) -> StationNote | None:
        """The latest note of a kind (e.g. firmware: Installing, at ...), without its detail."""
        return self._notes.latest(station_id, kind)

    def notes(
        self, station_id: str, kind: NoteKind, limit: int, cursor: str | None = None
    ) -> Page[StationNote]:
        """A station's notes of one kind, newest first."""
        return self._notes.list(station_id, kind, limit, cursor)

    def charging_needs(self, station_id: str) -> list[ChargingNeeds]:
        """The current charging needs of each EVSE of a station."""
        return self._needs.list(station_id)

    # -- the one write -------------------------------------------------------------------------
    def _record(
        self,
        binding: ConnectionBinding,
        kind: NoteKind,
        unique_id: str,
        *,
        at: datetime | None = None,
        status: str | None = None,
        subject: str | None = None,
        name: str | None = None,
        evse_id: int | None = None,
        reference: int | None = None,
        seq_no: int | None = None,
        tbc: bool = False,
        info: str | None = None,
        content: JsonValue = None,
    ) -> None:
        received = self._clock.now()
        detail, truncated = cut(json_text(content))
        # The station's own time is part of what it said; the receipt time is not.
        fields = (status, subject, name, evse_id, reference, seq_no, tbc, info, detail)
        note = StationNote(
            kind=kind,
            at=at or received,
            received_at=received,
            unique_id=unique_id,
            fingerprint=fingerprint(kind.value, unique_id, at, *fields),
            status=status,
            subject=subject,
            name=name,
            evse_id=evse_id,
            reference=reference,
            seq_no=seq_no,
            tbc=tbc,
            info=info,
            detail=detail,
            truncated=truncated,
        )
        if not self._notes.record(binding.station_id, binding.tenant_id, note):
            logger.info(
                "retransmitted notification stored once",
                extra={
                    "station_id": binding.station_id,
                    "kind": kind.value,
                    "unique_id": unique_id,
                },
            )
