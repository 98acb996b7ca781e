"""A valid sample request for every operation of the HTTP API, and the world they are valid in.

The world is tenant `acme` on moto: two sites, a booted 2.0.1 station with a connector, an id
token, a session started by real OCPP frames, an answered command, and (once their routes exist)
a driver group, a vehicle and a user, made through the API itself. `SAMPLES` holds, for every
`(METHOD, path)` of `ROUTE_PERMISSIONS`, a request that the owner of `acme` may send in that
world and that succeeds; the permission and tenant isolation tests walk every route through it,
and fail for a route that has no sample (so no route slips through).

Ids are `acme`-prefixed on purpose: `World.values()` lists everything of acme's that must never
show up in an answer to another tenant.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from tests.integration.billing_world import WEBHOOK_SECRET, signed, store_paid_receipt
from tests.integration.conftest import Ctx, connect_event, http_event, invoke_api, message_event

from csms.adapters.dynamo_alerts import DynamoAlertRepository
from csms.adapters.outbox import OutboxEncoder
from csms.adapters.system import new_uuid
from csms.domain.alerts import Alert, AlertKey, AlertKind, Severity, Watch, WatchState
from csms.domain.connector import EvseRef
from csms.domain.seed import Seed
from csms.domain.sessions import session_id
from csms.handlers import _runtime, ws_connect, ws_message
from csms_local import emulation

TENANT = "acme"
OTHER_TENANT = "globex"
STATION_PASSWORD = "acme-station-secret-1"
CONNECTION = "acme-conn-1"


@dataclass
class World:
    """What tenant acme has; ids of things made through the API are filled in as they are made."""

    tenant: str = TENANT
    site: str = "acme-site-1"
    spare_site: str = "acme-site-2"
    station: str = "ACME-CP-1"
    token: str = "ACME-TAG-1"
    transaction: str = "ACME-TX-1"
    session: str = ""
    command: str = ""
    pending_command: str = ""
    group: str = "acme-fleet"
    spare_group: str = "acme-residents"
    vehicle: str = "acme-van-1"
    spare_vehicle: str = "acme-van-2"
    vin: str = "ACMEV1N0000000001"
    user: str = ""
    spare_user: str = ""
    user_email: str = "dispatch@acme.example"
    spare_user_email: str = "night-shift@acme.example"
    tenant_name: str = "Acme Charging Corp"
    serial: str = "ACME-SN-0001"
    extra: dict[str, str] = field(default_factory=dict)

    def values(self) -> list[str]:
        """Every id and value of acme's that another tenant must never be shown."""
        fixed = [
            self.site,
            self.spare_site,
            self.station,
            self.token,
            self.transaction,
            self.session,
            self.command,
            self.pending_command,
            self.group,
            self.spare_group,
            self.vehicle,
            self.spare_vehicle,
            self.vin,
            self.user,
            self.spare_user,
            self.user_email,
            self.spare_user_email,
            self.tenant_name,
            self.serial,
            STATION_PASSWORD,
            CONNECTION,
            *self.extra.values(),
        ]
        return [value for value in fixed if value]


@dataclass(frozen=True)
class Sample:
    """One request: path parameters, query, JSON body and headers."""

    params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def path(self, template: str) -> str:
        """The template (`/v1/x/<id>`) with its parameters filled in."""
        for name, value in self.params.items():
            template = template.replace(f"<{name}>", value)
        assert "<" not in template, f"a path parameter of {template} has no sample value"
        return template

    def text(self, template: str) -> str:
        """Everything the request carries, as text (what an answer may echo back)."""
        return " ".join(
            [self.path(template), urlencode(self.query), json.dumps(self.body), str(self.headers)]
        )


def _station(w: World, **more: Any) -> Sample:
    return Sample({"station_id": w.station}, **more)


TARIFF_TERMS: dict[str, Any] = {
    "name": "Acme public",
    "currency": "EUR",
    "taxRates": [{"name": "VAT", "percent": "19"}],
    "prices": {"energyPerKwh": "0.39"},
}

