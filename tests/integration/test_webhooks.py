"""Partner webhooks on moto: the API, the fan-out to SQS, signed delivery to a real receiver,
retries through the queue's visibility, 410, the delivery log and replay."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from tests.integration.conftest import Ctx
from tests.integration.test_api import call_api
from tests.unit.domain.test_webhooks import verify_standard_webhook

from csms.domain.webhooks import attempts_to_cover
from csms.handlers import _runtime, evt_webhooks, sqs_webhooks
from csms_local import emulation

OWNER = {"sub": "owner-1", "tenant_id": "default", "role": "owner"}


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that answers `status` and records what it got."""

    status: int = 200
    requests: list[tuple[dict[str, str], str]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            state.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            del args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def queue(aws: emulation.EmulatedResources, monkeypatch: pytest.MonkeyPatch) -> str:
    """The delivery queue with its dead-letter queue, as the stack defines them."""
    del aws
    sqs = boto3.client("sqs", region_name=emulation.REGION)
    dlq = sqs.create_queue(QueueName="webhooks-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName="webhooks",
        Attributes={
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(attempts_to_cover())}
            )
        },
    )["QueueUrl"]
    monkeypatch.setenv("CSMS_WEBHOOK_QUEUE_URL", url)
    # The local runtime's mode: a receiver on 127.0.0.1 over http.
    monkeypatch.setenv("CSMS_WEBHOOKS_ALLOW_PRIVATE", "1")
    _runtime.reset()
    return str(url)


def receive(queue_url: str) -> dict[str, Any]:
    """The queue's messages as the SQS event source hands them to the delivery function."""
    sqs = boto3.client("sqs", region_name=emulation.REGION)
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    ).get("Messages", [])
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m["Attributes"],
                "eventSource": "aws:sqs",
            }
            for m in messages
        ]
    }


def deliver(queue_url: str) -> tuple[int, list[str]]:
    """Run the delivery function on what is visible; (records, failed message ids)."""
    event = receive(queue_url)
    result = sqs_webhooks.lambda_handler(event, Ctx("webhooks"))
    sqs = boto3.client("sqs", region_name=emulation.REGION)
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    for record in event["Records"]:
        if record["messageId"] not in failed:  # the event source deletes what succeeded
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"])
    return len(event["Records"]), sorted(failed)


def make_visible(queue_url: str) -> None:
    """Time passes: every hidden message becomes visible again (its backoff is over)."""
    sqs = boto3.client("sqs", region_name=emulation.REGION)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert "Messages" not in messages  # all still hidden by the backoff
    backend_queue = _moto_queue(queue_url)
    for message in backend_queue._messages:
        message.change_visibility(0)


def _moto_queue(queue_url: str) -> Any:
    from moto.sqs.models import sqs_backends

    name = queue_url.rsplit("/", 1)[1]
    return sqs_backends["123456789012"][emulation.REGION].queues[name]


def bus_event(
    event_id: str = "e-1",
    detail_type: str = "TransactionEnded",
    at: datetime = datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
) -> dict[str, Any]:
    return {
        "id": f"eb-{event_id}",
        "source": "csms.sessions",
        "detail-type": detail_type,
        "detail": {
            "metadata": {
                "event_id": event_id,
                "event_version": "1",
                "occurred_at": at.isoformat(),
                "tenant_id": "default",
                "station_id": "CP-1",
            },
            "data": {"session_id": "s-1", "energy_wh": "1200", "tenant_id": "default"},
        },
    }


def subscribe(url: str) -> tuple[str, str]:
    status, headers, body = call_api(
        "POST",
        "/v1/webhooks",
        claims=OWNER,
        body={"url": url, "eventTypes": ["session.ended"], "description": "ERP"},
    )
    assert status == 201, body
    assert headers["location"] == f"/v1/webhooks/{body['id']}"
    return str(body["id"]), str(body["secret"])


