"""One contract suite for the LoadRepository port, run against the in-memory fake and against
the DynamoDB adapter on moto (table from the synthesized template). The port docstrings in
`csms.services.ports` are the contract.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Any, Literal

import boto3
import pytest
from tests.fakes import T0, FixedClock, InMemoryEventPublisher, InMemoryLoadRepository

from csms.adapters.dynamo_load import (
    ALLOCATION,
    PACK_ABOVE,
    DynamoLoadRepository,
    LoadItem,
    load_pk,
)
from csms.adapters.outbox import OutboxEncoder, entries_of
from csms.domain.errors import InvalidCursorError
from csms.domain.events import LoadChanged
from csms.domain.load.allocation import Allocation, ConnectorLimit, Reason
from csms.domain.load.config import SiteLoadConfig, StationLoad
from csms.domain.load.inputs import Reading, ReadingKind
from csms.domain.load.needs import DeclaredNeeds
from csms.services.ports import LOAD_READINGS_KEPT, LoadRepository, ManagedSite
from csms_local import emulation

MEMORY, DYNAMO = "memory", "dynamo"
T, SITE = "tenant-a", "site-1"


@dataclass
class Repo:
    """One implementation of the port, its clock, and the events its writes published."""

    kind: str
    loads: LoadRepository
    clock: FixedClock
    # The `data` of every event published so far (through the outbox, for DynamoDB).
    published: Callable[[], list[dict[str, Any]]]


def _memory() -> Repo:
    clock, bus = FixedClock(), InMemoryEventPublisher()
    return Repo(
        kind=MEMORY,
        loads=InMemoryLoadRepository(clock, bus),
        clock=clock,
        published=lambda: [event.model_dump(mode="json") for event in bus.events],
    )


def _outbox_published(table_name: str) -> list[dict[str, Any]]:
    """The `data` of every entry the table's stream carries for the outbox relay, in order."""
    arn = boto3.client("dynamodb", region_name=emulation.REGION).describe_table(
        TableName=table_name
    )["Table"]["LatestStreamArn"]
    streams = boto3.client(
        "dynamodbstreams",
        region_name=emulation.REGION,
        endpoint_url=f"https://streams.dynamodb.{emulation.REGION}.amazonaws.com",
    )
    found: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]:
            for entry in entries_of(record, "csms-events"):
                assert entry["Source"] == "csms.load"
                found.append(json.loads(entry["Detail"])["data"])
    return found


def _dynamo(table_name: str) -> Repo:
    clock = FixedClock()
    return Repo(
        kind=DYNAMO,
        loads=DynamoLoadRepository(clock, OutboxEncoder(lambda: str(uuid.uuid4()))),
        clock=clock,
        published=lambda: _outbox_published(table_name),
    )


@pytest.fixture(params=[MEMORY, DYNAMO])
def repo(request: pytest.FixtureRequest) -> Repo:
    if request.param == DYNAMO:
        return _dynamo(request.getfixturevalue("dynamo_table"))
    return _memory()


def a_config(version: int = 1, site_id: str = SITE, limit_kw: float = 22) -> SiteLoadConfig:
    return SiteLoadConfig(
        site_id=site_id,
        limit_kw=limit_kw,
        stations=(StationLoad(station_id="CP-1", max_kw=11),),
        version=version,
    )


def a_reading(kind: ReadingKind, minutes: float, kw: float = 5.0) -> Reading:
    return Reading(kind=kind, at=T0 + timedelta(minutes=minutes), kw=kw)


def an_allocation(connectors: int = 1) -> Allocation:
    return Allocation(
        site_id=SITE,
        at=T0,
        config_version=1,
        available_kw=22,
        constraint="site-limit",
        connectors=tuple(
            ConnectorLimit(
                connector=f"CP-{n}/1",
                station_id=f"CP-{n}",
                evse_id=1,
                session_id=f"s-{n}",
                kw=7.4,
                amps=32,
                reason=Reason.SHARE,
                bound_by="site",
            )
            for n in range(connectors)
        ),
    )


def changed(reason: Literal["config", "readings", "needs"], site_id: str = SITE) -> LoadChanged:
    return LoadChanged(tenant_id=T, occurred_at=T0, site_id=site_id, reason=reason)


# -- configuration ----------------------------------------------------------------------------


def test_load_repository_state_of_an_unknown_site_is_empty(repo: Repo) -> None:
    # GIVEN an empty repository
    # WHEN a site's state is read
    state = repo.loads.state(T, SITE)
    # THEN it holds nothing
    assert (state.config, state.allocation, state.readings, state.needs) == (None, None, (), {})


