"""The tenancy ports on the single table: a tenant's records in its own partition.

`TENANT#{t}` holds `SITE#{id}`, `GROUP#{id}`, `VEHICLE#{id}`, `USER#{id}`, `OWNERS` (the count
of active owners) and `PROFILE`. Every write is conditional on the version it replaces, so a
concurrent change makes it fail instead of being overwritten; lists are queries on the
partition, never scans.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from csms.adapters.dynamo import (
    _is_conditional_failure,
    decode_cursor,
    encode_cursor,
    site_partition,
    tenant_pk,
)
from csms.adapters.dynamo_models import SiteItem, StationItem, _Item
from csms.domain.errors import InvalidReferenceError, LastOwnerError
from csms.domain.tenancy import DriverGroup, Site, TenantProfile, User, Vehicle
from csms.services.ports import Page

R = TypeVar("R", bound=BaseModel)
OWNERS = "OWNERS"
PROFILE = "PROFILE"


class RecordItem(_Item):
    """A driver group, vehicle, user or tenant profile: the domain model as JSON in `body`."""

    version = NumberAttribute()
    body = UnicodeAttribute()
    # Vehicles only: filters a listing by group and finds a group's vehicles.
    group_id = UnicodeAttribute(null=True)


class OwnerCountItem(_Item):
    """How many users of the tenant are active owners (changed with them, in one transaction)."""

    owners = NumberAttribute(null=True)


def _reset_connections() -> None:
    # The models share the table's Meta with the others (configure_table sets it); a connection
    # cached for an earlier configuration must not outlive it.
    for model in (RecordItem, OwnerCountItem):
        model._connection = None


def _failed(exc: TransactWriteError, index: int) -> bool:
    """Whether the transaction's item at `index` failed its condition."""
    reasons = exc.cancellation_reasons
    reason = reasons[index] if index < len(reasons) else None
    return reason is not None and reason.code == "ConditionalCheckFailed"


class _Records(Generic[R]):
    """Versioned records of one kind under `TENANT#{t}` / `{PREFIX}#{id}`."""

    def __init__(
        self,
        model: type[Any],
        prefix: str,
        to_item: Callable[[str, R], Any],
        from_item: Callable[[Any], R],
    ) -> None:
        self._model = model
        self._prefix = prefix
        self._to_item = to_item
        self._from_item = from_item

    def key(self, tenant_id: str, record_id: str) -> tuple[str, str]:
        return tenant_pk(tenant_id), f"{self._prefix}{record_id}"

    def get(self, tenant_id: str, record_id: str) -> R | None:
        try:
            item = self._model.get(*self.key(tenant_id, record_id), consistent_read=True)
        except self._model.DoesNotExist:
            return None
        return self._from_item(item)

    def version_is(self, expected: int) -> Condition:
        version = self._model.version
        condition: Condition = version == expected
        # Sites written by seeds before versions existed read as version 1.
        return condition | version.does_not_exist() if expected == 1 else condition

    def item(self, tenant_id: str, record: R) -> Any:
        return self._to_item(tenant_id, record)

    def put(self, tenant_id: str, record: R, condition: Condition) -> bool:
        try:
            self.item(tenant_id, record).save(condition=condition)
        except PutError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def create(self, tenant_id: str, record: R) -> bool:
        return self.put(tenant_id, record, self._model.PK.does_not_exist())

    def replace(self, tenant_id: str, record: R, expected_version: int) -> bool:
        return self.put(tenant_id, record, self.version_is(expected_version))

    def delete(self, tenant_id: str, record_id: str, expected_version: int) -> bool:
        try:
            self._model(*self.key(tenant_id, record_id)).delete(
                condition=self.version_is(expected_version)
            )
        except DeleteError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def list(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None,
        *,
        filter_condition: Condition | None = None,
        keep: Callable[[R], bool] | None = None,
    ) -> Page[R]:
        """By id; full pages even when filtering, the cursor naming the last item returned."""
        partition = tenant_pk(tenant_id)
        result = self._model.query(
            partition,
            self._model.SK.startswith(self._prefix),
            filter_condition=filter_condition,
            last_evaluated_key=decode_cursor(cursor, partition, sort_prefix=self._prefix),
            page_size=limit + 1,
        )
        found: list[tuple[str, R]] = []
        for item in result:
            record = self._from_item(item)
            if keep is None or keep(record):
                found.append((item.SK, record))
                if len(found) > limit:
                    break
        next_cursor = None
        if len(found) > limit:
            last_sk = found[limit - 1][0]
            next_cursor = encode_cursor({"PK": {"S": partition}, "SK": {"S": last_sk}})
        return Page(items=[record for _, record in found[:limit]], next_cursor=next_cursor)


