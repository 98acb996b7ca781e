"""The allocation: a limit per EVSE, and the diff that decides which stations get a profile."""

from __future__ import annotations

from typing import Any

from tests.fakes import T0

from csms.domain.load.allocation import Allocation, ConnectorLimit, Reason, changes, total


def a_limit(connector: str = "CS-1/1", **over: Any) -> ConnectorLimit:
    station_id, evse_id = connector.split("/")
    fields: dict[str, Any] = {
        "connector": connector,
        "station_id": station_id,
        "evse_id": int(evse_id),
        "session_id": f"tx-{connector}",
        "kw": 11.04,
        "amps": 16.0,
        "reason": Reason.SHARE,
    }
    fields.update(over)
    return ConnectorLimit(**fields)


def an_allocation(*limits: ConnectorLimit) -> Allocation:
    return Allocation(
        site_id="site-1", at=T0, available_kw=100.0, constraint="site-limit", connectors=limits
    )


def test_changes_of_a_first_allocation_are_every_session() -> None:
    # GIVEN a first allocation with two sessions and an idle EVSE
    current = an_allocation(
        a_limit("CS-1/1"),
        a_limit("CS-2/1"),
        a_limit("CS-3/1", session_id=None, kw=0.0, amps=0.0, reason=Reason.IDLE),
    )
    # WHEN diffed against nothing
    # THEN both sessions get a profile, the idle EVSE none
    assert [c.connector for c in changes(None, current)] == ["CS-1/1", "CS-2/1"]


def test_changes_are_empty_when_every_limit_is_the_same() -> None:
    # GIVEN the same limits again (reasons and timestamps may differ)
    previous = an_allocation(a_limit("CS-1/1"), a_limit("DC-1/1", amps=None, kw=50.0))
    current = an_allocation(
        a_limit("CS-1/1", reason=Reason.LIMIT, since=T0), a_limit("DC-1/1", amps=None, kw=50.0)
    )
    # THEN nothing is sent
    assert changes(previous, current) == ()


def test_changes_compare_amps_for_ac_and_kw_otherwise() -> None:
    # GIVEN an AC limit whose amps moved, one whose kW moved but not its amps, and a DC limit
    # whose kW moved
    previous = an_allocation(
        a_limit("CS-1/1"), a_limit("CS-2/1"), a_limit("DC-1/1", amps=None, kw=50.0)
    )
    current = an_allocation(
        a_limit("CS-1/1", amps=16.1, kw=11.1),
        a_limit("CS-2/1", kw=11.06),
        a_limit("DC-1/1", amps=None, kw=49.0),
    )
    # WHEN diffed
    changed = changes(previous, current)
    # THEN the amps decide for AC (what the profile says), kW for DC
    assert [c.connector for c in changed] == ["CS-1/1", "DC-1/1"]


def test_changes_compare_kw_when_the_old_limit_had_no_amps() -> None:
    previous = an_allocation(a_limit("CS-1/1", amps=None))
    assert changes(previous, an_allocation(a_limit("CS-1/1", kw=7.0))) != ()
    assert changes(previous, an_allocation(a_limit("CS-1/1"))) == ()


def test_changes_include_a_new_session_on_the_same_evse_with_the_same_limit() -> None:
    # GIVEN the same limit, now for the next driver's session
    previous = an_allocation(a_limit("CS-1/1", session_id="tx-1"))
    current = an_allocation(a_limit("CS-1/1", session_id="tx-2"))
    # THEN the new transaction gets its own profile
    assert changes(previous, current) == current.connectors


def test_changes_never_include_an_idle_evse() -> None:
    # GIVEN a session that ended: its EVSE is idle now, its limit dropped to 0
    previous = an_allocation(a_limit("CS-1/1"))
    current = an_allocation(
        a_limit("CS-1/1", session_id=None, kw=0.0, amps=0.0, reason=Reason.IDLE)
    )
    # THEN nothing is sent: a TxProfile ends with its transaction
    assert changes(previous, current) == ()


def test_limit_of_finds_a_connector_or_none() -> None:
    allocation = an_allocation(a_limit("CS-1/1"), a_limit("CS-2/1", kw=3.0))
    found = allocation.limit_of("CS-2/1")
    assert found is not None
    assert found.kw == 3.0
    assert allocation.limit_of("CS-9/1") is None


def test_allocated_kw_and_total_sum_every_limit() -> None:
    limits = (a_limit("CS-1/1", kw=11.0), a_limit("CS-2/1", kw=3.5), a_limit("CS-3/1", kw=0.0))
    assert an_allocation(*limits).allocated_kw == 14.5
    assert total(limits) == 14.5
    assert an_allocation().allocated_kw == 0
