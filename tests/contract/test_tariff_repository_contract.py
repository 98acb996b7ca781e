"""One contract suite for TariffRepository, run against the in-memory fake and against the
DynamoDB adapter on moto (table from the synthesized template). The port docstrings in
`csms.services.tariffs` are the contract.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.fakes import T0, InMemoryTariffRepository

from csms.adapters.dynamo_tariffs import DynamoTariffRepository
from csms.domain.billing.assignment import TariffAssignment
from csms.domain.billing.tariff import Tariff
from csms.domain.errors import InvalidCursorError, InvalidReferenceError, ResourceInUseError
from csms.services.tariffs import TariffRepository, TariffVersion

T, OTHER = "t-1", "t-2"


@pytest.fixture(params=["memory", "dynamo"])
def repo(request: pytest.FixtureRequest) -> TariffRepository:
    if request.param == "dynamo":
        request.getfixturevalue("dynamo_table")
        return DynamoTariffRepository()
    return InMemoryTariffRepository()


def a_version(
    tariff_id: str = "public", version: int = 1, minutes: int = 0, **over: Any
) -> TariffVersion:
    tariff = Tariff.model_validate(
        {
            "id": tariff_id,
            "version": version,
            "name": "Public AC",
            "currency": "EUR",
            "tax_rates": [{"name": "VAT", "percent": "19"}],
            "prices": {
                "energy_per_kwh": "0.39",
                "charging_time": {"amount": "0.05", "per": "minute"},
            },
            "tou": [
                {
                    "name": "peak",
                    "windows": [{"days": ["Monday"], "start": "17:00", "end": "21:00"}],
                    "prices": {"energy_per_kwh": "0.49"},
                }
            ],
            "idle_fee": {"rate": {"amount": "0.10", "per": "minute"}, "grace_minutes": 30},
            **over,
        }
    )
    return TariffVersion(tariff, T0 + timedelta(minutes=minutes))


def _next(
    repo: TariffRepository, tariff_id: str, version: int, minutes: int, **over: Any
) -> TariffVersion:
    new = a_version(tariff_id, version, minutes, **over)
    assert repo.add_version(T, new, version - 1)
    return new


def _walk(page_of: Callable[[str | None], Any]) -> list[list[Any]]:
    pages: list[list[Any]] = []
    cursor: str | None = None
    while True:
        page = page_of(cursor)
        pages.append(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return pages


def test_tariffs_round_trip_exactly_and_refuse_a_second_create(repo: TariffRepository) -> None:
    # GIVEN a stored tariff
    first = a_version()
    assert repo.create_tariff(T, first)
    # WHEN read, created again, read by another tenant
    # THEN as stored (Decimals exact); refused; absent
    assert repo.get_tariff(T, "public") == first
    assert repo.get_tariff(T, "public").tariff.prices.energy_per_kwh == Decimal("0.39")  # type: ignore[union-attr]
    assert not repo.create_tariff(T, a_version(name="Other"))
    assert repo.get_tariff(OTHER, "public") is None
    assert repo.get_version(OTHER, "public", 1) is None


def test_tariffs_add_versions_only_over_the_current_one_and_keep_them_all(
    repo: TariffRepository,
) -> None:
    # GIVEN version 1
    repo.create_tariff(T, a_version())
    # WHEN version 2 is added over a wrong version, then over 1; then 3 over 2
    assert not repo.add_version(T, a_version(version=2, minutes=5), 7)
    v2 = _next(repo, "public", 2, 10, name="Public AC 2")
    v3 = _next(repo, "public", 3, 20, name="Public AC 3")
    # THEN the head is 3, each version stays readable, a missing one is absent
    assert repo.get_tariff(T, "public") == v3
    assert repo.get_version(T, "public", 2) == v2
    assert repo.get_version(T, "public", 1) == a_version()
    assert repo.get_version(T, "public", 4) is None
    # AND a version for a tariff never created is refused
    assert not repo.add_version(T, a_version("ghost", 2), 1)


def test_tariffs_version_at_returns_the_version_in_force(repo: TariffRepository) -> None:
    # GIVEN versions from T0, T0+10 min and T0+20 min
    repo.create_tariff(T, a_version())
    _next(repo, "public", 2, 10)
    _next(repo, "public", 3, 20)

    def at(minutes: float) -> int | None:
        found = repo.version_at(T, "public", T0 + timedelta(minutes=minutes))
        return found.version if found else None

    # WHEN asked for moments before, at and between the changes
    # THEN the newest that had taken effect; none before the first
    assert [at(-1), at(0), at(9.9), at(10), at(15), at(20), at(999)] == [None, 1, 1, 2, 2, 3, 3]
    assert repo.version_at(T, "ghost", T0) is None
    assert repo.version_at(OTHER, "public", T0) is None


def test_tariffs_list_current_versions_by_id_in_full_pages_without_the_deleted(
    repo: TariffRepository,
) -> None:
    # GIVEN five tariffs (one at version 2, one deleted) and one of another tenant
    for tariff_id in ("e", "a", "d", "b", "c", "x"):
        repo.create_tariff(T, a_version(tariff_id))
    _next(repo, "c", 2, 1)
    assert repo.delete_tariff(T, "x", 1)
    repo.create_tariff(OTHER, a_version("a0"))
    # WHEN listed two at a time
    pages = _walk(lambda cursor: repo.list_tariffs(T, 2, cursor))
    # THEN by id, the current versions, the deleted left out
    assert [[(v.tariff.id, v.version) for v in page] for page in pages] == [
        [("a", 1), ("b", 1)],
        [("c", 2), ("d", 1)],
        [("e", 1)],
    ]
    # AND a cursor from another list is refused
    with pytest.raises(InvalidCursorError):
        repo.list_tariffs(T, 2, "bm9wZQ")


def test_tariff_versions_list_oldest_first(repo: TariffRepository) -> None:
    # GIVEN three versions, and a tariff whose id extends this one's
    repo.create_tariff(T, a_version())
    repo.create_tariff(T, a_version("public-2"))
    _next(repo, "public", 2, 1)
    _next(repo, "public", 3, 2)
    # WHEN listed two at a time
    pages = _walk(lambda cursor: repo.list_versions(T, "public", 2, cursor))
    # THEN in order, and only this tariff's
    assert [[v.version for v in page] for page in pages] == [[1, 2], [3]]
    assert repo.list_versions(T, "ghost", 5).items == []


def test_tariffs_delete_only_at_the_version_and_keep_the_versions(repo: TariffRepository) -> None:
    # GIVEN a tariff at version 2
    repo.create_tariff(T, a_version())
    _next(repo, "public", 2, 5)
    # WHEN deleted at a wrong version, then at 2
    assert not repo.delete_tariff(T, "public", 1)
    assert repo.delete_tariff(T, "public", 2)
    # THEN it is gone from reads and further changes, its versions stay, its id stays taken
    assert repo.get_tariff(T, "public") is None
    assert not repo.delete_tariff(T, "public", 2)
    assert not repo.add_version(T, a_version(version=3), 2)
    assert repo.get_version(T, "public", 2) is not None
    assert repo.version_at(T, "public", T0 + timedelta(hours=1)) is not None
    assert not repo.create_tariff(T, a_version())
    assert not repo.delete_tariff(T, "ghost", 1)


def test_assignments_round_trip_and_refuse_a_taken_slot(repo: TariffRepository) -> None:
    # GIVEN two tariffs and an assignment of one at a site
    repo.create_tariff(T, a_version("public"))
    repo.create_tariff(T, a_version("other"))
    site = TariffAssignment(tariff_id="public", site_id="s1", created_at=T0)
    assert repo.create_assignment(T, site)
    # WHEN read, and another tariff assigned to the same slot
    # THEN as stored; the slot is refused; another tenant sees nothing
    assert repo.get_assignment(T, site.id) == site
    assert not repo.create_assignment(T, TariffAssignment(tariff_id="other", site_id="s1"))
    assert repo.get_assignment(OTHER, site.id) is None
    assert repo.all_assignments(T) == [site]
    assert repo.all_assignments(OTHER) == []


def test_assignments_need_a_tariff_that_is_not_deleted(repo: TariffRepository) -> None:
    # GIVEN a deleted tariff
    repo.create_tariff(T, a_version("gone"))
    repo.delete_tariff(T, "gone", 1)
    # WHEN assigned, or a tariff never created is
    # THEN refused, nothing written
    for tariff_id in ("gone", "ghost"):
        with pytest.raises(InvalidReferenceError):
            repo.create_assignment(T, TariffAssignment(tariff_id=tariff_id))
    assert repo.all_assignments(T) == []


def test_assigned_tariffs_cannot_be_deleted_until_unassigned(repo: TariffRepository) -> None:
    # GIVEN a tariff two assignments name
    repo.create_tariff(T, a_version())
    first = TariffAssignment(tariff_id="public", site_id="s1", valid_from=T0)
    second = TariffAssignment(tariff_id="public", group_id="fleet", valid_from=T0)
    repo.create_assignment(T, first)
    repo.create_assignment(T, second)
    # WHEN deleted while named, after one assignment ended, after both
    with pytest.raises(ResourceInUseError):
        repo.delete_tariff(T, "public", 1)
    assert repo.end_assignment(T, _ended(first))
    with pytest.raises(ResourceInUseError):
        repo.delete_tariff(T, "public", 1)
    assert repo.end_assignment(T, _ended(second))
    # THEN refused twice, then deleted; an assignment ended twice is refused the second time,
    # and the ended one stays readable
    assert not repo.end_assignment(T, _ended(second, hours=2))
    assert repo.get_assignment(T, second.id) == _ended(second)
    assert not repo.end_assignment(T, _ended(TariffAssignment(tariff_id="public", valid_from=T0)))
    assert repo.delete_tariff(T, "public", 1)


def _ended(assignment: TariffAssignment, hours: int = 1) -> TariffAssignment:
    return assignment.model_copy(update={"valid_until": T0 + timedelta(hours=hours)})


def test_assignment_history_frees_the_slot_and_keeps_the_ended(repo: TariffRepository) -> None:
    # GIVEN a site assignment that ended, and a new one of another tariff in its slot
    repo.create_tariff(T, a_version("public"))
    repo.create_tariff(T, a_version("other"))
    old = TariffAssignment(tariff_id="public", site_id="s1", valid_from=T0)
    assert repo.create_assignment(T, old)
    assert repo.end_assignment(T, _ended(old))
    new = TariffAssignment(tariff_id="other", site_id="s1", valid_from=T0 + timedelta(hours=1))
    created = repo.create_assignment(T, new)

    # WHEN a third one is assigned to the slot while the new one is in force
    third = TariffAssignment(tariff_id="public", site_id="s1", valid_from=T0 + timedelta(hours=2))
    refused = repo.create_assignment(T, third)

    # THEN the slot took the new one and refused the third; both the ended and the new one are
    # read back, listed only with the ended ones included, and given to `resolve`
    assert created
    assert not refused
    assert new.id != old.id
    assert repo.get_assignment(T, old.id) == _ended(old)
    assert repo.get_assignment(T, new.id) == new
    assert repo.get_assignment(T, third.id) is None
    assert repo.list_assignments(T, 10).items == [new]
    assert sorted(a.id for a in repo.list_assignments(T, 10, include_ended=True).items) == sorted(
        [old.id, new.id]
    )
    assert sorted(a.id for a in repo.all_assignments(T)) == sorted([old.id, new.id])
    # AND the tariff only the ended one names may be deleted
    assert repo.delete_tariff(T, "public", 1)


def test_assignment_stored_before_history_still_holds_its_slot(repo: TariffRepository) -> None:
    # GIVEN an assignment without `valid_from` (stored before assignments had a history)
    repo.create_tariff(T, a_version("public"))
    legacy = TariffAssignment(tariff_id="public", site_id="s1", created_at=T0)
    assert repo.create_assignment(T, legacy)
    later = TariffAssignment(tariff_id="public", site_id="s1", valid_from=T0 + timedelta(hours=2))

    # WHEN a new assignment takes its slot while it is in force, and after it ended
    while_in_force = repo.create_assignment(T, later)
    assert repo.end_assignment(T, _ended(legacy))
    after_it_ended = repo.create_assignment(T, later)

    # THEN refused first, then stored; the old one keeps the slot's id, in force since always
    assert not while_in_force
    assert after_it_ended
    assert repo.get_assignment(T, legacy.id) == _ended(legacy)
    assert repo.get_assignment(T, later.id) == later


def test_assignments_list_by_id_in_full_pages_even_when_restricted(repo: TariffRepository) -> None:
    # GIVEN assignments at three sites and one tenant-wide
    repo.create_tariff(T, a_version())
    made = [TariffAssignment(tariff_id="public", site_id=s) for s in ("s1", "s2", "s3")]
    made.append(TariffAssignment(tariff_id="public"))
    for assignment in made:
        repo.create_assignment(T, assignment)
    by_id = sorted(made, key=lambda a: a.id)
    # WHEN listed two at a time, all and only at s1 and s3
    everything = _walk(lambda cursor: repo.list_assignments(T, 2, cursor))
    some = _walk(lambda cursor: repo.list_assignments(T, 1, cursor, only=frozenset({"s1", "s3"})))
    # THEN by id, full pages but the last
    assert [a for page in everything for a in page] == by_id
    assert [len(page) for page in everything] == [2, 2]
    assert [a.site_id for page in some for a in page] == [
        a.site_id for a in by_id if a.site_id in ("s1", "s3")
    ]
    assert all(len(page) == 1 for page in some)
