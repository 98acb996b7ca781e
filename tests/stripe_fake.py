"""A fake Stripe API on 127.0.0.1, for the real `stripe` client to talk to in tests.

It speaks Stripe's wire format (form-encoded requests with `a[b]=c` nesting, JSON objects and
error bodies, Bearer API key), for the endpoints the payment adapter uses: customers,
payment intents (create/confirm, capture, cancel), refunds, setup intents (create; the payer's
confirmation with `confirm_setup_intent`, which answers the event Stripe would send). Like
Stripe, it honours `Idempotency-Key`: the same key with the same parameters replays the first
response (`Idempotent-Replayed: true`); the same key with other parameters is a 400
idempotency_error.

Test payment methods behave like Stripe's test cards (docs.stripe.com/testing):
`pm_card_visa` succeeds, `pm_card_chargeDeclined` declines (card_declined / generic_decline),
`pm_card_chargeDeclinedInsufficientFunds` declines (insufficient_funds), and
`pm_card_authenticationRequired` needs 3-D Secure: off session that is a 402
authentication_required, on session a PaymentIntent in `requires_action`. `pm_sepaDebit` is a
delayed method (like SEPA Direct Debit): a confirmed PaymentIntent stays `processing` until the
test calls `settle(id)`, which also returns the `payment_intent.succeeded` (or
`payment_intent.payment_failed`) event Stripe would send, with the metadata the intent was
created with (`event(type, object)` builds any other).

Faults for the next N requests: `fail_next(n, 500|429|...)` answers an error before anything is
done (no idempotent result is kept, as at Stripe when the endpoint never ran), and
`hang_next(n, seconds, after_processing=...)` keeps the connection silent — before doing
anything, or after doing it and keeping the result (the response is lost, a retry replays it).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

API_KEY = "sk_test_fake_0123456789"

_DECLINES = {
    "pm_card_chargeDeclined": ("generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
}
_SUCCEEDS = {"pm_card_visa", "pm_card_mastercard"}
_NEEDS_3DS = "pm_card_authenticationRequired"
# Settles later (SEPA Direct Debit): `processing` until `settle`.
_DELAYED = "pm_sepaDebit"
_CANCELABLE = {
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
}


@dataclass(frozen=True)
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None


@dataclass
class _Fault:
    status: int | None = None
    hang_s: float = 0.0
    after_processing: bool = False


class StripeApiError(Exception):
    """An error answer of the fake (status and Stripe's error object)."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(error.get("message"))
        self.status = status
        self.error = error


def _invalid(message: str, *, code: str | None = None, param: str | None = None) -> StripeApiError:
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return StripeApiError(404 if code == "resource_missing" else 400, error)


def parse_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding (`metadata[a]=b`, `expand[0]=x`) as nested dicts."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return result


class FakeStripe:
    """The fake's state and behaviour; `running()` serves it on a free port of 127.0.0.1."""

    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.customers: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.setup_intents: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self._refunded: dict[str, int] = {}
        self._idempotent: dict[str, tuple[tuple[str, str, str], int, dict[str, Any]]] = {}
        self._faults: deque[_Fault] = deque()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # --- test controls ---

    @property
    def url(self) -> str:
        """The API base to configure the client with (http://127.0.0.1:PORT)."""
        assert self._server is not None, "the fake is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next `count` requests with `status` (Stripe's error body), doing nothing."""
        with self._lock:
            self._faults.extend(_Fault(status=status) for _ in range(count))

    def hang_next(self, count: int, seconds: float, *, after_processing: bool = False) -> None:
        """Stay silent on the next `count` requests for `seconds`, then drop the connection."""
        with self._lock:
            self._faults.extend(
                _Fault(hang_s=seconds, after_processing=after_processing) for _ in range(count)
            )

    def add_customer(self, default_payment_method: str | None = None) -> str:
        """A customer made directly (setup for a test), with a default payment method."""
        with self._lock:
            customer = self._new_customer({})
            customer["invoice_settings"]["default_payment_method"] = default_payment_method
            return str(customer["id"])

    def settle(self, payment_intent: str, *, succeeded: bool = True) -> dict[str, Any]:
        """A `processing` PaymentIntent settles (or fails): the event Stripe would send."""
        with self._lock:
            intent = self.payment_intents[payment_intent]
            assert intent["status"] == "processing", intent["status"]
            if succeeded:
                intent.update(status="succeeded", amount_received=intent["amount"])
                return self._event("payment_intent.succeeded", intent)
            intent.update(
                status="requires_payment_method",
                last_payment_error={
                    "type": "card_error",
                    "code": "payment_method_not_available",
                    "message": "The debit was refused by the bank.",
                },
            )
            return self._event("payment_intent.payment_failed", intent)

    def event(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        """A Stripe event of `event_type` about `obj` (a copy), as a webhook delivers it."""
        with self._lock:
            return self._event(event_type, obj)

    def _event(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self._id("evt"),
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "api_version": "2025-01-27.acacia",
            "data": {"object": json.loads(json.dumps(obj))},
        }

    @classmethod
    @contextmanager
    def running(cls, api_key: str = API_KEY) -> Iterator[FakeStripe]:
        """Serve a new fake on 127.0.0.1 (a free port) until the block ends."""
        fake = cls(api_key)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(fake))
        server.daemon_threads = True
        fake._server = server
        thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="fake-stripe", daemon=True
        )
        thread.start()
        try:
            yield fake
        finally:
            fake._stopping.set()
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    # --- the API ---

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: str
    ) -> tuple[int, dict[str, Any], bool, _Fault | None]:
        """Status, JSON body, whether it is a replay, and a hang to apply (the HTTP side)."""
        params = parse_form(body) if method == "POST" else {}
        key = headers.get("idempotency-key")
        with self._lock:
            self.requests.append(Recorded(method, path, params, key))
            fault = self._faults.popleft() if self._faults else None
            if fault and fault.status is not None:
                return fault.status, _fault_body(fault.status), False, None
            if fault and not fault.after_processing:
                return 0, {}, False, fault
            if headers.get("authorization") != f"Bearer {self.api_key}":
                error = {
                    "type": "invalid_request_error",
                    "message": "Invalid API Key provided: sk_test_****",
                }
                return 401, {"error": error}, False, None
            fingerprint = (method, path, json.dumps(params, sort_keys=True))
            if method == "POST" and key and key in self._idempotent:
                first, status, answer = self._idempotent[key]
                if first != fingerprint:
                    return 400, _idempotency_error(key), False, fault
                return status, answer, True, fault
            try:
                status, answer = 200, self._route(method, path, params)
            except StripeApiError as exc:
                status, answer = exc.status, {"error": exc.error}
            if method == "POST" and key:
                self._idempotent[key] = (fingerprint, status, answer)
            return status, answer, False, fault

    def _route(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        parts = path.strip("/").split("/")
        match (method, parts):
            case ("POST", ["v1", "customers"]):
                return self._new_customer(params)
            case ("GET", ["v1", "customers", cid]):
                return self._customer(cid)
            case ("POST", ["v1", "customers", cid]):
                return self._update_customer(cid, params)
            case ("POST", ["v1", "payment_intents"]):
                return self._new_intent(params)
            case ("GET", ["v1", "payment_intents", pid]):
                return self._intent(pid)
            case ("POST", ["v1", "payment_intents", pid, "capture"]):
                return self._capture(pid, params)
            case ("POST", ["v1", "payment_intents", pid, "cancel"]):
                return self._cancel(pid, params)
            case ("POST", ["v1", "refunds"]):
                return self._new_refund(params)
            case ("POST", ["v1", "setup_intents"]):
                return self._new_setup_intent(params)
            case ("GET", ["v1", "setup_intents", sid]):
                return self._setup_intent(sid)
            case ("GET", ["v1", "refunds", rid]):
                if rid not in self.refunds:
                    raise _invalid(f"No such refund: '{rid}'", code="resource_missing", param="id")
                return self.refunds[rid]
        raise StripeApiError(
            404,
            {
                "type": "invalid_request_error",
                "message": f"Unrecognized request URL ({method}: {path}).",
            },
        )

    def _id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):06d}"

    def _new_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        customer: dict[str, Any] = {
            "id": self._id("cus"),
            "object": "customer",
            "email": params.get("email"),
            "name": params.get("name"),
            "metadata": params.get("metadata", {}),
            "invoice_settings": {"default_payment_method": None},
            "livemode": False,
        }
        self.customers[customer["id"]] = customer
        return customer

    def _customer(self, cid: str) -> dict[str, Any]:
        if cid not in self.customers:
            raise _invalid(f"No such customer: '{cid}'", code="resource_missing", param="id")
        return self.customers[cid]

    def _update_customer(self, cid: str, params: dict[str, Any]) -> dict[str, Any]:
        customer = self._customer(cid)
        for field in ("email", "name"):
            if field in params:
                customer[field] = params[field]
        customer["metadata"].update(params.get("metadata", {}))
        method = params.get("invoice_settings", {}).get("default_payment_method")
        if method is not None:
            self._check_method(method)
            customer["invoice_settings"]["default_payment_method"] = method
        return customer

    def _intent(self, pid: str) -> dict[str, Any]:
        if pid not in self.payment_intents:
            raise _invalid(
                f"No such payment_intent: '{pid}'", code="resource_missing", param="intent"
            )
        return self.payment_intents[pid]

    @staticmethod
    def _check_method(method: str) -> None:
        if method not in _SUCCEEDS | set(_DECLINES) | {_NEEDS_3DS, _DELAYED}:
            raise _invalid(
                f"No such PaymentMethod: '{method}'",
                code="resource_missing",
                param="payment_method",
            )

    def _new_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        amount = _positive_int(params, "amount")
        currency = str(params.get("currency", ""))
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise _invalid(
                f"Invalid currency: {currency}.", code="parameter_invalid", param="currency"
            )
        customer = params.get("customer")
        if customer is not None:
            self._customer(customer)
        method = params.get("payment_method")
        if method is not None:
            self._check_method(method)
        capture_method = params.get("capture_method", "automatic")
        if capture_method not in ("automatic", "automatic_async", "manual"):
            raise _invalid(
                "Invalid capture_method.", code="parameter_invalid", param="capture_method"
            )
        intent: dict[str, Any] = {
            "id": self._id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "currency": currency,
            "customer": customer,
            "payment_method": method,
            "capture_method": capture_method,
            "description": params.get("description"),
            "metadata": params.get("metadata", {}),
            "status": "requires_payment_method" if method is None else "requires_confirmation",
            "last_payment_error": None,
            "latest_charge": None,
            "next_action": None,
            "livemode": False,
        }
        self.payment_intents[intent["id"]] = intent
        if params.get("confirm") == "true":
            self._confirm(intent, off_session=params.get("off_session") == "true")
        return intent

    def _confirm(self, intent: dict[str, Any], *, off_session: bool) -> None:
        method = intent["payment_method"]
        if method is None:
            raise _invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                code="payment_intent_unexpected_state",
            )
        if method in _DECLINES or (method == _NEEDS_3DS and off_session):
            if method == _NEEDS_3DS:
                code = decline = "authentication_required"
                message = "Your card was declined. This transaction requires authentication."
            else:
                code = "card_declined"
                decline, message = _DECLINES[method]
            error = {
                "type": "card_error",
                "code": code,
                "decline_code": decline,
                "message": message,
                "charge": self._id("ch"),
            }
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = dict(error)
            raise StripeApiError(402, {**error, "payment_intent": dict(intent)})
        if method == _NEEDS_3DS:
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {}}
            return
        intent["latest_charge"] = self._id("ch")
        if method == _DELAYED:
            intent["status"] = "processing"
            return
        if intent["capture_method"] == "manual":
            intent["status"] = "requires_capture"
            intent["amount_capturable"] = intent["amount"]
        else:
            intent["status"] = "succeeded"
            intent["amount_received"] = intent["amount"]

    def _capture(self, pid: str, params: dict[str, Any]) -> dict[str, Any]:
        intent = self._intent(pid)
        if intent["status"] != "requires_capture":
            raise _invalid(
                "This PaymentIntent could not be captured because it has a status of "
                f"{intent['status']}. Only a PaymentIntent with one of the following statuses "
                "may be captured: requires_capture.",
                code="payment_intent_unexpected_state",
            )
        amount = (
            _positive_int(params, "amount_to_capture")
            if "amount_to_capture" in params
            else intent["amount_capturable"]
        )
        if amount > intent["amount_capturable"]:
            raise _invalid(
                "The amount to capture must be less than or equal to the amount capturable.",
                code="amount_too_large",
                param="amount_to_capture",
            )
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        return intent

    def _cancel(self, pid: str, params: dict[str, Any]) -> dict[str, Any]:
        intent = self._intent(pid)
        if intent["status"] not in _CANCELABLE:
            raise _invalid(
                "You cannot cancel this PaymentIntent because it has a status of "
                f"{intent['status']}.",
                code="payment_intent_unexpected_state",
            )
        intent.update(
            status="canceled",
            amount_capturable=0,
            cancellation_reason=params.get("cancellation_reason"),
        )
        return intent

    def _new_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        pid = params.get("payment_intent")
        if not pid:
            raise _invalid("One of charge or payment_intent is required.", code="parameter_missing")
        intent = self._intent(pid)
        if intent["status"] != "succeeded":
            raise _invalid(
                f"This PaymentIntent ({pid}) does not have a successful charge to refund.",
                code="charge_not_refundable",
            )
        remaining = intent["amount_received"] - self._refunded.get(pid, 0)
        if remaining == 0:
            raise _invalid(
                f"Charge {intent['latest_charge']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = _positive_int(params, "amount") if "amount" in params else remaining
        if amount > remaining:
            raise _invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({remaining})",
                code="amount_too_large",
                param="amount",
            )
        reason = params.get("reason")
        if reason is not None and reason not in (
            "duplicate",
            "fraudulent",
            "requested_by_customer",
        ):
            raise _invalid("Invalid reason.", code="parameter_invalid", param="reason")
        self._refunded[pid] = self._refunded.get(pid, 0) + amount
        refund: dict[str, Any] = {
            "id": self._id("re"),
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": pid,
            "charge": intent["latest_charge"],
            "reason": reason,
            "metadata": params.get("metadata", {}),
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        return refund

    def _new_setup_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = params.get("customer")
        if customer is not None:
            self._customer(customer)
        usage = params.get("usage", "off_session")
        if usage not in ("off_session", "on_session"):
            raise _invalid("Invalid usage.", code="parameter_invalid", param="usage")
        sid = self._id("seti")
        intent: dict[str, Any] = {
            "id": sid,
            "object": "setup_intent",
            "client_secret": f"{sid}_secret_fake",
            "customer": customer,
            "usage": usage,
            "metadata": params.get("metadata", {}),
            "payment_method": None,
            "status": "requires_payment_method",
            "livemode": False,
        }
        self.setup_intents[sid] = intent
        return intent

    def _setup_intent(self, sid: str) -> dict[str, Any]:
        if sid not in self.setup_intents:
            raise _invalid(f"No such setupintent: '{sid}'", code="resource_missing", param="intent")
        return self.setup_intents[sid]

    def confirm_setup_intent(
        self, sid: str, payment_method: str = "pm_card_visa", *, created: int | None = None
    ) -> dict[str, Any]:
        """What Stripe.js does in the payer's app; the `setup_intent.succeeded` event it causes.

        The event is returned unsigned: tests sign it the way Stripe does
        (tests.integration.billing_world.signed) and deliver it to the webhook endpoint.
        """
        with self._lock:
            intent = self._setup_intent(sid)
            self._check_method(payment_method)
            intent.update(status="succeeded", payment_method=payment_method)
            return {
                "id": self._id("evt"),
                "object": "event",
                "type": "setup_intent.succeeded",
                "created": created if created is not None else int(time.time()),
                "livemode": False,
                "data": {"object": dict(intent)},
            }

    def wait_stopping(self, seconds: float) -> None:
        """Sleep for a hang, waking early when the server stops."""
        self._stopping.wait(seconds)


def _positive_int(params: dict[str, Any], name: str) -> int:
    raw = params.get(name)
    try:
        value = int(str(raw))
    except ValueError:
        raise _invalid(
            f"Invalid integer: {raw}", code="parameter_invalid_integer", param=name
        ) from None
    if value < 1:
        raise _invalid("This value must be greater than or equal to 1.", param=name)
    return value


def _fault_body(status: int) -> dict[str, Any]:
    if status == 429:
        return {
            "error": {
                "type": "invalid_request_error",
                "code": "rate_limit",
                "message": "Too many requests hit the API too quickly.",
            }
        }
    return {"error": {"type": "api_error", "message": "Something went wrong on Stripe's end."}}


def _idempotency_error(key: str) -> dict[str, Any]:
    return {
        "error": {
            "type": "idempotency_error",
            "message": (
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request."
            ),
        }
    }


def _handler_for(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            headers = {name.lower(): value for name, value in self.headers.items()}
            path = self.path.split("?", 1)[0]
            status, answer, replayed, fault = fake.handle(method, path, headers, body)
            if fault is not None:
                # The response is lost: silence, then the connection goes.
                fake.wait_stopping(fault.hang_s)
                self.close_connection = True
                return
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", f"req_fake{len(fake.requests):06d}")
            if replayed:
                self.send_header("Idempotent-Replayed", "true")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read `fake.requests` instead."""

    return Handler
