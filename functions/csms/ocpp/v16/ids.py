"""1.6 connector ids <-> the domain's EVSE references."""

from __future__ import annotations

from csms.domain.connector import MAX_ID, EvseRef
from csms.ocpp.common.errors import ErrorKind, PayloadError


def evse_of_connector(connector_id: int) -> EvseRef:
    """1.6 connectorId N is 2.0.1 EVSE N with its connector 1; connectorId 0 is the station."""
    if not 0 <= connector_id <= MAX_ID:
        raise PayloadError(
            ErrorKind.PROPERTY_CONSTRAINT_VIOLATION, f"connectorId must be 0-{MAX_ID}"
        )
    return EvseRef(evse_id=connector_id, connector_id=1 if connector_id else 0)