def test_webhook_subscription_lifecycle_through_the_api(queue: str, receiver: Receiver) -> None:
    # GIVEN a subscription made through the API
    del queue
    webhook_id, secret = subscribe(receiver.url)
    # WHEN reading, listing, patching and rotating it
    status, headers, one = call_api("GET", f"/v1/webhooks/{webhook_id}", claims=OWNER)
    _, _, page = call_api("GET", "/v1/webhooks", claims=OWNER)
    stale = call_api(
        "PATCH",
        f"/v1/webhooks/{webhook_id}",
        claims=OWNER,
        body={"enabled": False},
        headers={"If-Match": '"9"'},
    )
    patched = call_api(
        "PATCH",
        f"/v1/webhooks/{webhook_id}",
        claims=OWNER,
        body={"enabled": False, "description": None},
        headers={"If-Match": headers["etag"]},
    )
    rotated = call_api("POST", f"/v1/webhooks/{webhook_id}/rotate-secret", claims=OWNER)
    # THEN the secret is shown only on create and rotate; versions guard the patch
    assert status == 200
    assert "secret" not in one
    assert one["eventTypes"] == ["session.ended"]
    assert [item["id"] for item in page["items"]] == [webhook_id]
    assert stale[0] == 412
    assert patched[0] == 200
    assert (patched[2]["status"], patched[2]["description"]) == ("disabled", None)
    assert rotated[0] == 200
    assert rotated[2]["secret"].startswith("whsec_")
    assert rotated[2]["secret"] != secret
    # AND WHEN deleting it THEN it is gone
    assert call_api("DELETE", f"/v1/webhooks/{webhook_id}", claims=OWNER)[0] == 204
    assert call_api("GET", f"/v1/webhooks/{webhook_id}", claims=OWNER)[0] == 404


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"url": "http://10.0.0.8/hook", "eventTypes": ["session.ended"]}, "invalid-webhook-url"),
        ({"url": "https://127.0.0.1:1/x", "eventTypes": ["session.nope"]}, "invalid-request"),
        ({"url": "partner.example.com", "eventTypes": ["session.ended"]}, "invalid-request"),
        ({"url": "https://127.0.0.1/x", "eventTypes": []}, "invalid-request"),
    ],
)
def test_webhook_create_refuses_bad_input_with_a_problem(
    queue: str, body: dict[str, Any], problem: str
) -> None:
    # GIVEN the API WHEN creating a subscription with a bad URL or event types
    del queue
    status, _, answer = call_api("POST", "/v1/webhooks", claims=OWNER, body=body)
    # THEN a 400 problem says what is wrong
    assert status == 400
    assert answer["type"] == f"/problems/{problem}"


