"""OCPP 2.0.1 transactions: Authorize, TransactionEvent, MeterValues."""

from __future__ import annotations

from csms.domain.connector import MAX_ID, EvseRef
from csms.domain.meter import DEFAULT_MEASURAND, RawSample
from csms.domain.sessions import ChargingState, EventType, StopReason
from csms.domain.tokens import Authorization, IdTokenType, PresentedToken
from csms.ocpp.common.errors import ErrorKind, PayloadError
from csms.ocpp.common.frames import format_timestamp
from csms.ocpp.common.mapping import readings, required_timestamp
from csms.ocpp.common.protocol import OcppContext, Payload
from csms.services.sessions import MeterValuesRequest, TransactionEventRequest


def presented(id_token: Payload) -> PresentedToken:
    """IdTokenType -> PresentedToken."""
    return PresentedToken(value=id_token["idToken"], type=IdTokenType(id_token["type"]))


def id_token_info(authorization: Authorization) -> Payload:
    """Authorization -> IdTokenInfoType."""
    info: Payload = {"status": authorization.status.value}
    if authorization.expires_at is not None:
        info["cacheExpiryDateTime"] = format_timestamp(authorization.expires_at)
    if authorization.parent_id_token is not None:
        # A group of tokens is identified by a token the CSMS defines: type Central.
        info["groupIdToken"] = {"idToken": authorization.parent_id_token, "type": "Central"}
    return info


def evse(value: Payload) -> EvseRef:
    """EVSEType -> EvseRef (connectorId defaults to 1: the EVSE's only connector)."""
    evse_id, connector_id = value["id"], value.get("connectorId", 1)
    if not (0 <= evse_id <= MAX_ID and 0 <= connector_id <= MAX_ID):
        raise PayloadError(
            ErrorKind.PROPERTY_CONSTRAINT_VIOLATION, f"evse id and connectorId must be 0-{MAX_ID}"
        )
    return EvseRef(evse_id=evse_id, connector_id=connector_id)


def sampled_value(raw: Payload) -> RawSample:
    """SampledValueType -> RawSample (the unit and its power-of-ten multiplier)."""
    unit = raw.get("unitOfMeasure") or {}
    value = raw["value"]
    return RawSample(
        # repr keeps every digit JSON sent (str(1e-07) would too, but not for int subclasses).
        value=repr(value) if isinstance(value, float) else str(value),
        measurand=raw.get("measurand", DEFAULT_MEASURAND),
        phase=raw.get("phase"),
        unit=unit.get("unit"),
        multiplier=unit.get("multiplier", 0),
        context=raw.get("context"),
        location=raw.get("location"),
    )


def authorize(ctx: OcppContext, payload: Payload) -> Payload:
    """AuthorizeRequest -> AuthorizeResponse."""
    authorization = ctx.sessions.authorize(
        ctx.binding, ctx.unique_id, presented(payload["idToken"])
    )
    return {"idTokenInfo": id_token_info(authorization)}


def transaction_event(ctx: OcppContext, payload: Payload) -> Payload:
    """TransactionEventRequest -> TransactionEventResponse (idTokenInfo when a token came)."""
    info = payload["transactionInfo"]
    charging_state = info.get("chargingState")
    stopped_reason = info.get("stoppedReason")
    id_token = payload.get("idToken")
    authorization = ctx.sessions.transaction_event(
        ctx.binding,
        TransactionEventRequest(
            event_type=EventType(payload["eventType"]),
            timestamp=required_timestamp(payload, "timestamp"),
            seq_no=payload["seqNo"],
            transaction_id=info["transactionId"],
            trigger_reason=payload["triggerReason"],
            offline=payload.get("offline", False),
            evse=evse(payload["evse"]) if "evse" in payload else None,
            token=presented(id_token) if id_token is not None else None,
            charging_state=ChargingState(charging_state) if charging_state else None,
            stopped_reason=StopReason(stopped_reason) if stopped_reason else None,
            remote_start_id=info.get("remoteStartId"),
            reservation_id=payload.get("reservationId"),
            readings=readings(payload.get("meterValue") or [], sampled_value),
        ),
    )
    return {"idTokenInfo": id_token_info(authorization)} if authorization is not None else {}


def meter_values(ctx: OcppContext, payload: Payload) -> Payload:
    """MeterValuesRequest (outside transactions in 2.0.1) -> empty response."""
    evse_id = payload["evseId"]
    if not 0 <= evse_id <= MAX_ID:
        raise PayloadError(ErrorKind.PROPERTY_CONSTRAINT_VIOLATION, f"evseId must be 0-{MAX_ID}")
    ctx.sessions.meter_values(
        ctx.binding,
        MeterValuesRequest(
            evse=EvseRef(evse_id=evse_id, connector_id=1 if evse_id else 0),
            readings=readings(payload["meterValue"], sampled_value),
        ),
    )
    return {}
