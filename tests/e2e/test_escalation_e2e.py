"""Fault escalation end to end: a charger that stays Faulted, `csms local`, the template's flow.

The charger is built on the `ocpp` package and talks over a real WebSocket. It accepts every
Reset but stays Faulted, so the escalation runs its whole course in `csms local`:
- the alert opens after the hold-down, and the template's state machine starts;
- a soft reset, then a hard reset, reach the charger;
- a ticket is opened, and the e-mail lands in the outbox of the data folder.
Waits are cut to seconds (`CSMS_ALERT_HOLD_DOWN_S`, `CSMS_ESCALATION_WAIT_S`, `--jobs-every`).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from tests.e2e.conftest import LocalCsms, start_local
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

STATION, PASSWORD = "ESC-16", "escalation-password-16"
SEED: dict[str, Any] = {
    "sites": [{"id": "site-1", "name": "Escalation", "limitKw": 50}],
    "stations": [{"id": STATION, "siteId": "site-1", "password": PASSWORD, "protocol": "ocpp1.6"}],
}


class StuckCharger(ChargePoint):  # type: ignore[misc]
    """Accepts every Reset and stays Faulted (a broken power module)."""

    resets: list[str]

    @on(Action.reset)  # type: ignore[untyped-decorator]
    def on_reset(self, type: str, **_: Any) -> call_result.Reset:
        self.resets.append(type)
        return call_result.Reset(status="Accepted")


@pytest.fixture(scope="module")
def csms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCsms]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CSMS_ALERT_HOLD_DOWN_S", "0")
        patch.setenv("CSMS_ESCALATION_WAIT_S", "1")
        local = start_local(
            tmp_path_factory.mktemp("escalation"), "--jobs-every", "1", seed_document=SEED
        )
    yield local
    local.stop()


async def _until(check: Any, within: float = 40.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.3)
    raise AssertionError("condition not met in time")


async def test_a_fault_that_outlasts_both_resets_reaches_people(csms: LocalCsms) -> None:
    # GIVEN the tenant's contact e-mail, and a charger connected and booted
    owner = csms.token(role="owner")
    status, _ = await asyncio.to_thread(
        csms.api, "PATCH", "/v1/tenant", {"contactEmail": "ops@example.com"}, token=owner
    )
    assert status == 200
    auth = base64.b64encode(f"{STATION}:{PASSWORD}".encode()).decode()
    async with connect(
        f"{csms.ws_url}/{STATION}",
        subprotocols=[Subprotocol("ocpp1.6")],
        additional_headers={"Authorization": f"Basic {auth}"},
    ) as websocket:
        charger = StuckCharger(STATION, websocket)
        charger.resets = []
        listening = asyncio.create_task(charger.start())
        try:
            await charger.call(
                call.BootNotification(charge_point_vendor="V", charge_point_model="M")
            )
            # WHEN connector 1 faults, and stays so
            await charger.call(
                call.StatusNotification(
                    connector_id=1,
                    error_code="GroundFailure",
                    status="Faulted",
                    vendor_error_code="E-42",
                )
            )

            async def escalated() -> dict[str, Any] | None:
                _, page = await asyncio.to_thread(csms.api, "GET", "/v1/alerts")
                for alert in page["items"]:
                    if any(s["action"] == "partner webhook" for s in alert["steps"]):
                        return dict(alert)
                return None

            alert = await _until(escalated)
        finally:
            listening.cancel()
    # THEN the charger got a soft reset, then a hard one
    assert charger.resets == ["Soft", "Hard"]
    # AND the alert tells every step, in order
    assert (alert["kind"], alert["stationId"], alert["state"]) == ("faulted", STATION, "open")
    assert [s["action"] for s in alert["steps"]] == [
        "escalation started",
        "soft reset",
        "hard reset",
        "maintenance ticket",
        "operator e-mail",
        "partner webhook",
    ]
    # AND one high-priority ticket is open for the alert
    _, tickets = await asyncio.to_thread(csms.api, "GET", "/v1/tickets")
    [ticket] = tickets["items"]
    assert (ticket["alertIds"], ticket["priority"], ticket["state"]) == (
        [alert["id"]],
        "high",
        "open",
    )
    # AND the e-mail is in the data folder's outbox, to the contact, naming the ticket
    [mail] = list((csms.data_dir / "outbox").glob("*.eml"))
    text = mail.read_text()
    assert "To: ops@example.com" in text
    assert ticket["id"] in text
