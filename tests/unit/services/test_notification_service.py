"""NotificationService: DataTransfer routing, status notes, certificates, charging needs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.conftest import World
from tests.fakes import (
    T0,
    FixedClock,
    InMemoryChargingNeedsRepository,
    InMemoryStationNoteRepository,
    a_binding,
)

from csms.domain.connection import ConnectionBinding
from csms.domain.notifications import (
    MAX_DETAIL_CHARS,
    RETRANSMISSION_WINDOW,
    CertificateOperation,
    CertificateRequest,
    ChargingNeeds,
    ChargingNeedsAnswer,
    DataTransferReply,
    DataTransferRequest,
    DataTransferStatus,
    EnergyTransferMode,
    FirmwareStatus,
    FirmwareStatusReport,
    LogStatusReport,
    LogUploadStatus,
    NoteKind,
    PublishFirmwareStatus,
    PublishFirmwareStatusReport,
    SecurityEvent,
    StationReport,
)
from csms.services.notifications import NO_CA, NotificationService, VendorHandler

BINDING = a_binding()
SECRET = "meter-serial-4711-and-a-card-uid"


def a_service(
    vendors: dict[str, VendorHandler] | None = None,
) -> tuple[NotificationService, InMemoryStationNoteRepository, FixedClock]:
    notes = InMemoryStationNoteRepository()
    clock = FixedClock()
    service = NotificationService(
        notes=notes, needs=InMemoryChargingNeedsRepository(), clock=clock, vendors=vendors
    )
    return service, notes, clock


def echo(binding: ConnectionBinding, request: DataTransferRequest) -> DataTransferReply:
    """A vendor handler that knows one message and answers with what it got."""
    if request.message_id != "Echo":
        return DataTransferReply(status=DataTransferStatus.UNKNOWN_MESSAGE_ID)
    return DataTransferReply(
        status=DataTransferStatus.ACCEPTED,
        data={"station": binding.station_id, "got": request.data},
    )


# -- DataTransfer -----------------------------------------------------------------------------


def test_data_transfer_unknown_vendor_is_answered_unknownvendorid_and_kept(world: World) -> None:
    # GIVEN the default service: no vendor handlers at all
    request = DataTransferRequest(vendor_id="com.acme", message_id="Stats", data={"n": 1})
    # WHEN a station sends a DataTransfer
    reply = world.notifications.data_transfer(BINDING, request, unique_id="dt-1")
    # THEN it is UnknownVendorId, and the message is kept with the answer given
    assert reply == DataTransferReply(status=DataTransferStatus.UNKNOWN_VENDOR_ID)
    [note] = world.notifications.notes("CP-1", NoteKind.DATA_TRANSFER, 10).items
    assert (note.subject, note.name, note.status) == ("com.acme", "Stats", "UnknownVendorId")
    assert note.detail == '{"n":1}'
    assert (note.at, note.received_at, note.unique_id) == (T0, T0, "dt-1")
    assert world.notes.tenants["CP-1"] == "tenant-a"


def test_data_transfer_known_vendor_is_routed_to_its_handler_whatever_the_case() -> None:
    # GIVEN a handler registered for com.acme
    service, _, _ = a_service({"com.acme": echo})
    # WHEN a station names the vendor in another case (1.6 vendorId is a CiString)
    request = DataTransferRequest(vendor_id="COM.Acme", message_id="Echo", data="ping")
    reply = service.data_transfer(BINDING, request, unique_id="dt-1")
    # THEN the handler answers, with the station's binding at hand
    assert reply == DataTransferReply(
        status=DataTransferStatus.ACCEPTED, data={"station": "CP-1", "got": "ping"}
    )
    latest = service.latest("CP-1", NoteKind.DATA_TRANSFER)
    assert latest is not None
    assert latest.status == "Accepted"


def test_data_transfer_unknown_message_id_is_the_handlers_answer() -> None:
    # GIVEN a handler that knows only the Echo message
    service, _, _ = a_service({"com.acme": echo})
    # WHEN another message of that vendor arrives
    reply = service.data_transfer(
        BINDING, DataTransferRequest(vendor_id="com.acme", message_id="Other"), unique_id="dt-1"
    )
    # THEN the handler's UnknownMessageId is the answer
    assert reply.status is DataTransferStatus.UNKNOWN_MESSAGE_ID


def test_data_transfer_failing_handler_is_rejected_and_logged_without_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a handler that fails, quoting the station's data in its exception
    def broken(binding: ConnectionBinding, request: DataTransferRequest) -> DataTransferReply:
        raise KeyError(f"no such meter {request.data}")

    service, notes, _ = a_service({"com.acme": broken})
    request = DataTransferRequest(vendor_id="com.acme", message_id="Meter", data=SECRET)
    # WHEN the station sends its DataTransfer
    with caplog.at_level(logging.INFO, logger="csms"):
        reply = service.data_transfer(BINDING, request, unique_id="dt-1")
    # THEN it is Rejected (the station gets an answer, not an error), and the log says which
    # handler failed how, never with the data
    assert reply == DataTransferReply(status=DataTransferStatus.REJECTED)
    [record] = [r for r in caplog.records if r.getMessage() == "vendor DataTransfer handler failed"]
    assert record.__dict__["error"] == "KeyError"
    assert record.__dict__["vendor_id"] == "com.acme"
    assert record.__dict__["at"].endswith(".py:" + record.__dict__["at"].rsplit(":", 1)[1])
    assert record.exc_info is None
    assert all(SECRET not in str(r.__dict__) for r in caplog.records)
    [note] = notes.list("CP-1", NoteKind.DATA_TRANSFER, 10).items
    assert note.status == "Rejected"


@pytest.mark.parametrize(
    "answer",
    [
        None,
        {"status": "Accepted"},
        DataTransferReply(status="Accepted"),  # type: ignore[arg-type]
        DataTransferReply(status=DataTransferStatus.ACCEPTED, data={"at": object()}),  # type: ignore[dict-item]
        DataTransferReply(status=DataTransferStatus.ACCEPTED, data=float("nan")),
    ],
    ids=["nothing", "a-dict", "plain-status", "unwritable-data", "nan"],
)
def test_data_transfer_handler_answering_no_valid_reply_is_rejected(answer: Any) -> None:
    # GIVEN a handler that answers something the station cannot be sent
    service, _, _ = a_service({"com.acme": lambda binding, request: answer})
    # WHEN the station sends its DataTransfer
    reply = service.data_transfer(
        BINDING, DataTransferRequest(vendor_id="com.acme"), unique_id="dt-1"
    )
    # THEN it is Rejected
    assert reply == DataTransferReply(status=DataTransferStatus.REJECTED)


def test_data_transfer_long_data_is_kept_cut() -> None:
    # GIVEN data far longer than a note keeps
    service, notes, _ = a_service()
    data = "x" * (MAX_DETAIL_CHARS * 3)
    # WHEN it arrives
    service.data_transfer(BINDING, DataTransferRequest(vendor_id="v", data=data), unique_id="dt-1")
    # THEN the note keeps the start of its JSON text, and says it was cut
    [note] = notes.list("CP-1", NoteKind.DATA_TRANSFER, 10).items
    assert note.truncated
    assert note.detail == ('"' + data)[:MAX_DETAIL_CHARS]


def test_data_transfer_without_data_keeps_no_detail() -> None:
    # GIVEN a DataTransfer without data
    service, notes, _ = a_service()
    # WHEN it arrives
    service.data_transfer(BINDING, DataTransferRequest(vendor_id="v"), unique_id="dt-1")
    # THEN the note has no detail, and nothing was cut
    [note] = notes.list("CP-1", NoteKind.DATA_TRANSFER, 10).items
    assert (note.detail, note.truncated, note.name) == (None, False, None)


# -- retransmissions ----------------------------------------------------------------------------


def test_retransmitted_notification_is_stored_once(caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN a firmware status kept
    service, notes, clock = a_service()
    report = FirmwareStatusReport(status=FirmwareStatus.INSTALLING, request_id=3)
    service.record_firmware_status(BINDING, report, unique_id="fw-1")
    # WHEN the station sends the same message again (same id) a minute later
    clock.advance(60)
    with caplog.at_level(logging.INFO, logger="csms"):
        service.record_firmware_status(BINDING, report, unique_id="fw-1")
    # THEN there is still one note, the first, and the retransmission is logged
    [note] = notes.list("CP-1", NoteKind.FIRMWARE_STATUS, 10).items
    assert note.received_at == T0
    assert "retransmitted notification stored once" in caplog.text


@pytest.mark.parametrize(
    ("second_id", "second_status", "delay"),
    [
        ("fw-2", FirmwareStatus.INSTALLING, timedelta(seconds=1)),
        ("fw-1", FirmwareStatus.INSTALLED, timedelta(seconds=1)),
        ("fw-1", FirmwareStatus.INSTALLING, RETRANSMISSION_WINDOW + timedelta(seconds=1)),
    ],
    ids=["new-id", "new-content", "after-the-window"],
)
def test_same_id_or_content_alone_is_a_new_message(
    second_id: str, second_status: FirmwareStatus, delay: timedelta
) -> None:
    # GIVEN a firmware status kept
    service, notes, clock = a_service()
    service.record_firmware_status(
        BINDING, FirmwareStatusReport(status=FirmwareStatus.INSTALLING), unique_id="fw-1"
    )
    # WHEN a message with another id, other content, or the same long after arrives
    clock.advance(delay.total_seconds())
    service.record_firmware_status(
        BINDING, FirmwareStatusReport(status=second_status), unique_id=second_id
    )
    # THEN it is a message of its own (1.6 ids repeat across connections)
    assert len(notes.list("CP-1", NoteKind.FIRMWARE_STATUS, 10).items) == 2


# -- status notifications -----------------------------------------------------------------------


def test_firmware_status_latest_is_what_an_operator_reads() -> None:
    # GIVEN a firmware update's progress, one message every minute
    service, _, clock = a_service()
    for number, status in enumerate(
        [FirmwareStatus.DOWNLOADING, FirmwareStatus.DOWNLOADED, FirmwareStatus.INSTALLING]
    ):
        clock.advance(60)
        service.record_firmware_status(
            BINDING, FirmwareStatusReport(status=status, request_id=7), unique_id=f"fw-{number}"
        )
    # WHEN the operator reads the station's firmware status
    latest = service.latest("CP-1", NoteKind.FIRMWARE_STATUS)
    # THEN it is "Installing since" the time it was reported, for update 7; the log has all three
    assert latest is not None
    assert (latest.status, latest.at, latest.reference) == ("Installing", clock.at, 7)
    log = service.notes("CP-1", NoteKind.FIRMWARE_STATUS, 10).items
    assert [note.status for note in log] == ["Installing", "Downloaded", "Downloading"]
    assert service.latest("CP-1", NoteKind.LOG_STATUS) is None


def test_log_status_is_kept_with_its_request() -> None:
    # GIVEN a log upload in progress
    service, _, _ = a_service()
    # WHEN the station reports it
    service.record_log_status(
        BINDING, LogStatusReport(status=LogUploadStatus.UPLOADING, request_id=4), unique_id="l-1"
    )
    # THEN it is the station's latest log status
    latest = service.latest("CP-1", NoteKind.LOG_STATUS)
    assert latest is not None
    assert (latest.status, latest.reference) == ("Uploading", 4)


def test_publish_firmware_status_keeps_its_locations() -> None:
    # GIVEN a local controller that published firmware at two URLs
    service, notes, _ = a_service()
    report = PublishFirmwareStatusReport(
        status=PublishFirmwareStatus.PUBLISHED, request_id=9, locations=("https://a", "ftp://b")
    )
    # WHEN it reports so
    service.record_publish_firmware_status(BINDING, report, unique_id="p-1")
    # THEN the note has the status and the URLs
    [note] = notes.list("CP-1", NoteKind.PUBLISH_FIRMWARE_STATUS, 10).items
    assert (note.status, note.reference, note.detail) == (
        "Published",
        9,
        '["https://a","ftp://b"]',
    )


def test_publish_firmware_status_without_locations_keeps_no_detail() -> None:
    # GIVEN a publishing status without URLs
    service, notes, _ = a_service()
    # WHEN it is reported
    service.record_publish_firmware_status(
        BINDING,
        PublishFirmwareStatusReport(status=PublishFirmwareStatus.DOWNLOADING),
        unique_id="p-1",
    )
    # THEN the note has no detail
    [note] = notes.list("CP-1", NoteKind.PUBLISH_FIRMWARE_STATUS, 10).items
    assert note.detail is None


def test_security_event_is_kept_at_the_stations_time() -> None:
    # GIVEN a security event the station queued while offline, an hour ago
    service, notes, _ = a_service()
    happened = T0 - timedelta(hours=1)
    event = SecurityEvent(type="TamperDetectionActivated", at=happened, tech_info="lid open")
    # WHEN it arrives
    service.record_security_event(BINDING, event, unique_id="s-1")
    # THEN the note is at the station's time, received now
    [note] = notes.list("CP-1", NoteKind.SECURITY_EVENT, 10).items
    assert (note.at, note.received_at) == (happened, T0)
    assert (note.subject, note.info) == ("TamperDetectionActivated", "lid open")


def test_report_keeps_every_field_it_indexes() -> None:
    # GIVEN one part of a multi-part report
    service, notes, _ = a_service()
    generated = T0 - timedelta(seconds=5)
    report = StationReport(
        kind=NoteKind.REPORT,
        at=generated,
        evse_id=1,
        reference=3,
        seq_no=2,
        tbc=True,
        subject="CSO",
        status="Expired",
        content=[{"component": {"name": "EVSE"}}],
    )
    # WHEN it arrives
    service.record_report(BINDING, report, unique_id="r-1")
    # THEN the note has it all
    [note] = notes.list("CP-1", NoteKind.REPORT, 10).items
    assert note.model_dump(include={"at", "evse_id", "reference", "seq_no", "tbc"}) == {
        "at": generated,
        "evse_id": 1,
        "reference": 3,
        "seq_no": 2,
        "tbc": True,
    }
    assert (note.subject, note.status) == ("CSO", "Expired")
    assert note.detail == '[{"component":{"name":"EVSE"}}]'


def test_report_parts_differing_only_by_time_are_two_notes() -> None:
    # GIVEN a station whose ids restart, sending the same event content at two times
    service, notes, _ = a_service()
    for minutes in (0, 5):
        service.record_report(
            BINDING,
            StationReport(kind=NoteKind.EVENT, at=T0 + timedelta(minutes=minutes), seq_no=0),
            unique_id="e-1",
        )
    # WHEN the log is read
    # THEN both are there: the station's time is part of what it said
    assert len(notes.list("CP-1", NoteKind.EVENT, 10).items) == 2


# -- certificates -------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", list(CertificateOperation))
def test_certificate_request_is_refused_clearly_until_a_ca_exists(
    world: World, operation: CertificateOperation
) -> None:
    # GIVEN no certificate authority
    request = CertificateRequest(operation=operation, subject="V2GCertificate")
    # WHEN a station asks for a certificate (or its status)
    answer = world.notifications.request_certificate(BINDING, request, unique_id="c-1")
    # THEN it is refused with a short reason and an explanation, and the request is kept
    assert answer == NO_CA
    assert not answer.accepted
    assert answer.reason_code == "NoCA"
    assert "no certificate authority" in answer.info.lower()
    latest = world.notifications.latest("CP-1", NoteKind.CERTIFICATE_REQUEST)
    assert latest is not None
    assert (latest.name, latest.subject, latest.status, latest.info) == (
        operation.value,
        "V2GCertificate",
        "Rejected",
        "NoCA",
    )


# -- charging needs -----------------------------------------------------------------------------


def test_charging_needs_are_stored_per_evse_and_accepted(world: World) -> None:
    # GIVEN the needs of a vehicle on EVSE 2
    needs = ChargingNeeds(
        evse_id=2,
        requested_transfer=EnergyTransferMode.AC_THREE_PHASE,
        departure_time=datetime(2026, 11, 24, 17, 30, tzinfo=UTC),
        energy_amount_wh=42_000,
        ev_max_current_a=32,
    )
    # WHEN the station tells them
    answer = world.notifications.record_charging_needs(BINDING, needs, unique_id="n-1")
    # THEN they are accepted and stored, stamped with the time and the CALL they came in
    assert answer is ChargingNeedsAnswer.ACCEPTED
    [stored] = world.notifications.charging_needs("CP-1")
    assert stored == needs.model_copy(update={"received_at": T0, "message_id": stored.message_id})
    assert str(stored.message_id).startswith("n-1:")
    assert world.needs.tenants["CP-1"] == "tenant-a"


def test_charging_needs_newer_replace_older_of_the_same_evse(world: World) -> None:
    # GIVEN needs of EVSE 1
    first = ChargingNeeds(evse_id=1, requested_transfer=EnergyTransferMode.DC)
    world.notifications.record_charging_needs(BINDING, first, unique_id="n-1")
    # WHEN newer needs of EVSE 1 arrive a minute later
    world.clock.advance(60)
    second = first.model_copy(update={"energy_amount_wh": 10_000})
    world.notifications.record_charging_needs(BINDING, second, unique_id="n-2")
    # THEN only the newer are held
    [held] = world.notifications.charging_needs("CP-1")
    assert held.energy_amount_wh == 10_000
    assert held.received_at == T0 + timedelta(seconds=60)