def test_load_repository_put_config_creates_only_when_none_is_stored(repo: Repo) -> None:
    # GIVEN a stored configuration
    assert repo.loads.put_config(T, a_config(), None)
    # WHEN another is created over it
    again = repo.loads.put_config(T, a_config(limit_kw=50), None)
    # THEN it is refused and the first stays
    assert again is False
    assert repo.loads.state(T, SITE).config == a_config()


def test_load_repository_put_config_replaces_the_expected_version_only(repo: Repo) -> None:
    # GIVEN version 1 stored
    repo.loads.put_config(T, a_config(), None)
    # WHEN version 2 is written over version 1, then a write expects a version not stored
    replaced = repo.loads.put_config(T, a_config(version=2, limit_kw=30), 1)
    stale = repo.loads.put_config(T, a_config(version=2, limit_kw=40), 1)
    # THEN the first succeeds, the second changes nothing
    assert (replaced, stale) == (True, False)
    assert repo.loads.state(T, SITE).config == a_config(version=2, limit_kw=30)


def test_load_repository_put_config_expecting_a_version_of_an_absent_config_fails(
    repo: Repo,
) -> None:
    # GIVEN no configuration
    # WHEN version 2 is written expecting version 1
    written = repo.loads.put_config(T, a_config(version=2), 1)
    # THEN nothing is stored
    assert written is False
    assert repo.loads.state(T, SITE).config is None


def test_load_repository_put_config_refuses_a_version_that_does_not_follow(repo: Repo) -> None:
    # GIVEN a configuration numbered 3 over an expected version 1
    # WHEN it is written
    # THEN the caller's mistake is raised, not stored
    with pytest.raises(ValueError, match="expected one"):
        repo.loads.put_config(T, a_config(version=3), 1)
    assert repo.loads.state(T, SITE).config is None


def test_load_repository_configs_are_per_tenant(repo: Repo) -> None:
    # GIVEN tenant A's configuration of site-1
    repo.loads.put_config(T, a_config(), None)
    # WHEN tenant B reads and creates its own site-1
    other = repo.loads.state("tenant-b", SITE)
    created = repo.loads.put_config("tenant-b", a_config(limit_kw=99), None)
    # THEN B saw nothing of A's, and each keeps its own
    assert other.config is None
    assert created
    assert repo.loads.state(T, SITE).config == a_config()
    assert repo.loads.state("tenant-b", SITE).config == a_config(limit_kw=99)


def test_load_repository_delete_config_removes_the_expected_version_only(repo: Repo) -> None:
    # GIVEN version 1 stored
    repo.loads.put_config(T, a_config(), None)
    # WHEN deleted expecting version 2, then expecting version 1, then again
    results = [repo.loads.delete_config(T, SITE, v) for v in (2, 1, 1)]
    # THEN only the matching delete succeeds, and the configuration is gone
    assert results == [False, True, False]
    assert repo.loads.state(T, SITE).config is None


def test_load_repository_config_events_go_out_with_successful_writes_only(repo: Repo) -> None:
    # GIVEN a configuration created, with its event
    repo.loads.put_config(T, a_config(), None, [changed("config")])
    # WHEN a stale write and a stale delete carry events, then a delete succeeds with one
    repo.loads.put_config(T, a_config(), None, [changed("config", "lost-1")])
    repo.loads.delete_config(T, SITE, 7, [changed("config", "lost-2")])
    repo.loads.delete_config(T, SITE, 1, [changed("config", "deleted")])
    # THEN the events of the two writes that happened were published, in order
    published = repo.published()
    assert [(e["site_id"], e["reason"], e["tenant_id"]) for e in published] == [
        (SITE, "config", T),
        ("deleted", "config", T),
    ]


def test_load_repository_writes_without_events_publish_nothing(repo: Repo) -> None:
    # GIVEN writes of every kind without events
    repo.loads.put_config(T, a_config(), None)
    repo.loads.add_readings(T, SITE, [a_reading(ReadingKind.METER, 0)], T0 + timedelta(hours=1))
    repo.loads.put_needs(T, SITE, DeclaredNeeds("s-1", "CP-1", 1, T0), T0 + timedelta(hours=1))
    repo.loads.put_allocation(T, an_allocation(), 0)
    repo.loads.delete_config(T, SITE, 1)
    # WHEN the published events are read
    # THEN there are none
    assert repo.published() == []


# -- the managed-site index -------------------------------------------------------------------


def _every_site(loads: LoadRepository, limit: int) -> list[ManagedSite]:
    sites: list[ManagedSite] = []
    cursor: str | None = None
    for _ in range(100):
        page = loads.managed_sites(limit, cursor)
        assert len(page.items) <= limit
        sites.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return sites
    pytest.fail("paging did not end")