# (METHOD, path as declared) -> the sample request in acme's world. Requests that remove or
# retire something aim at the spare things, so the sample of every route works on a fresh world.
SAMPLES: dict[tuple[str, str], Callable[[World], Sample]] = {
    ("GET", "/v1/openapi.json"): lambda w: Sample(),
    # -- tenant, sites, groups, vehicles, users
    ("GET", "/v1/tenant"): lambda w: Sample(),
    ("PATCH", "/v1/tenant"): lambda w: Sample(body={"defaultTimezone": "Europe/Paris"}),
    ("GET", "/v1/sites"): lambda w: Sample(query={"limit": "10"}),
    ("POST", "/v1/sites"): lambda w: Sample(
        body={
            "id": "new-site-9",
            "name": "New site",
            "limitKw": 60,
            "timezone": "Europe/Berlin",
            "address": {
                "street": "Main St 1",
                "postalCode": "10115",
                "city": "Berlin",
                "country": "DE",
            },
        }
    ),
    ("GET", "/v1/sites/<site_id>"): lambda w: Sample({"site_id": w.site}),
    ("PATCH", "/v1/sites/<site_id>"): lambda w: Sample({"site_id": w.site}, body={"limitKw": 175}),
    ("DELETE", "/v1/sites/<site_id>"): lambda w: Sample({"site_id": w.spare_site}),
    ("GET", "/v1/sites/<site_id>/live"): lambda w: Sample({"site_id": w.site}),
    ("GET", "/v1/groups"): lambda w: Sample(query={"limit": "10"}),
    ("POST", "/v1/groups"): lambda w: Sample(
        body={"id": "new-group-9", "kind": "members", "name": "Members"}
    ),
    ("GET", "/v1/groups/<group_id>"): lambda w: Sample({"group_id": w.group}),
    ("PATCH", "/v1/groups/<group_id>"): lambda w: Sample(
        {"group_id": w.group}, body={"name": "Acme vans"}
    ),
    ("DELETE", "/v1/groups/<group_id>"): lambda w: Sample({"group_id": w.spare_group}),
    ("GET", "/v1/vehicles"): lambda w: Sample(query={"groupId": w.group, "limit": "10"}),
    ("POST", "/v1/vehicles"): lambda w: Sample(
        body={"id": "new-van-9", "groupId": w.group, "batteryKwh": 60, "name": "Van 9"}
    ),
    ("GET", "/v1/vehicles/<vehicle_id>"): lambda w: Sample({"vehicle_id": w.vehicle}),
    ("PATCH", "/v1/vehicles/<vehicle_id>"): lambda w: Sample(
        {"vehicle_id": w.vehicle}, body={"batteryKwh": 82}
    ),
    ("DELETE", "/v1/vehicles/<vehicle_id>"): lambda w: Sample({"vehicle_id": w.spare_vehicle}),
    ("GET", "/v1/users"): lambda w: Sample(query={"limit": "10"}),
    ("POST", "/v1/users"): lambda w: Sample(
        body={"email": "new-user-9@example.org", "name": "New user", "role": "viewer"}
    ),
    ("GET", "/v1/users/<user_id>"): lambda w: Sample({"user_id": w.user}),
    ("PATCH", "/v1/users/<user_id>"): lambda w: Sample(
        {"user_id": w.user}, body={"name": "Acme dispatch desk"}
    ),
    ("DELETE", "/v1/users/<user_id>"): lambda w: Sample({"user_id": w.spare_user}),
    # -- stations
    ("GET", "/v1/stations"): lambda w: Sample(query={"siteId": w.site, "limit": "10"}),
    ("POST", "/v1/stations"): lambda w: Sample(
        body={"id": "NEW-CP-9", "siteId": w.site, "name": "Bay 9"}
    ),
    ("GET", "/v1/stations/<station_id>"): _station,
    ("PATCH", "/v1/stations/<station_id>"): lambda w: _station(w, body={"name": "Acme bay 1"}),
    ("POST", "/v1/stations/<station_id>/password"): lambda w: _station(w, body={}),
    ("POST", "/v1/stations/<station_id>/decommission"): _station,
    ("GET", "/v1/stations/<station_id>/connection-log"): lambda w: _station(
        w, query={"limit": "5"}
    ),
    ("GET", "/v1/stations/<station_id>/messages"): lambda w: _station(w, query={"limit": "5"}),
    ("PUT", "/v1/stations/<station_id>/trace"): lambda w: _station(w, body={"minutes": 30}),
    ("DELETE", "/v1/stations/<station_id>/trace"): _station,
    # -- live view
    ("GET", "/v1/live"): lambda w: Sample(query={"limit": "10"}),
    # -- commands
    ("POST", "/v1/stations/<station_id>/commands"): lambda w: _station(
        w, body={"action": "Reset", "kind": "Soft"}
    ),
    ("GET", "/v1/stations/<station_id>/commands"): lambda w: _station(w, query={"limit": "5"}),
    ("GET", "/v1/stations/<station_id>/commands/<command_id>"): lambda w: Sample(
        {"station_id": w.station, "command_id": w.command}
    ),
    ("DELETE", "/v1/stations/<station_id>/commands/<command_id>"): lambda w: Sample(
        {"station_id": w.station, "command_id": w.pending_command}
    ),
    # -- sessions
    ("GET", "/v1/sessions"): lambda w: Sample(query={"stationId": w.station, "limit": "10"}),
    ("GET", "/v1/sessions/<session_id>"): lambda w: Sample({"session_id": w.session}),
    ("GET", "/v1/sessions/<session_id>/meter-values"): lambda w: Sample(
        {"session_id": w.session}, query={"limit": "10"}
    ),
    # -- id tokens
    ("GET", "/v1/tokens"): lambda w: Sample(query={"limit": "10"}),
    ("POST", "/v1/tokens"): lambda w: Sample(body={"idToken": "NEW-TAG-9", "type": "ISO14443"}),
    ("GET", "/v1/tokens/<id_token>"): lambda w: Sample({"id_token": w.token}),
    ("PATCH", "/v1/tokens/<id_token>"): lambda w: Sample(
        {"id_token": w.token}, body={"status": "Blocked"}
    ),
    # -- load management
    ("GET", "/v1/sites/<site_id>/load-config"): lambda w: Sample({"site_id": w.site}),
    ("PUT", "/v1/sites/<site_id>/load-config"): lambda w: Sample(
        {"site_id": w.site},
        body={"limitKw": 120, "stations": [{"stationId": w.station, "maxKw": 22}]},
    ),
    ("DELETE", "/v1/sites/<site_id>/load-config"): lambda w: Sample({"site_id": w.spare_site}),
    ("POST", "/v1/sites/<site_id>/readings"): lambda w: Sample(
        {"site_id": w.site},
        body={"readings": [{"kind": "pv", "at": _wire(datetime.now(UTC)), "kw": 12.5}]},
    ),
    ("GET", "/v1/sites/<site_id>/load"): lambda w: Sample({"site_id": w.site}),
    ("PUT", "/v1/sessions/<session_id>/needs"): lambda w: Sample(
        {"session_id": w.session},
        body={
            "departure": _wire(datetime.now(UTC) + timedelta(hours=8)),
            "energyKwh": 30,
            "priority": 3,
        },
    ),
    # -- audit, export
    ("GET", "/v1/audit"): lambda w: Sample(query={"limit": "10"}),
    ("GET", "/v1/export/<kind>"): lambda w: Sample({"kind": "sessions"}, query={"limit": "10"}),
    # -- tariffs and tariff assignments
    ("GET", "/v1/sessions/<session_id>/price"): lambda w: Sample({"session_id": w.session}),
    ("GET", "/v1/tariffs"): lambda w: Sample(query={"limit": "10"}),
    ("POST", "/v1/tariffs"): lambda w: Sample(body={"id": "acme-new-tariff", **TARIFF_TERMS}),
    ("GET", "/v1/tariffs/<tariff_id>"): lambda w: Sample({"tariff_id": w.extra["tariff"]}),
    ("PUT", "/v1/tariffs/<tariff_id>"): lambda w: Sample(
        {"tariff_id": w.extra["tariff"]}, body={**TARIFF_TERMS, "sessionFee": "1"}
    ),
    ("DELETE", "/v1/tariffs/<tariff_id>"): lambda w: Sample({"tariff_id": w.extra["spare_tariff"]}),
    ("GET", "/v1/tariffs/<tariff_id>/versions"): lambda w: Sample(
        {"tariff_id": w.extra["tariff"]}, query={"limit": "10"}
    ),
    ("GET", "/v1/tariffs/<tariff_id>/versions/<version>"): lambda w: Sample(
        {"tariff_id": w.extra["tariff"], "version": "1"}
    ),
    ("GET", "/v1/tariff-assignments"): lambda w: Sample(query={"limit": "10"}),
    ("POST", "/v1/tariff-assignments"): lambda w: Sample(
        body={"tariffId": w.extra["tariff"], "stationId": w.station, "evseId": 1}
    ),
    ("GET", "/v1/tariff-assignments/resolve"): lambda w: Sample(
        query={"stationId": w.station, "evseId": "1", "idToken": w.token}
    ),
    ("GET", "/v1/tariff-assignments/<assignment_id>"): lambda w: Sample(
        {"assignment_id": w.extra["assignment"]}
    ),
    ("DELETE", "/v1/tariff-assignments/<assignment_id>"): lambda w: Sample(
        {"assignment_id": w.extra["spare_assignment"]}
    ),
    # -- billing (a paid receipt and its CDR, stored in build_world)
    ("GET", "/v1/invoices"): lambda w: Sample(query={"limit": "10"}),
    ("GET", "/v1/invoices/<invoice_id>"): lambda w: Sample({"invoice_id": w.extra["invoice"]}),
    ("POST", "/v1/invoices/<invoice_id>/refunds"): lambda w: Sample(
        {"invoice_id": w.extra["invoice"]},
        body={"amount": "1.00", "reason": "Charger stopped early", "requestId": "refund-1"},
    ),
    ("GET", "/v1/cdrs"): lambda w: Sample(query={"limit": "10"}),
    ("GET", "/v1/cdrs/<cdr_id>"): lambda w: Sample({"cdr_id": w.extra["cdr"]}),
    ("GET", "/v1/sessions/<session_id>/billing"): lambda w: Sample({"session_id": w.session}),
    # The receipt's session ended today (UTC): a report of the days around it holds it.
    ("GET", "/v1/reports/billing"): lambda w: Sample(query=_report_days("site")),
    # The world's session started today (UTC): a report of the days around it holds it.
    ("GET", "/v1/reports/usage"): lambda w: Sample(
        query={**_report_days("station"), "period": "day"}
    ),
    # -- billing accounts (the station's token's, made in build_world as billing would)
    ("GET", "/v1/billing-accounts"): lambda w: Sample(query={"limit": "10"}),
    ("GET", "/v1/billing-accounts/<account_id>"): lambda w: Sample(
        {"account_id": w.extra["account"]}
    ),
    ("PATCH", "/v1/billing-accounts/<account_id>"): lambda w: Sample(
        {"account_id": w.extra["account"]},
        body={"email": "driver@acme.example", "paymentMethod": "pm_acme_card"},
    ),
    ("POST", "/v1/billing-accounts/<account_id>/payment-method-setup"): lambda w: Sample(
        {"account_id": w.extra["account"]}, body={"requestId": "acme-setup-1"}
    ),
    # -- alerts
    ("GET", "/v1/alerts"): lambda w: Sample(query={"state": "open", "limit": "10"}),
    ("GET", "/v1/alerts/<alert_id>"): lambda w: Sample({"alert_id": w.extra["alert"]}),
    # -- uptime
    ("GET", "/v1/uptime"): lambda w: Sample(query={"siteId": w.site}),
    ("GET", "/v1/uptime/report"): lambda w: Sample(query={"quarter": "2026-Q3"}),
    ("GET", "/v1/uptime/exclusions"): lambda w: Sample(query={"stationId": w.station}),
    ("GET", "/v1/uptime/exclusions/<exclusion_id>"): lambda w: Sample(
        {"exclusion_id": w.extra["exclusion"]}
    ),
    ("POST", "/v1/uptime/exclusions"): lambda w: Sample(body=_exclusion(w)),
    ("DELETE", "/v1/uptime/exclusions/<exclusion_id>"): lambda w: Sample(
        {"exclusion_id": w.extra["spare_exclusion"]}
    ),
    # -- maintenance
    ("GET", "/v1/tickets"): lambda w: Sample(query={"state": "open", "stationId": w.station}),
    ("POST", "/v1/tickets"): lambda w: Sample(body=_ticket(w)),
    ("GET", "/v1/tickets/<ticket_id>"): lambda w: Sample({"ticket_id": w.extra["ticket"]}),
    ("PATCH", "/v1/tickets/<ticket_id>"): lambda w: Sample(
        {"ticket_id": w.extra["ticket"]}, body={"priority": "urgent"}
    ),
    ("POST", "/v1/tickets/<ticket_id>/transitions"): lambda w: Sample(
        {"ticket_id": w.extra["ticket"]}, body={"to": "assigned", "assignee": w.user}
    ),
    ("GET", "/v1/stations/<station_id>/service-history"): lambda w: Sample(
        {"station_id": w.station}
    ),
    ("GET", "/v1/maintenance-plans"): lambda w: Sample(query={"limit": "10"}),
    ("POST", "/v1/maintenance-plans"): lambda w: Sample(body=_plan(w)),
    ("GET", "/v1/maintenance-plans/<plan_id>"): lambda w: Sample({"plan_id": w.extra["plan"]}),
    ("DELETE", "/v1/maintenance-plans/<plan_id>"): lambda w: Sample(
        {"plan_id": w.extra["spare_plan"]}
    ),
    ("POST", "/v1/maintenance-plans/<plan_id>/services"): lambda w: Sample(
        {"plan_id": w.extra["plan"]}, body={"note": "acme filters cleaned"}
    ),
    # -- partner webhooks (the endpoint is a public address literal: no DNS in tests)
    ("GET", "/v1/webhooks"): lambda w: Sample(query={"limit": "10"}),
    ("POST", "/v1/webhooks"): lambda w: Sample(body=_webhook(w)),
    ("GET", "/v1/webhooks/<webhook_id>"): lambda w: Sample({"webhook_id": w.extra["webhook"]}),
    ("PATCH", "/v1/webhooks/<webhook_id>"): lambda w: Sample(
        {"webhook_id": w.extra["webhook"]}, body={"description": "acme ERP v2"}
    ),
    ("DELETE", "/v1/webhooks/<webhook_id>"): lambda w: Sample(
        {"webhook_id": w.extra["spare_webhook"]}
    ),
    ("POST", "/v1/webhooks/<webhook_id>/rotate-secret"): lambda w: Sample(
        {"webhook_id": w.extra["webhook"]}
    ),
    ("GET", "/v1/webhooks/<webhook_id>/deliveries"): lambda w: Sample(
        {"webhook_id": w.extra["webhook"]}, query={"limit": "10"}
    ),
    # A range before anything happened: answered 202 with nothing queued.
    ("POST", "/v1/webhooks/<webhook_id>/replay"): lambda w: Sample(
        {"webhook_id": w.extra["webhook"]},
        body={"from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z"},
    ),
    # Public (Stripe calls it): signed, of a type billing does not act on, so it changes nothing.
    ("POST", "/v1/payments/stripe/webhook"): lambda w: _webhook_sample(),
}


