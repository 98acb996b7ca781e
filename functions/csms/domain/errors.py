"""Domain errors: impossible or conflicting states. Business outcomes are values, not errors."""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    """Base of every error the domain and services raise on purpose."""


class InvalidStationIdError(DomainError):
    """A station identity that cannot be a CiString48 URL path segment."""

    def __init__(self, raw: str) -> None:
        super().__init__("station id must be 1-48 characters of A-Z a-z 0-9 . _ ~ : * + @ -")
        self.raw = raw


class StationNotFoundError(DomainError):
    """No station is registered with this id (in this tenant)."""

    def __init__(self, station_id: str) -> None:
        super().__init__(f"station {station_id!r} not found")
        self.station_id = station_id


class UnknownConnectionError(DomainError):
    """A WebSocket message arrived on a connection the CSMS has no record of."""

    def __init__(self, connection_id: str) -> None:
        super().__init__("no station is bound to this connection")
        self.connection_id = connection_id


class StationOfflineError(DomainError):
    """The station has no live connection to send a call on."""

    def __init__(self, station_id: str) -> None:
        super().__init__(f"station {station_id!r} is offline")
        self.station_id = station_id


class CallInProgressError(DomainError):
    """Another CSMS-initiated call to this station is still waiting for its answer."""

    def __init__(self, station_id: str, outstanding_id: str | None) -> None:
        super().__init__(f"station {station_id!r} has a call in progress")
        self.station_id = station_id
        self.outstanding_id = outstanding_id


class CallNotFoundError(DomainError):
    """No CSMS-initiated call with this unique id exists for the station."""

    def __init__(self, station_id: str, unique_id: str) -> None:
        super().__init__(f"no call {unique_id!r} for station {station_id!r}")
        self.station_id = station_id
        self.unique_id = unique_id


class InvalidSeedError(DomainError):
    """A seed document that cannot be loaded as it stands."""


class InvalidCursorError(DomainError):
    """A pagination cursor that this list did not hand out."""

    def __init__(self) -> None:
        super().__init__("invalid cursor")


class StaleSessionError(DomainError):
    """The session changed between reading and writing it: read again and retry."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id!r} changed concurrently")
        self.session_id = session_id


class DuplicateChunkError(DomainError):
    """A message whose meter chunk is already stored: it was handled before."""

    def __init__(self, session_id: str, key: str) -> None:
        super().__init__(f"chunk {key!r} of session {session_id!r} exists")
        self.session_id = session_id
        self.key = key


class SessionNotFoundError(DomainError):
    """No session with this id (in this tenant)."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id!r} not found")
        self.session_id = session_id


class TokenExistsError(DomainError):
    """An id token with this value exists in the tenant already."""

    def __init__(self, value: str) -> None:
        super().__init__("an id token with this value exists")
        self.value = value


class TokenNotFoundError(DomainError):
    """No id token with this value in the tenant."""

    def __init__(self, value: str) -> None:
        super().__init__("id token not found")
        self.value = value


class ForbiddenError(DomainError):
    """The caller's role (or site restriction) does not allow this operation."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)


class ResourceNotFoundError(DomainError):
    """No resource of this kind with this id in the caller's tenant (or reach)."""

    def __init__(self, kind: str, resource_id: str) -> None:
        super().__init__(f"{kind} {resource_id!r} not found")
        self.kind = kind
        self.resource_id = resource_id


class ResourceExistsError(DomainError):
    """A resource of this kind with this id exists already."""

    def __init__(self, kind: str, resource_id: str) -> None:
        super().__init__(f"{kind} {resource_id!r} exists already")
        self.kind = kind
        self.resource_id = resource_id


class ResourceInUseError(DomainError):
    """The resource cannot be removed or changed so while something depends on it."""

    def __init__(self, kind: str, resource_id: str, reason: str) -> None:
        super().__init__(f"{kind} {resource_id!r} is in use: {reason}")
        self.kind = kind
        self.resource_id = resource_id


class InvalidReferenceError(DomainError):
    """A body names another resource (a site, a group) that does not exist in the tenant."""

    def __init__(self, field: str, kind: str, resource_id: str) -> None:
        super().__init__(f"{field}: no {kind} {resource_id!r} in this tenant")
        self.field = field
        self.kind = kind
        self.resource_id = resource_id