# -- sites ------------------------------------------------------------------------------------

_SITE_BODY = {"address", "description", "created_at"}


def _site_item(tenant_id: str, site: Site) -> SiteItem:
    return SiteItem(
        tenant_pk(tenant_id),
        f"SITE#{site.id}",
        tenant_id=tenant_id,
        name=site.name,
        limit_kw=str(site.limit_kw),
        timezone=site.timezone,
        body=site.model_dump_json(include=_SITE_BODY, exclude_none=True),
        version=site.version,
        updated_at=site.updated_at,
    )


def _site(item: SiteItem) -> Site:
    body: dict[str, Any] = json.loads(item.body) if item.body else {}
    return Site.model_validate(
        {
            **body,
            "id": item.SK.removeprefix("SITE#"),
            "name": item.name,
            "limit_kw": Decimal(item.limit_kw),
            "timezone": item.timezone or "UTC",
            "version": int(item.version) if item.version is not None else 1,
            "updated_at": item.updated_at,
        }
    )


class DynamoSiteRepository:
    """SiteRepository: site items in the tenant's partition; stations found through GSI2."""

    def __init__(self) -> None:
        self._records = _Records[Site](SiteItem, "SITE#", _site_item, _site)

    def get_site(self, tenant_id: str, site_id: str) -> Site | None:
        """Strongly consistent."""
        return self._records.get(tenant_id, site_id)

    def create_site(self, tenant_id: str, site: Site) -> bool:
        """Put the site if its id is new."""
        return self._records.create(tenant_id, site)

    def replace_site(self, tenant_id: str, site: Site, expected_version: int) -> bool:
        """Put the site over the expected version."""
        return self._records.replace(tenant_id, site, expected_version)

    def delete_site(self, tenant_id: str, site_id: str, expected_version: int) -> bool:
        """Delete the expected version."""
        return self._records.delete(tenant_id, site_id, expected_version)

    def list_sites(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        only: frozenset[str] | None = None,
    ) -> Page[Site]:
        """By id; `only` filters as the partition is read (a restricted user has few sites)."""
        keep = (lambda site: site.id in only) if only is not None else None
        return self._records.list(tenant_id, limit, cursor, keep=keep)

    def site_has_stations(self, tenant_id: str, site_id: str) -> bool:
        """One keys-only GSI2 query for at most one station (eventually consistent)."""
        stations = StationItem.by_site.query(
            site_partition(tenant_id, site_id),
            StationItem.GSI2SK.startswith("STATION#"),
            limit=1,
        )
        return any(True for _ in stations)


# -- groups, vehicles, users, profile ---------------------------------------------------------


def _json_item(
    prefix: str, group_of: Callable[[Any], str | None] = lambda _: None
) -> Callable[[str, Any], RecordItem]:
    def to_item(tenant_id: str, record: Any) -> RecordItem:
        return RecordItem(
            tenant_pk(tenant_id),
            f"{prefix}{record.id}",
            tenant_id=tenant_id,
            version=record.version,
            body=record.model_dump_json(),
            group_id=group_of(record),
        )

    return to_item


def _from_json(model: type[R]) -> Callable[[RecordItem], R]:
    def from_item(item: RecordItem) -> R:
        return model.model_validate_json(item.body)

    return from_item