def _exclusion(w: World) -> dict[str, Any]:
    return {
        "stationId": w.station,
        "category": "electric-utility-interruption",
        "reason": "acme utility feeder fault",
        "start": "2026-07-14T13:05:00Z",
        "end": "2026-07-14T16:40:00Z",
    }


def _ticket(w: World) -> dict[str, Any]:
    return {"stationId": w.station, "evseId": 1, "title": "acme cable cracked"}


def _plan(w: World) -> dict[str, Any]:
    return {"stationId": w.station, "title": "acme inspection", "everyDays": 90}


def _webhook(w: World) -> dict[str, Any]:
    del w
    return {
        "url": "https://93.184.216.34/acme-hooks",
        "eventTypes": ["session.ended", "invoice.finalized"],
        "description": "acme ERP",
    }


def _webhook_sample() -> Sample:
    event = {
        "id": "evt_catalogue",
        "object": "event",
        "type": "customer.created",
        "created": 1_700_000_000,
        "data": {"object": {"id": "cus_catalogue", "object": "customer"}},
    }
    # `call` sends json.dumps(body): the text `signed` signed.
    _, headers = signed(event)
    return Sample(body=event, headers=headers)


# -- calling the API ----------------------------------------------------------------------------


def claims(
    role: str | None = "owner", tenant: str = TENANT, sites: list[str] | None = None
) -> dict[str, Any]:
    """Verified JWT claims as the authorizer hands them over."""
    result: dict[str, Any] = {"sub": f"{tenant}-{role}", "tenant_id": tenant}
    if role is not None:
        result["role"] = role
    if sites is not None:
        result["sites"] = sites
    return result


