"""`_runtime.billing_service()` on moto: an ended session billed end to end, exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import boto3

from csms.adapters.dynamo_sessions import DynamoSessionRepository
from csms.adapters.dynamo_tariffs import DynamoTariffRepository
from csms.adapters.outbox import OutboxEncoder, entries_of
from csms.adapters.system import new_uuid
from csms.domain.billing.assignment import TariffAssignment
from csms.domain.billing.invoice import InvoiceKind, InvoiceState
from csms.domain.billing.tariff import Tariff
from csms.domain.connector import EvseRef
from csms.domain.sessions import MeterMark, Session, SessionState
from csms.domain.station import ProtocolVersion
from csms.handlers import _runtime
from csms.services.tariffs import TariffVersion
from csms_local import emulation

T = "default"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_billing_service_bills_an_ended_session_once_on_the_table(
    aws: emulation.EmulatedResources,
) -> None:
    # GIVEN a tariff for site-1 since yesterday and an ended session there (no Stripe key:
    # the invoice-only provider)
    _runtime.gateway()  # points the models at the emulated table
    tariffs = DynamoTariffRepository()
    tariff = Tariff.model_validate(
        {
            "id": "public",
            "version": 1,
            "name": "Public",
            "currency": "EUR",
            "taxRates": [{"name": "VAT", "percent": "19"}],
            "prices": {"energyPerKwh": "0.50"},
        }
    )
    assert tariffs.create_tariff(T, TariffVersion(tariff, T0 - timedelta(days=1)))
    assert tariffs.create_assignment(T, TariffAssignment(tariff_id="public", site_id="site-1"))
    session = Session(
        id="S1",
        tenant_id=T,
        station_id="CP-1",
        transaction_id="TX-1",
        protocol=ProtocolVersion.OCPP201,
        site_id="site-1",
        evse=EvseRef(evse_id=1, connector_id=1),
        state=SessionState.ENDED,
        id_token="anna",
        started_at=T0,
        stopped_at=T0 + timedelta(hours=1),
        meter_start=MeterMark(wh=Decimal(0), at=T0),
        meter_stop_wh=Decimal(8000),
        revision=1,
        updated_at=T0 + timedelta(hours=1),
    )
    assert DynamoSessionRepository(OutboxEncoder(new_uuid)).create(session)
    service = _runtime.billing_service()

    # WHEN it is billed, then billed again (a duplicate TransactionEnded)
    now = T0 + timedelta(hours=2)
    first = service.bill_session(T, "S1", now)
    again = service.bill_session(T, "S1", now + timedelta(minutes=5))

    # THEN one CDR and one receipt of 8 kWh x 0.50 EUR, due on the driver's invoice
    billing = _runtime.billing()
    assert billing.service is service
    cdrs = billing.repository.list_cdrs(T, 10).items
    assert [c.id for c in cdrs] == [first.cdr_id]
    assert cdrs[0].total_cost.incl_vat == Decimal("4.00")
    assert first.invoice is not None
    assert (first.invoice.kind, first.invoice.state) == (
        InvoiceKind.RECEIPT,
        InvoiceState.FINALIZED,
    )
    assert first.invoice.number == 1
    assert again.invoice == first.invoice
    assert billing.repository.list_invoices(T, 10).items == [first.invoice]
    lines = billing.repository.list_invoice_lines(T, first.invoice.id)
    assert [line.total_incl_tax for line in lines] == [Decimal("4.00")]
    # AND the driver's account was made with the invoice-only provider's customer
    account = billing.accounts.get_account(T, "token:ANNA")
    assert account is not None
    assert account.customer == "account:token:ANNA"
    # AND the ledger is done: nothing is left to carry out
    ledger = billing.repository.get_ledger(T, "S1")
    assert ledger is not None
    assert ledger.done
    # AND the table's stream carries CdrCreated and InvoiceFinalized once each to the relay
    assert _published(aws.table_name) == ["CdrCreated", "InvoiceFinalized"]


def _published(table_name: str) -> list[str]:
    """The detail types the outbox relay would publish from the table's stream, in order."""
    arn = boto3.client("dynamodb", region_name=emulation.REGION).describe_table(
        TableName=table_name
    )["Table"]["LatestStreamArn"]
    streams = boto3.client(
        "dynamodbstreams",
        region_name=emulation.REGION,
        endpoint_url=f"https://streams.dynamodb.{emulation.REGION}.amazonaws.com",
    )
    found: list[str] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]:
            found.extend(entry["DetailType"] for entry in entries_of(record, "bus"))
    return found