class DynamoGroupRepository:
    """GroupRepository: group items in the tenant's partition."""

    def __init__(self) -> None:
        _reset_connections()
        self._records = _Records[DriverGroup](
            RecordItem, "GROUP#", _json_item("GROUP#"), _from_json(DriverGroup)
        )

    def get_group(self, tenant_id: str, group_id: str) -> DriverGroup | None:
        """Strongly consistent."""
        return self._records.get(tenant_id, group_id)

    def create_group(self, tenant_id: str, group: DriverGroup) -> bool:
        """Put the group if its id is new."""
        return self._records.create(tenant_id, group)

    def replace_group(self, tenant_id: str, group: DriverGroup, expected_version: int) -> bool:
        """Put the group over the expected version."""
        return self._records.replace(tenant_id, group, expected_version)

    def delete_group(self, tenant_id: str, group_id: str, expected_version: int) -> bool:
        """Delete the expected version."""
        return self._records.delete(tenant_id, group_id, expected_version)

    def list_groups(
        self, tenant_id: str, limit: int, cursor: str | None = None
    ) -> Page[DriverGroup]:
        """By id."""
        return self._records.list(tenant_id, limit, cursor)


class DynamoVehicleRepository:
    """VehicleRepository: vehicle items in the tenant's partition, their group beside the body."""

    def __init__(self) -> None:
        _reset_connections()
        self._records = _Records[Vehicle](
            RecordItem,
            "VEHICLE#",
            _json_item("VEHICLE#", lambda vehicle: vehicle.group_id),
            _from_json(Vehicle),
        )

    def get_vehicle(self, tenant_id: str, vehicle_id: str) -> Vehicle | None:
        """Strongly consistent."""
        return self._records.get(tenant_id, vehicle_id)

    def create_vehicle(self, tenant_id: str, vehicle: Vehicle) -> bool:
        """Put the vehicle if its id is new and its group exists, in one transaction."""
        return self._put_with_group(tenant_id, vehicle, RecordItem.PK.does_not_exist())

    def replace_vehicle(self, tenant_id: str, vehicle: Vehicle, expected_version: int) -> bool:
        """Put the vehicle over the expected version if its group exists."""
        return self._put_with_group(tenant_id, vehicle, self._records.version_is(expected_version))

    def _put_with_group(self, tenant_id: str, vehicle: Vehicle, condition: Condition) -> bool:
        partition = tenant_pk(tenant_id)
        try:
            with TransactWrite(connection=RecordItem._get_connection().connection) as tx:
                tx.condition_check(
                    RecordItem,
                    partition,
                    f"GROUP#{vehicle.group_id}",
                    condition=RecordItem.PK.exists(),
                )
                tx.save(self._records.item(tenant_id, vehicle), condition=condition)
        except TransactWriteError as exc:
            if not _is_conditional_failure(exc):
                raise
            if _failed(exc, 0):
                raise InvalidReferenceError("groupId", "group", vehicle.group_id) from None
            return False
        return True

    def delete_vehicle(self, tenant_id: str, vehicle_id: str, expected_version: int) -> bool:
        """Delete the expected version."""
        return self._records.delete(tenant_id, vehicle_id, expected_version)

    def list_vehicles(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        group_id: str | None = None,
    ) -> Page[Vehicle]:
        """By id; the group filter is applied by DynamoDB as the partition is read."""
        condition = RecordItem.group_id == group_id if group_id is not None else None
        return self._records.list(tenant_id, limit, cursor, filter_condition=condition)

    def group_in_use(self, tenant_id: str, group_id: str) -> bool:
        """Reads the tenant's vehicles until one of the group turns up (strongly consistent)."""
        found = RecordItem.query(
            tenant_pk(tenant_id),
            RecordItem.SK.startswith("VEHICLE#"),
            filter_condition=RecordItem.group_id == group_id,
            consistent_read=True,
            limit=1,
        )
        return any(True for _ in found)


def _owner(user: User | None) -> int:
    return 1 if user is not None and user.active_owner else 0