@dataclass(frozen=True)
class Answer:
    """What the API answered."""

    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        """The body as JSON (None when empty)."""
        return json.loads(self.text) if self.text else None

    @property
    def problem_type(self) -> str | None:
        """The problem's `type`, for problem answers."""
        body = self.json() if self.headers.get("content-type", "").endswith("json") else None
        return body.get("type") if isinstance(body, dict) else None


def call(method: str, path: str, sample: Sample, caller: dict[str, Any] | None) -> Answer:
    """Send the sample to the API handler as API Gateway would, with these claims."""
    body = json.dumps(sample.body) if sample.body is not None else None
    return _send(method, path, sample, caller, body, encoded=False)


def call_raw(method: str, path: str, base64_body: str, caller: dict[str, Any] | None) -> Answer:
    """Send a base64-encoded body, as API Gateway does with bytes that are not UTF-8."""
    return _send(method, path, Sample(), caller, base64_body, encoded=True)


def _send(
    method: str,
    path: str,
    sample: Sample,
    caller: dict[str, Any] | None,
    body: str | None,
    *,
    encoded: bool,
) -> Answer:
    target = sample.path(path)
    event = http_event(
        method,
        target,
        claims=caller,
        query=sample.query,
        headers=sample.headers,
        body=body,
        base64_encoded=encoded,
        request_id="catalogue",
    )
    return Answer(*invoke_api(event))