def test_webhook_replay_refuses_an_absurd_range(queue: str, receiver: Receiver) -> None:
    # GIVEN a subscription
    del queue
    webhook_id, _ = subscribe(receiver.url)
    # WHEN replaying a year, or a range that ends before it starts
    for body in (
        {"from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"from": "2025-01-02T00:00:00Z", "to": "2025-01-01T00:00:00Z"},
        {"eventId": "e-1", "from": "2025-01-01T00:00:00Z", "to": "2025-01-02T00:00:00Z"},
    ):
        status, _, answer = call_api(
            "POST", f"/v1/webhooks/{webhook_id}/replay", claims=OWNER, body=body
        )
        # THEN each is a 400 naming the problem
        assert status == 400, answer
    status, _, answer = call_api(
        "POST", f"/v1/webhooks/{webhook_id}/replay", claims=OWNER, body={"eventId": "e-unknown"}
    )
    assert (status, answer["type"]) == (404, "/problems/webhook-event-not-found")


def test_webhook_event_is_retried_through_the_queue_and_delivered_signed(
    queue: str, receiver: Receiver
) -> None:
    # GIVEN a subscription and a receiver that fails at first
    webhook_id, secret = subscribe(receiver.url)
    receiver.status = 500
    # WHEN an ended session reaches the fan-out and the queue is delivered
    fanned = evt_webhooks.lambda_handler(bus_event(), Ctx("fan-out"))
    first = deliver(queue)
    # THEN the failed message stays hidden for its backoff, reported as failed
    assert fanned == {"outcome": "queued", "queued": 1}
    assert first[0] == 1
    assert len(first[1]) == 1
    assert deliver(queue) == (0, [])
    # AND WHEN the backoff is over and the receiver is back
    receiver.status = 204
    make_visible(queue)
    second = deliver(queue)
    # THEN it is delivered with the same webhook-id, and each request verifies
    assert second == (1, [])
    assert len(receiver.requests) == 2
    assert len({headers["webhook-id"] for headers, _ in receiver.requests}) == 1
    for headers, body in receiver.requests:
        assert verify_standard_webhook(secret, headers, body)
        assert json.loads(body)["type"] == "session.ended"
    # AND the delivery log shows both attempts, newest first
    _, _, log = call_api("GET", f"/v1/webhooks/{webhook_id}/deliveries", claims=OWNER)
    assert [(a["attempt"], a["outcome"], a["statusCode"]) for a in log["items"]] == [
        (2, "delivered", 204),
        (1, "retrying", 500),
    ]
    # AND WHEN the event is replayed THEN it arrives again with its webhook-id
    status, _, replay = call_api(
        "POST", f"/v1/webhooks/{webhook_id}/replay", claims=OWNER, body={"eventId": "e-1"}
    )
    assert (status, replay["queued"]) == (202, 1)
    assert deliver(queue) == (1, [])
    assert receiver.requests[-1][0]["webhook-id"] == receiver.requests[0][0]["webhook-id"]


def test_webhook_replay_of_a_time_range_requeues_the_events_that_occurred_in_it(
    queue: str, receiver: Receiver
) -> None:
    # GIVEN three delivered events: two on the morning of 20 November, one the day after
    webhook_id, secret = subscribe(receiver.url)
    morning = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    for event_id, at in (("e-1", morning), ("e-2", morning.replace(minute=30)),
                         ("e-3", morning.replace(day=21))):  # fmt: skip
        evt_webhooks.lambda_handler(bus_event(event_id, at=at), Ctx("fan-out"))
    assert deliver(queue) == (3, [])
    first_ids = {json.loads(body)["metadata"]["event_id"]: headers["webhook-id"]
                 for headers, body in receiver.requests}  # fmt: skip
    receiver.requests.clear()
    # WHEN the partner asks for the morning again
    body = {"from": "2026-11-20T07:00:00Z", "to": "2026-11-20T09:00:00Z"}
    status, _, replay = call_api(
        "POST", f"/v1/webhooks/{webhook_id}/replay", claims=OWNER, body=body
    )
    # THEN the two morning events are queued and delivered again, signed, with their ids
    assert (status, replay["queued"]) == (202, 2)
    assert deliver(queue) == (2, [])
    again = {json.loads(body)["metadata"]["event_id"]: headers["webhook-id"]
             for headers, body in receiver.requests}  # fmt: skip
    assert again == {k: first_ids[k] for k in ("e-1", "e-2")}
    for headers, raw in receiver.requests:
        assert verify_standard_webhook(secret, headers, raw)


def test_webhook_receiver_answering_410_disables_the_subscription(
    queue: str, receiver: Receiver
) -> None:
    # GIVEN a subscription whose receiver answers 410 Gone
    webhook_id, _ = subscribe(receiver.url)
    receiver.status = 410
    # WHEN an event is delivered
    evt_webhooks.lambda_handler(bus_event(), Ctx("fan-out"))
    delivered = deliver(queue)
    # THEN the message is done with and the subscription disabled
    assert delivered == (1, [])
    _, _, view = call_api("GET", f"/v1/webhooks/{webhook_id}", claims=OWNER)
    assert view["status"] == "disabled"
    assert "410" in view["disabledReason"]


def test_webhook_fan_out_drops_what_is_no_envelope(queue: str) -> None:
    # GIVEN an event without an envelope WHEN it reaches the fan-out THEN it is dropped
    del queue
    result = evt_webhooks.lambda_handler({"detail-type": "TransactionEnded"}, Ctx("fan-out"))
    assert result == {"outcome": "dropped", "queued": 0}


def test_webhook_delivery_drops_a_message_that_is_no_delivery(queue: str) -> None:
    # GIVEN a queue record that is not a delivery WHEN delivered THEN it is not retried
    del queue
    event = {"Records": [{"messageId": "m-1", "receiptHandle": "r", "body": "{}"}]}
    assert sqs_webhooks.lambda_handler(event, Ctx("webhooks")) == {"batchItemFailures": []}


def _template_queues(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The template's queues made as `csms local` makes them; the delivery queue's poller."""
    from csms_local import queues

    urls, environment = queues.create_queues(template)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CSMS_WEBHOOKS_ALLOW_PRIVATE", "1")
    _runtime.reset()
    [poller] = queues.queue_pollers(template, urls)
    return poller


def _redrive_policy(queue_url: str) -> dict[str, Any]:
    """A queue's redrive policy (its dead-letter queue and receive count)."""
    sqs = boto3.client("sqs", region_name=emulation.REGION)
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
    policy: dict[str, Any] = json.loads(attributes["Attributes"]["RedrivePolicy"])
    return policy


def test_local_queue_emulation_delivers_webhooks_from_the_template(
    aws: emulation.EmulatedResources,
    template: dict[str, Any],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the template's queues made in the emulation, as `csms local` makes them
    del aws
    poller = _template_queues(template, monkeypatch)
    webhook_id, secret = subscribe(receiver.url)
    # WHEN an event is fanned out and the queue polled
    evt_webhooks.lambda_handler(bus_event(), Ctx("fan-out"))
    polled = poller.poll()
    # THEN the delivery function got it and the receiver a signed request; nothing is left
    assert polled == 1
    [(headers, body)] = receiver.requests
    assert verify_standard_webhook(secret, headers, body)
    assert poller.poll() == 0
    assert poller.handler == "csms.handlers.sqs_webhooks.lambda_handler"
    assert webhook_id
    # AND the delivery queue redrives to its dead-letter queue after the schedule's attempts
    redrive = _redrive_policy(poller.queue_url)
    assert int(redrive["maxReceiveCount"]) == attempts_to_cover()


def test_receiver_that_always_fails_gets_every_attempt_then_the_event_lands_in_the_dlq(
    aws: emulation.EmulatedResources,
    template: dict[str, Any],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the template's queues as `csms local` makes them, a receiver that answers 500 to
    # everything, and each backoff over at once (the simulated clock of the queue: a message
    # set to reappear in N seconds reappears now)
    del aws
    from csms.adapters.webhook_aws import SqsDeliveryQueue

    poller = _template_queues(template, monkeypatch)
    original = SqsDeliveryQueue.retry_later
    monkeypatch.setattr(
        SqsDeliveryQueue, "retry_later", lambda self, handle, delay_s: original(self, handle, 0)
    )
    sqs = boto3.client("sqs", region_name=emulation.REGION)
    # (A batch reported failed reappears after the queue's visibility timeout: now, too.)
    sqs.set_queue_attributes(QueueUrl=poller.queue_url, Attributes={"VisibilityTimeout": "0"})
    subscribe(receiver.url)
    receiver.status = 500
    # WHEN the event is fanned out and the queue polled until nothing is left
    evt_webhooks.lambda_handler(bus_event(), Ctx("fan-out"))
    polls = 0
    while poller.poll() and polls < 50:
        polls += 1
    # THEN the receiver got every attempt of the schedule, all with the same webhook-id
    ids = {headers["webhook-id"] for headers, _ in receiver.requests}
    assert len(receiver.requests) == attempts_to_cover()
    assert len(ids) == 1
    # AND the message is in the dead-letter queue, not lost
    redrive = _redrive_policy(poller.queue_url)
    dlq_url = sqs.get_queue_url(QueueName=redrive["deadLetterTargetArn"].rsplit(":", 1)[1])[
        "QueueUrl"
    ]
    [dead] = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    assert json.loads(dead["Body"])["eventId"] == "e-1"


def test_http_sender_reports_status_timeouts_and_refused_connections(
    receiver: Receiver,
) -> None:
    # GIVEN the HTTP sender with a short timeout and a receiver that answers 503
    from csms.adapters.webhook_http import SocketHostResolver, UrllibWebhookSender

    sender = UrllibWebhookSender(timeout_s=0.5)
    receiver.status = 503
    # WHEN posting to it, to a port where nothing listens, and to a socket that never answers
    answered = sender.post(receiver.url, "{}", {"webhook-id": "msg_1"})
    refused = sender.post("http://127.0.0.1:9/hook", "{}", {})
    with socket_that_never_answers() as url:
        hung = sender.post(url, "{}", {})
    # THEN each is a result, never an exception, with what happened
    assert (answered.status_code, answered.error) == (503, None)
    assert receiver.requests[0][0]["webhook-id"] == "msg_1"
    assert receiver.requests[0][0]["content-type"] == "application/json"
    assert refused.status_code is None
    assert refused.error is not None
    assert refused.error.startswith("connection failed")
    assert (hung.status_code, hung.error) == (None, "timeout")
    # AND the resolver finds localhost and nothing for a name that cannot be one
    assert "127.0.0.1" in SocketHostResolver().resolve("localhost")
    assert SocketHostResolver().resolve("x" * 64 + ".example") == []


@contextmanager
def socket_that_never_answers() -> Iterator[str]:
    """A listening socket that accepts and then says nothing."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    finally:
        server.close()


def test_webhook_patch_refuses_to_clear_what_cannot_be_cleared(
    queue: str, receiver: Receiver
) -> None:
    # GIVEN a subscription
    del queue
    webhook_id, _ = subscribe(receiver.url)
    # WHEN clearing its URL THEN the patch is a 400 and nothing changes
    status, _, answer = call_api(
        "PATCH", f"/v1/webhooks/{webhook_id}", claims=OWNER, body={"url": None}
    )
    assert (status, answer["type"]) == (400, "/problems/invalid-request")
    assert call_api("GET", f"/v1/webhooks/{webhook_id}", claims=OWNER)[2]["url"] == receiver.url


def test_webhook_delivery_that_cannot_read_its_store_is_retried_with_backoff(
    queue: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a queued delivery and a store that fails
    subscribe(receiver.url)
    evt_webhooks.lambda_handler(bus_event(), Ctx("fan-out"))
    service = _runtime.webhooks()

    def broken(*args: object) -> None:
        raise RuntimeError("table unavailable")

    monkeypatch.setattr(service.repository, "get", broken)
    # WHEN the queue is delivered
    records, failed = deliver(queue)
    # THEN the message is kept for a later attempt, hidden for its backoff, and nothing is sent
    assert (records, len(failed)) == (1, 1)
    assert deliver(queue) == (0, [])
    assert receiver.requests == []


def test_webhook_fan_out_drops_an_envelope_without_a_tenant(queue: str) -> None:
    # GIVEN an envelope whose metadata lacks the tenant WHEN fanned out THEN it is dropped
    del queue
    event = bus_event()
    del event["detail"]["metadata"]["tenant_id"]
    assert evt_webhooks.lambda_handler(event, Ctx("fan-out"))["outcome"] == "dropped"