class VersionMismatchError(DomainError):
    """An `If-Match` that names another version than the one stored: someone changed it."""

    def __init__(self, kind: str, resource_id: str) -> None:
        super().__init__(
            f"{kind} {resource_id!r} changed since it was read; read it again (ETag) and retry"
        )
        self.kind = kind
        self.resource_id = resource_id


class CommandNotSupportedError(DomainError):
    """The station's OCPP version (or the command's options) cannot carry this command."""

    def __init__(self, action: str, protocol: str, why: str) -> None:
        super().__init__(f"{action} cannot be sent to an {protocol} station: {why}")
        self.action = action
        self.protocol = protocol


class StationDecommissionedError(DomainError):
    """The station was taken out of service: it can be read, not changed."""

    def __init__(self, station_id: str) -> None:
        super().__init__(f"station {station_id!r} is decommissioned; its record is read-only")
        self.station_id = station_id


class ConcurrentModificationError(DomainError):
    """Writes without `If-Match` kept losing to concurrent changes: read again and retry."""

    def __init__(self, kind: str, resource_id: str) -> None:
        super().__init__(f"{kind} {resource_id!r} is being changed concurrently; retry")
        self.kind = kind
        self.resource_id = resource_id


class LastOwnerError(DomainError):
    """The change would leave the tenant without an active owner."""

    def __init__(self, user_id: str) -> None:
        super().__init__(
            f"user {user_id!r} is the tenant's last active owner; make another owner first"
        )
        self.user_id = user_id


class UserDirectoryError(DomainError):
    """The identity provider (the user directory) did not take a change; nothing was kept."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)


# --- load management ---
# A section of its own, so that it merges cleanly with the errors above.


class InvalidLoadInputError(DomainError):
    """A load configuration, readings or needs that cannot be taken as they stand (400).

    `kind` names what was refused (`load-config`, `readings`, `needs`); the message says why.
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


class SessionNotActiveError(DomainError):
    """The session has ended: what it needs no longer matters."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id!r} has ended")
        self.session_id = session_id


class SessionNotPriceableError(DomainError):
    """The session's data cannot be priced (no start, or beyond what pricing accepts)."""

    def __init__(self, session_id: str, reason: str) -> None:
        super().__init__(f"session {session_id!r} cannot be priced: {reason}")
        self.session_id = session_id


# --- payments ---
# A section of its own, so that it merges cleanly with the errors above.


class InvalidWebhookSignatureError(DomainError):
    """A payment provider's webhook whose signature does not hold (bad, stale, or no event)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"webhook rejected: {reason}")
        self.reason = reason


class PaymentProviderError(DomainError):
    """The payment provider could not be asked, or refused the request (not a decline)."""

    def __init__(self, code: str, *, retryable: bool) -> None:
        super().__init__(f"payment provider failed: {code}")
        self.code = code
        self.retryable = retryable


# --- billing core ---
# A section of its own, so that it merges cleanly with the errors above.


class BillingConflictError(DomainError):
    """Billing cannot do this to the resource as it stands.

    A refund beyond what was paid, a line in another currency than its statement's, a line
    for a statement that closed with nowhere else to go.
    """

    def __init__(self, kind: str, resource_id: str, reason: str) -> None:
        super().__init__(f"{kind} {resource_id!r}: {reason}")
        self.kind = kind
        self.resource_id = resource_id
        self.reason = reason


# --- maintenance ---


class InvalidTransitionError(DomainError):
    """A state change the resource's state machine does not allow from its current state."""

    def __init__(
        self, kind: str, resource_id: str, current: str, wanted: str, allowed: Sequence[str]
    ) -> None:
        super().__init__(
            f"{kind} {resource_id!r} is {current}; it cannot go to {wanted} "
            f"(allowed from {current}: {', '.join(allowed) or 'none'})"
        )
        self.kind = kind
        self.resource_id = resource_id
        self.current = current
        self.wanted = wanted
        self.allowed = tuple(allowed)


# --- partner webhooks ---


class InvalidWebhookUrlError(DomainError):
    """An endpoint URL that is malformed, not https, or reaches a private address (SSRF)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class WebhookLimitError(DomainError):
    """The tenant has as many webhook subscriptions as it may."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a tenant may have at most {limit} webhook subscriptions")
        self.limit = limit