# -- building the world -------------------------------------------------------------------------


def _wire(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _ocpp(frame: list[Any]) -> list[Any]:
    result = ws_message.lambda_handler(message_event(CONNECTION, json.dumps(frame)), Ctx())
    reply: list[Any] = json.loads(result["body"]) if result.get("body") else []
    return reply


def _report_days(by: str) -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1)), "by": by}


def build_world() -> World:
    """Acme's world on the current moto table (see the module docstring)."""
    world = World()
    runtime = _runtime.gateway()
    runtime.seeds.load(
        TENANT,
        Seed.model_validate(
            {
                "sites": [
                    {"id": world.site, "name": "Acme depot", "limitKw": 150},
                    {"id": world.spare_site, "name": "Acme office", "limitKw": 40},
                ],
                "stations": [
                    {
                        "id": world.station,
                        "siteId": world.site,
                        "password": STATION_PASSWORD,
                        "protocol": "ocpp2.0.1",
                    }
                ],
                "tokens": [{"idToken": world.token, "type": "ISO14443"}],
            }
        ),
    )
    connected = ws_connect.lambda_handler(
        connect_event(world.station, CONNECTION, password=STATION_PASSWORD), Ctx()
    )
    assert connected["statusCode"] == 200, connected
    now = datetime.now(UTC).replace(microsecond=0)
    boot = {
        "chargingStation": {
            "vendorName": "AcmeVendor",
            "model": "M1",
            "serialNumber": world.serial,
        },
        "reason": "PowerUp",
    }
    assert _ocpp([2, "acme-boot", "BootNotification", boot])[0] == 3
    status = {
        "timestamp": _wire(now),
        "connectorStatus": "Occupied",
        "evseId": 1,
        "connectorId": 1,
    }
    assert _ocpp([2, "acme-status", "StatusNotification", status])[0] == 3
    started = {
        "eventType": "Started",
        "timestamp": _wire(now - timedelta(minutes=20)),
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": world.transaction, "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": world.token, "type": "ISO14443"},
        "meterValue": [
            {
                "timestamp": _wire(now - timedelta(minutes=20)),
                "sampledValue": [{"value": 1200, "measurand": "Energy.Active.Import.Register"}],
            }
        ],
    }
    assert _ocpp([2, "acme-tx", "TransactionEvent", started])[0] == 3
    world.session = session_id(world.station, world.transaction)
    _runtime.reset()  # the API function builds its own runtime
    # A command sent to the station (its answer outstanding) ...
    sent = call(
        "POST",
        "/v1/stations/<station_id>/commands",
        Sample({"station_id": world.station}, body={"action": "Reset", "kind": "Soft"}),
        claims("owner"),
    )
    assert sent.status in (200, 202), sent
    world.command = str(sent.json()["id"])
    _runtime.reset()
    # Groups, vehicles and users, through the API as acme's owner.
    for method, path, body in (
        ("POST", "/v1/groups", {"id": world.group, "kind": "fleet", "name": "Acme fleet"}),
        ("POST", "/v1/groups", {"id": world.spare_group, "kind": "residents", "name": "Flats"}),
        (
            "POST",
            "/v1/vehicles",
            {
                "id": world.vehicle,
                "groupId": world.group,
                "batteryKwh": 75,
                "name": "Acme van",
                "vin": world.vin,
            },
        ),
        (
            "POST",
            "/v1/vehicles",
            {"id": world.spare_vehicle, "groupId": world.group, "batteryKwh": 50, "name": "Car"},
        ),
        ("PATCH", "/v1/tenant", {"displayName": world.tenant_name}),
    ):
        made = call(method, path, Sample(body=body), claims("owner"))
        assert 200 <= made.status < 300, (path, body, made)
    for email, attribute in ((world.user_email, "user"), (world.spare_user_email, "spare_user")):
        user = {"email": email, "name": "Acme user", "role": "operator", "sites": [world.site]}
        made = call("POST", "/v1/users", Sample(body=user), claims("owner"))
        assert made.status == 201, made
        setattr(world, attribute, str(made.json()["id"]))
    # Load management at both sites (the spare one's is the one a caller may delete).
    for site, config in (
        (world.site, {"limitKw": 150, "stations": [{"stationId": world.station, "maxKw": 22}]}),
        (world.spare_site, {"limitKw": 40}),
    ):
        made = call(
            "PUT",
            "/v1/sites/<site_id>/load-config",
            Sample({"site_id": site}, body=config),
            claims("owner"),
        )
        assert made.status == 201, made
    # Tariffs (the spare one unassigned, so a caller may delete it) and their assignments.
    world.extra["tariff"], world.extra["spare_tariff"] = "acme-public", "acme-spare-tariff"
    for tariff_id in (world.extra["tariff"], world.extra["spare_tariff"]):
        made = call("POST", "/v1/tariffs", Sample(body={"id": tariff_id, **TARIFF_TERMS}), claims())
        assert made.status == 201, made
    for name, assignment in (
        ("assignment", {"siteId": world.site}),
        ("spare_assignment", {"groupId": world.group}),
    ):
        body = {"tariffId": world.extra["tariff"], **assignment}
        made = call("POST", "/v1/tariff-assignments", Sample(body=body), claims())
        assert made.status == 201, made
        world.extra[name] = str(made.json()["id"])
    # A paid receipt of the session, and its CDR (as billing would have stored them).
    stored = store_paid_receipt(TENANT, world.session, site_id=world.site, station_id=world.station)
    world.extra["invoice"], world.extra["cdr"] = stored.invoice_id, stored.cdr_id
    world.extra["account"] = (
        _runtime.billing().accounts.account_for(TENANT, id_token=world.token, group_id=None).id
    )
    _runtime.reset()
    # ... and one queued behind it, not sent yet: the one a caller may cancel.
    pending = call(
        "POST",
        "/v1/stations/<station_id>/commands",
        Sample(
            {"station_id": world.station}, body={"action": "TriggerMessage", "message": "Heartbeat"}
        ),
        claims("owner"),
    )
    assert pending.status == 202, pending
    world.pending_command = str(pending.json()["id"])
    world.extra["alert"] = _open_alert(world)
    for name in ("exclusion", "spare_exclusion"):
        made = call("POST", "/v1/uptime/exclusions", Sample(body=_exclusion(world)), claims())
        assert made.status == 201, made
        world.extra[name] = str(made.json()["id"])
    made = call("POST", "/v1/tickets", Sample(body=_ticket(world)), claims())
    assert made.status == 201, made
    world.extra["ticket"] = str(made.json()["id"])
    for name in ("plan", "spare_plan"):
        made = call("POST", "/v1/maintenance-plans", Sample(body=_plan(world)), claims())
        assert made.status == 201, made
        world.extra[name] = str(made.json()["id"])
    for name in ("webhook", "spare_webhook"):
        made = call("POST", "/v1/webhooks", Sample(body=_webhook(world)), claims())
        assert made.status == 201, made
        world.extra[name] = str(made.json()["id"])
    _runtime.reset()
    return world