class DynamoUserRepository:
    """UserRepository: user items and the active-owner count, changed together."""

    def __init__(self) -> None:
        _reset_connections()
        self._records = _Records[User](RecordItem, "USER#", _json_item("USER#"), _from_json(User))

    def get_user(self, tenant_id: str, user_id: str) -> User | None:
        """Strongly consistent."""
        return self._records.get(tenant_id, user_id)

    def create_user(self, tenant_id: str, user: User) -> bool:
        """Put the user if its id is new; an active owner counts one more owner."""
        return self._write(tenant_id, user, None)

    def replace_user(
        self, tenant_id: str, user: User, previous: User, *, undo: bool = False
    ) -> bool:
        """Put the user over `previous`, keeping the owner count."""
        return self._write(tenant_id, user, previous, guard_owners=not undo)

    def delete_user(self, tenant_id: str, previous: User, *, undo: bool = False) -> bool:
        """Delete the user at its version, keeping the owner count."""
        return self._write(tenant_id, None, previous, guard_owners=not undo)

    def _write(
        self,
        tenant_id: str,
        user: User | None,
        previous: User | None,
        *,
        guard_owners: bool = True,
    ) -> bool:
        delta = _owner(user) - _owner(previous)
        condition: Condition
        if previous is None:
            condition = RecordItem.PK.does_not_exist()
        else:
            condition = self._records.version_is(previous.version)
        if delta == 0 and user is not None:
            return self._records.put(tenant_id, user, condition)
        if delta == 0 and previous is not None:
            return self._records.delete(tenant_id, previous.id, previous.version)
        counter = OwnerCountItem(tenant_pk(tenant_id), OWNERS)
        try:
            with TransactWrite(connection=RecordItem._get_connection().connection) as tx:
                if user is not None:
                    tx.save(self._records.item(tenant_id, user), condition=condition)
                elif previous is not None:
                    tx.delete(RecordItem(*self._records.key(tenant_id, previous.id)), condition)
                tx.update(
                    counter,
                    actions=[
                        OwnerCountItem.tenant_id.set(tenant_id),
                        OwnerCountItem.owners.add(delta),
                    ],
                    # One active owner stays, whatever else changes concurrently.
                    condition=OwnerCountItem.owners > 1 if delta < 0 and guard_owners else None,
                )
        except TransactWriteError as exc:
            if not _is_conditional_failure(exc):
                raise
            if _failed(exc, 0):
                return False
            raise LastOwnerError(previous.id if previous is not None else "") from None
        return True

    def list_users(self, tenant_id: str, limit: int, cursor: str | None = None) -> Page[User]:
        """By id."""
        return self._records.list(tenant_id, limit, cursor)

    def active_owners(self, tenant_id: str) -> int:
        """The count item, strongly consistent; 0 when no owner was ever recorded."""
        try:
            item = OwnerCountItem.get(tenant_pk(tenant_id), OWNERS, consistent_read=True)
        except OwnerCountItem.DoesNotExist:
            return 0
        return int(item.owners or 0)


class DynamoTenantProfileRepository:
    """TenantProfileRepository: one item per tenant."""

    def __init__(self) -> None:
        _reset_connections()

    def get_profile(self, tenant_id: str) -> TenantProfile | None:
        """Strongly consistent."""
        try:
            item = RecordItem.get(tenant_pk(tenant_id), PROFILE, consistent_read=True)
        except RecordItem.DoesNotExist:
            return None
        return TenantProfile.model_validate_json(item.body)

    def put_profile(self, tenant_id: str, profile: TenantProfile, expected_version: int) -> bool:
        """Put over the expected version (0: over nothing)."""
        condition: Condition = (
            RecordItem.PK.does_not_exist()
            if expected_version == 0
            else RecordItem.version == expected_version
        )
        item = RecordItem(
            tenant_pk(tenant_id),
            PROFILE,
            tenant_id=tenant_id,
            version=profile.version,
            body=profile.model_dump_json(),
        )
        try:
            item.save(condition=condition)
        except PutError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True
