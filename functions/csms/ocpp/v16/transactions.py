"""OCPP 1.6J transactions: Authorize, StartTransaction, StopTransaction, MeterValues."""

from __future__ import annotations

from decimal import Decimal

from csms.domain.meter import DEFAULT_MEASURAND, RawSample
from csms.domain.sessions import StopReason
from csms.domain.tokens import Authorization, PresentedToken
from csms.ocpp.common.errors import ErrorKind, PayloadError
from csms.ocpp.common.frames import format_timestamp
from csms.ocpp.common.mapping import readings, required_timestamp
from csms.ocpp.common.protocol import OcppContext, Payload
from csms.ocpp.v16.ids import evse_of_connector
from csms.services.sessions import (
    MeterValuesRequest,
    StartTransactionRequest,
    StopTransactionRequest,
)


def id_tag_info(authorization: Authorization) -> Payload:
    """Authorization -> IdTagInfo (status, expiryDate, parentIdTag)."""
    info: Payload = {"status": authorization.status.value}
    if authorization.expires_at is not None:
        info["expiryDate"] = format_timestamp(authorization.expires_at)
    if authorization.parent_id_token is not None:
        # 1.6 parentIdTag is an IdToken: CiString20.
        info["parentIdTag"] = authorization.parent_id_token[:20]
    return info


def sampled_value(raw: Payload) -> RawSample | None:
    """SampledValue -> RawSample; signed data carries no number to keep."""
    if raw.get("format") == "SignedData":
        return None
    return RawSample(
        value=raw["value"],
        measurand=raw.get("measurand", DEFAULT_MEASURAND),
        phase=raw.get("phase"),
        unit=raw.get("unit"),
        context=raw.get("context"),
        location=raw.get("location"),
    )


def authorize(ctx: OcppContext, payload: Payload) -> Payload:
    """Authorize.req -> Authorize.conf."""
    token = PresentedToken(value=payload["idTag"])
    return {"idTagInfo": id_tag_info(ctx.sessions.authorize(ctx.binding, ctx.unique_id, token))}


def start_transaction(ctx: OcppContext, payload: Payload) -> Payload:
    """StartTransaction.req -> StartTransaction.conf with a CSMS-assigned transactionId."""
    connector_id = payload["connectorId"]
    if connector_id == 0:
        # 1.6 StartTransaction: connectorId "SHALL be > 0".
        raise PayloadError(ErrorKind.PROPERTY_CONSTRAINT_VIOLATION, "connectorId must be > 0")
    result = ctx.sessions.start_transaction(
        ctx.binding,
        StartTransactionRequest(
            evse=evse_of_connector(connector_id),
            token=PresentedToken(value=payload["idTag"]),
            meter_start_wh=Decimal(payload["meterStart"]),
            timestamp=required_timestamp(payload, "timestamp"),
            reservation_id=payload.get("reservationId"),
        ),
    )
    return {
        "transactionId": result.transaction_id,
        "idTagInfo": id_tag_info(result.authorization),
    }


def stop_transaction(ctx: OcppContext, payload: Payload) -> Payload:
    """StopTransaction.req -> StopTransaction.conf (idTagInfo when an idTag was sent)."""
    id_tag = payload.get("idTag")
    reason = payload.get("reason")
    authorization = ctx.sessions.stop_transaction(
        ctx.binding,
        StopTransactionRequest(
            transaction_id=payload["transactionId"],
            meter_stop_wh=Decimal(payload["meterStop"]),
            timestamp=required_timestamp(payload, "timestamp"),
            token=PresentedToken(value=id_tag) if id_tag is not None else None,
            reason=StopReason(reason) if reason is not None else None,
            readings=readings(payload.get("transactionData") or [], sampled_value),
        ),
    )
    return {"idTagInfo": id_tag_info(authorization)} if authorization is not None else {}


def meter_values(ctx: OcppContext, payload: Payload) -> Payload:
    """MeterValues.req -> MeterValues.conf (empty)."""
    transaction_id = payload.get("transactionId")
    ctx.sessions.meter_values(
        ctx.binding,
        MeterValuesRequest(
            evse=evse_of_connector(payload["connectorId"]),
            readings=readings(payload["meterValue"], sampled_value),
            transaction_id=str(transaction_id) if transaction_id is not None else None,
        ),
    )
    return {}