def _open_alert(world: World) -> str:
    """An open fault alert on acme's connector (as the sweep would have opened it)."""
    _runtime.alerts()  # configures the table
    since = datetime.now(UTC) - timedelta(minutes=5)
    key = AlertKey(
        tenant_id=TENANT,
        station_id=world.station,
        evse=EvseRef(evse_id=1, connector_id=1),
        kind=AlertKind.FAULTED,
    )
    watch = Watch(key=key, state=WatchState.PENDING, since=since, due_at=since)
    alert = Alert(
        alert_id=f"acme-alert-{since:%H%M%S}",
        key=key,
        site_id=world.site,
        severity=Severity.MAJOR,
        opened_at=since,
    )
    repository = DynamoAlertRepository(OutboxEncoder(new_uuid))
    assert repository.watch(watch)
    assert repository.open(watch, alert, [])
    return alert.alert_id


# -- acme's stored data ------------------------------------------------------------------------


def dump_tenant(table_name: str, world: World) -> list[dict[str, Any]]:
    """Every stored item of acme's (its tenant id, or an acme id in its keys), sorted."""
    items: list[dict[str, Any]] = []
    for item in _scan(table_name):
        tenant = item.get("tenant_id", {}).get("S")
        keys = " ".join(str(v) for k, v in item.items() if k.endswith(("PK", "SK")))
        if tenant == world.tenant or (tenant is None and "acme" in keys.lower()):
            items.append(item)
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