def test_load_repository_managed_sites_lists_every_configured_site_once(repo: Repo) -> None:
    # GIVEN 23 configured sites of three tenants, one of them deleted again
    expected = set()
    for n in range(23):
        tenant = f"tenant-{n % 3}"
        repo.loads.put_config(tenant, a_config(site_id=f"site-{n:02}"), None)
        expected.add(ManagedSite(tenant, f"site-{n:02}"))
    repo.loads.delete_config("tenant-1", "site-01", 1)
    expected.discard(ManagedSite("tenant-1", "site-01"))
    # WHEN every page of 4 is read
    listed = _every_site(repo.loads, 4)
    # THEN each remaining site is listed exactly once
    assert len(listed) == len(expected)
    assert set(listed) == expected


def test_load_repository_managed_sites_of_none_is_an_empty_page(repo: Repo) -> None:
    # GIVEN no configured site
    # WHEN the index is read
    page = repo.loads.managed_sites(10)
    # THEN it is empty and ends
    assert (page.items, page.next_cursor) == ([], None)


@pytest.mark.parametrize("cursor", ["garbage", "99.", "x.", "3.bm90LWEta2V5"])
def test_load_repository_managed_sites_refuses_a_foreign_cursor(repo: Repo, cursor: str) -> None:
    # GIVEN a cursor the list did not hand out
    # WHEN it is used
    # THEN it is refused
    with pytest.raises(InvalidCursorError):
        repo.loads.managed_sites(10, cursor)


# -- readings ---------------------------------------------------------------------------------


def test_load_repository_readings_come_newest_first_across_kinds(repo: Repo) -> None:
    # GIVEN readings of three kinds in two batches
    until = T0 + timedelta(hours=1)
    repo.loads.add_readings(
        T, SITE, [a_reading(ReadingKind.METER, 0), a_reading(ReadingKind.PV, 2)], until
    )
    repo.loads.add_readings(
        T, SITE, [a_reading(ReadingKind.BATTERY, 1), a_reading(ReadingKind.METER, 3)], until
    )
    # WHEN the state is read
    readings = repo.loads.state(T, SITE).readings
    # THEN all four are there, newest first
    assert [(r.kind, r.at) for r in readings] == [
        (ReadingKind.METER, T0 + timedelta(minutes=3)),
        (ReadingKind.PV, T0 + timedelta(minutes=2)),
        (ReadingKind.BATTERY, T0 + timedelta(minutes=1)),
        (ReadingKind.METER, T0),
    ]


def test_load_repository_readings_are_dropped_once_expired(repo: Repo) -> None:
    # GIVEN a reading kept 5 minutes and one kept an hour
    repo.loads.add_readings(T, SITE, [a_reading(ReadingKind.METER, 0)], T0 + timedelta(minutes=5))
    repo.loads.add_readings(T, SITE, [a_reading(ReadingKind.PV, 0)], T0 + timedelta(hours=1))
    # WHEN the state is read 6 minutes later
    repo.clock.advance(6 * 60)
    readings = repo.loads.state(T, SITE).readings
    # THEN only the one still kept is there
    assert [r.kind for r in readings] == [ReadingKind.PV]


def test_load_repository_a_reading_of_the_same_kind_and_time_replaces_the_earlier(
    repo: Repo,
) -> None:
    # GIVEN a meter reading at 08:00 (UTC)
    until = T0 + timedelta(hours=1)
    repo.loads.add_readings(T, SITE, [a_reading(ReadingKind.METER, 0, kw=5)], until)
    # WHEN the meter sends 08:00 again (as 09:00+01:00) with another value
    again = Reading(kind=ReadingKind.METER, at=T0.astimezone(timezone(timedelta(hours=1))), kw=9)
    repo.loads.add_readings(T, SITE, [again], until)
    # THEN one reading is kept, the later value
    assert [r.kw for r in repo.loads.state(T, SITE).readings] == [9]


def test_load_repository_keeps_only_the_newest_readings_of_each_kind(repo: Repo) -> None:
    # GIVEN more meter readings than are kept, and one PV reading older than all of them
    until = T0 + timedelta(hours=2)
    repo.loads.add_readings(T, SITE, [a_reading(ReadingKind.PV, -30)], until)
    meter = [a_reading(ReadingKind.METER, n * 0.5) for n in range(LOAD_READINGS_KEPT + 5)]
    repo.loads.add_readings(T, SITE, meter[:10], until)
    repo.loads.add_readings(T, SITE, meter[10:], until)
    # WHEN the state is read
    readings = repo.loads.state(T, SITE).readings
    # THEN the newest meter readings are kept, up to the limit, and the PV reading too
    kept = [r for r in readings if r.kind is ReadingKind.METER]
    assert kept == sorted(meter, key=lambda r: r.at, reverse=True)[:LOAD_READINGS_KEPT]
    assert [r.kind for r in readings].count(ReadingKind.PV) == 1


