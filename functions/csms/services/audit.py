"""Use cases of the audit log: record what a request did, read a tenant's log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from csms.domain.audit import (
    AuditChange,
    AuditEntry,
    AuditOutcome,
    AuditRequest,
    audit_id,
    stored_resource_id,
)
from csms.domain.audit import entries_for as build_entries
from csms.services.ports import Clock, IdGenerator, Page


@dataclass(frozen=True)
class AuditQuery:
    """Filters of a tenant's audit log; None matches anything. `to` is exclusive."""

    from_: datetime | None = None
    to: datetime | None = None
    actor: str | None = None
    resource_kind: str | None = None
    resource_id: str | None = None
    action: str | None = None
    outcome: AuditOutcome | None = None


class AuditRepository(Protocol):
    """Where audit entries are kept, per tenant, newest first."""

    def append(self, entries: Sequence[AuditEntry]) -> None:
        """Store entries (of one request)."""
        ...

    def find(
        self, tenant_id: str, query: AuditQuery, limit: int, cursor: str | None = None
    ) -> Page[AuditEntry]:
        """A tenant's entries matching the query, newest first."""
        ...


class AuditService:
    """Records and reads audit entries; every read is scoped to one tenant."""

    def __init__(self, *, entries: AuditRepository, clock: Clock, new_id: IdGenerator) -> None:
        self._entries = entries
        self._clock = clock
        self._new_id = new_id

    def record(self, request: AuditRequest, changes: Sequence[AuditChange]) -> list[AuditEntry]:
        """Store the entries of a request: one per change, or one for the request itself."""
        at = self._clock.now()
        ids = [audit_id(at, self._new_id()) for _ in range(max(len(changes), 1))]
        entries = build_entries(request, changes, at, ids)
        self._entries.append(entries)
        return entries

    def find(
        self, tenant_id: str, query: AuditQuery, limit: int, cursor: str | None = None
    ) -> Page[AuditEntry]:
        """The tenant's entries matching the query, newest first, a page at a time."""
        if query.from_ is not None and query.to is not None and query.from_ >= query.to:
            return Page(items=[])  # an empty range (a key condition DynamoDB would refuse)
        if query.resource_kind is not None and query.resource_id is not None:
            # Id token values are kept masked: a full value finds them as well.
            query = replace(
                query, resource_id=stored_resource_id(query.resource_kind, query.resource_id)
            )
        return self._entries.find(tenant_id, query, limit, cursor)