# -- the fixture --------------------------------------------------------------------------------


def _scan(table_name: str) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name=emulation.REGION)
    return [
        item
        for page in client.get_paginator("scan").paginate(TableName=table_name)
        for item in page["Items"]
    ]


@dataclass
class Acme:
    """Acme's world on moto, where it is stored, and the frames sent to its station."""

    world: World
    table_name: str
    sent_frames: list[str]
    snapshot: list[dict[str, Any]] = field(default_factory=list)

    def restore(self) -> None:
        """Put the table back as the world left it (far cheaper than building it again)."""
        items = _scan(self.table_name)
        self.sent_frames.clear()
        if _sorted(items) == _sorted(self.snapshot):
            return  # nothing changed (a read, or a refusal)
        client: Any = boto3.client("dynamodb", region_name=emulation.REGION)
        deletes = [{"DeleteRequest": {"Key": {"PK": i["PK"], "SK": i["SK"]}}} for i in items]
        puts = [{"PutRequest": {"Item": item}} for item in self.snapshot]
        for requests in (deletes, puts):  # apart: a batch may not touch one key twice
            for start in range(0, len(requests), 25):
                client.batch_write_item(
                    RequestItems={self.table_name: requests[start : start + 25]}
                )


def _sorted(items: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(item, sort_keys=True) for item in items)