def test_load_repository_readings_keep_their_forecast_validity(repo: Repo) -> None:
    # GIVEN a PV forecast valid for an hour
    forecast = Reading(kind=ReadingKind.PV, at=T0, kw=12.5, valid_until=T0 + timedelta(hours=1))
    repo.loads.add_readings(T, SITE, [forecast], T0 + timedelta(hours=1))
    # WHEN read back
    # THEN it is the same reading
    assert repo.loads.state(T, SITE).readings == (forecast,)


def test_load_repository_readings_events_ride_once_per_batch(repo: Repo) -> None:
    # GIVEN a batch of two kinds with one event
    batch = [a_reading(ReadingKind.METER, 0), a_reading(ReadingKind.PV, 0)]
    # WHEN stored
    repo.loads.add_readings(T, SITE, batch, T0 + timedelta(hours=1), [changed("readings")])
    # THEN the event is published once
    assert [e["reason"] for e in repo.published()] == ["readings"]


def test_load_repository_readings_are_per_site(repo: Repo) -> None:
    # GIVEN a reading of site-1
    repo.loads.add_readings(T, SITE, [a_reading(ReadingKind.METER, 0)], T0 + timedelta(hours=1))
    # WHEN site-2 and another tenant's site-1 are read
    # THEN neither sees it
    assert repo.loads.state(T, "site-2").readings == ()
    assert repo.loads.state("tenant-b", SITE).readings == ()


# -- needs and the allocation -----------------------------------------------------------------


def test_load_repository_needs_are_kept_by_session_and_replaced(repo: Repo) -> None:
    # GIVEN needs of two sessions, then new needs for the first
    until = T0 + timedelta(hours=12)
    first = DeclaredNeeds("s-1", "CP-1", 1, T0, departure=T0 + timedelta(hours=8), energy_kwh=30)
    second = DeclaredNeeds("s-2", "CP-2", 2, T0, priority=7)
    repo.loads.put_needs(T, SITE, first, until)
    repo.loads.put_needs(T, SITE, second, until)
    newer = DeclaredNeeds("s-1", "CP-1", 1, T0 + timedelta(minutes=5), energy_kwh=12.5)
    repo.loads.put_needs(T, SITE, newer, until, [changed("needs")])
    # WHEN the state is read
    needs = repo.loads.state(T, SITE).needs
    # THEN each session has its latest needs, and the event went out
    assert needs == {"s-1": newer, "s-2": second}
    assert [e["reason"] for e in repo.published()] == ["needs"]


def test_load_repository_needs_are_dropped_once_expired(repo: Repo) -> None:
    # GIVEN needs kept for an hour
    repo.loads.put_needs(T, SITE, DeclaredNeeds("s-1", "CP-1", 1, T0), T0 + timedelta(hours=1))
    # WHEN read after the hour
    repo.clock.advance(3601)
    # THEN they are gone
    assert repo.loads.state(T, SITE).needs == {}


def test_load_repository_allocation_is_replaced_whole(repo: Repo) -> None:
    # GIVEN a configuration and two allocations in turn
    repo.loads.put_config(T, a_config(), None)
    assert repo.loads.put_allocation(T, an_allocation(3), 0)
    assert repo.loads.put_allocation(T, an_allocation(1), 1)
    # WHEN the state is read
    state = repo.loads.state(T, SITE)
    # THEN the later allocation is in force, next to the configuration
    assert state.allocation == an_allocation(1)
    assert state.config == a_config()


def test_load_repository_allocation_is_written_only_at_the_revision_read(repo: Repo) -> None:
    # GIVEN no allocation (revision 0), then one stored at revision 0
    assert repo.loads.state(T, SITE).allocation_revision == 0
    assert repo.loads.put_allocation(T, an_allocation(1), 0)
    assert repo.loads.state(T, SITE).allocation_revision == 1
    # WHEN a second writer that also read revision 0 stores its allocation
    lost = repo.loads.put_allocation(T, an_allocation(2), 0)
    # THEN it loses, and the first allocation stands
    assert not lost
    state = repo.loads.state(T, SITE)
    assert state.allocation == an_allocation(1)
    assert state.allocation_revision == 1
    # AND a writer at the revision in force wins, as the next revision
    assert repo.loads.put_allocation(T, an_allocation(3), 1)
    state = repo.loads.state(T, SITE)
    assert state.allocation == an_allocation(3)
    assert state.allocation_revision == 2