@contextmanager
def acme_on_moto(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Acme]:
    """A moto table with acme's world in it; commands are captured, never sent.

    Build it once per module and `restore()` it before each test.
    """
    from csms.adapters.apigw import ApiGwConnectionSender

    frames: list[str] = []

    def send(self: ApiGwConnectionSender, connection_id: str, frame: str) -> None:
        del self, connection_id
        frames.append(frame)

    monkeypatch.setattr(ApiGwConnectionSender, "send", send)
    monkeypatch.setattr(ApiGwConnectionSender, "last_active_at", lambda self, cid: None)
    if hasattr(ApiGwConnectionSender, "disconnect"):
        monkeypatch.setattr(ApiGwConnectionSender, "disconnect", lambda self, cid: None)
    with emulation.mocked_aws():
        resources = emulation.create_resources(template)
        monkeypatch.setenv("CSMS_TABLE_NAME", resources.table_name)
        monkeypatch.setenv("CSMS_EVENT_BUS_NAME", resources.event_bus_name)
        monkeypatch.setenv("CSMS_WS_MANAGEMENT_ENDPOINT", "http://127.0.0.1:9")
        monkeypatch.setenv("CSMS_COMMAND_WAIT_S", "0")  # never wait for a station that won't answer
        monkeypatch.setenv("CSMS_STRIPE_WEBHOOK_SECRETS", WEBHOOK_SECRET)
        _runtime.reset()
        acme = Acme(World(), resources.table_name, frames)
        if _BUILT:
            # Built by another module in this process: the same items are the same world.
            acme.world, acme.snapshot = copy.deepcopy(_BUILT[0]), list(_BUILT[1])
            acme.restore()
        else:
            acme.world = build_world()
            acme.snapshot = _scan(resources.table_name)
            _BUILT[:] = [copy.deepcopy(acme.world), list(acme.snapshot)]
        yield acme
        _runtime.reset()


# The world as first built in this process and its items (building it costs seconds).
_BUILT: list[Any] = []