def test_load_repository_allocation_is_deleted_only_at_the_revision_read(repo: Repo) -> None:
    # GIVEN an allocation at revision 2, next to the configuration
    repo.loads.put_config(T, a_config(), None)
    repo.loads.put_allocation(T, an_allocation(1), 0)
    repo.loads.put_allocation(T, an_allocation(2), 1)
    # WHEN it is deleted at a stale revision, then at the one in force
    stale = repo.loads.delete_allocation(T, SITE, 1)
    kept = repo.loads.state(T, SITE).allocation
    deleted = repo.loads.delete_allocation(T, SITE, 2)
    # THEN the stale delete changes nothing, the other removes the allocation only
    assert not stale
    assert kept == an_allocation(2)
    assert deleted
    state = repo.loads.state(T, SITE)
    assert state.allocation is None
    assert state.allocation_revision == 0
    assert state.config == a_config()
    # AND deleting none at revision 0 succeeds (nothing to do), and a new one starts afresh
    assert repo.loads.delete_allocation(T, SITE, 0)
    assert repo.loads.put_allocation(T, an_allocation(1), 0)


def test_dynamo_load_repository_allocation_without_revision_counts_as_revision_0(
    dynamo_table: str,
) -> None:
    # GIVEN an allocation item written before allocations had revisions (no `version`)
    loads = _dynamo(dynamo_table).loads
    LoadItem(
        load_pk(T, SITE),
        ALLOCATION,
        tenant_id=T,
        site_id=SITE,
        body=an_allocation(1).model_dump_json(by_alias=True),
    ).save()
    # WHEN it is read and replaced at the revision read
    state = loads.state(T, SITE)
    replaced = loads.put_allocation(T, an_allocation(2), state.allocation_revision)
    # THEN it was revision 0, and the replacement is revision 1
    assert state.allocation == an_allocation(1)
    assert state.allocation_revision == 0
    assert replaced
    assert loads.state(T, SITE).allocation_revision == 1


def test_load_repository_a_large_allocation_round_trips(repo: Repo) -> None:
    # GIVEN an allocation of 1,000 EVSEs (its JSON far above what is stored uncompressed)
    allocation = an_allocation(1000)
    assert len(allocation.model_dump_json(by_alias=True)) > PACK_ABOVE
    # WHEN stored and read
    repo.loads.put_allocation(T, allocation, 0)
    # THEN it reads back equal
    assert repo.loads.state(T, SITE).allocation == allocation


def test_dynamo_load_repository_stores_a_large_allocation_compressed(dynamo_table: str) -> None:
    # GIVEN the DynamoDB adapter
    loads = _dynamo(dynamo_table).loads
    # WHEN a 1,000-EVSE allocation is stored
    loads.put_allocation(T, an_allocation(1000), 0)
    # THEN the item is compressed, well under DynamoDB's 400 KB item limit
    item = LoadItem.get(load_pk(T, SITE), ALLOCATION, consistent_read=True)
    assert item.body is None
    assert item.packed is not None
    assert len(item.packed) < 100_000


def test_dynamo_load_repository_readings_retry_a_lost_race_then_give_up(
    dynamo_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN stored meter readings, and reads of the kind's item that miss them (as if another
    # writer stored them between the read and the write) for the next `stale` reads
    loads = _dynamo(dynamo_table).loads
    until = T0 + timedelta(hours=1)
    loads.add_readings(T, SITE, [a_reading(ReadingKind.METER, 0)], until)
    real_get = LoadItem.get
    stale = [1]

    def get(*args: Any, **kwargs: Any) -> Any:
        if stale[0] > 0:
            stale[0] -= 1
            raise LoadItem.DoesNotExist
        return real_get(*args, **kwargs)

    monkeypatch.setattr(LoadItem, "get", get)
    # WHEN a reading is added after one lost race
    loads.add_readings(T, SITE, [a_reading(ReadingKind.METER, 1)], until)
    # THEN it went in after reading again, the earlier reading kept
    assert len(loads.state(T, SITE).readings) == 2
    # AND when every attempt loses, it gives up rather than overwrite
    stale[0] = 99
    with pytest.raises(RuntimeError, match="kept changing"):
        loads.add_readings(T, SITE, [a_reading(ReadingKind.METER, 2)], until)
    assert len(loads.state(T, SITE).readings) == 2
