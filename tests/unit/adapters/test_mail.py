"""Operator e-mail: SES v2 requests and refusals, the local outbox, no sender configured."""

from __future__ import annotations

import email
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from csms.adapters.mail import NoMailer, OutboxMailer, SesMailer
from csms.services.escalation import MailerError


class _Ses:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def send_email(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        return {"MessageId": "m-1"}


def test_ses_sends_plain_text_from_the_identity_with_one_client() -> None:
    # GIVEN SES behind a factory that counts clients
    ses, made = _Ses(), []

    def factory() -> _Ses:
        made.append(1)
        return ses

    mailer = SesMailer("alerts@example.com", factory)
    # WHEN two mails go out
    first = mailer.send("ops@example.com", "Faulted: CP-1", "body text")
    mailer.send("ops@example.com", "again", "more")
    # THEN each is a simple UTF-8 text message from the identity, through one client
    assert first == "SES message m-1"
    assert len(made) == 1
    call = ses.calls[0]
    assert call["FromEmailAddress"] == "alerts@example.com"
    assert call["Destination"] == {"ToAddresses": ["ops@example.com"]}
    assert call["Content"]["Simple"]["Subject"]["Data"] == "Faulted: CP-1"
    assert call["Content"]["Simple"]["Body"]["Text"]["Data"] == "body text"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ClientError({"Error": {"Code": "MessageRejected", "Message": "x"}}, "SendEmail"),
         "SES refused it (MessageRejected)"),
        (EndpointConnectionError(endpoint_url="https://email.example"),
         "SES could not be reached (EndpointConnectionError)"),
    ],
    ids=["refused", "unreachable"],
)  # fmt: skip
def test_ses_failures_are_mailer_errors_with_a_reason(error: Exception, reason: str) -> None:
    mailer = SesMailer("alerts@example.com", lambda: _Ses(error))
    with pytest.raises(MailerError) as raised:
        mailer.send("ops@example.com", "s", "b")
    assert str(raised.value) == reason


def test_no_mailer_says_how_to_configure_a_sender() -> None:
    with pytest.raises(MailerError, match="csms:notifyFrom"):
        NoMailer().send("ops@example.com", "s", "b")


def test_outbox_writes_each_mail_as_an_eml_file(tmp_path: Path) -> None:
    # GIVEN an outbox folder that does not exist yet
    mailer = OutboxMailer(tmp_path / "outbox")
    # WHEN a mail with an awkward subject goes out
    where = mailer.send("ops@example.com", "Faulted: CP-1/EVSE 1 (GroundFailure)", "Tried:\n")
    # THEN one .eml file holds it, readable as an e-mail
    [path] = list((tmp_path / "outbox").glob("*.eml"))
    assert where == f"outbox {path}"
    assert "/" not in path.name.removesuffix(".eml").split("-", 1)[1]
    message = email.message_from_bytes(path.read_bytes())
    assert message["To"] == "ops@example.com"
    assert message["From"] == "csms@localhost"
    assert message["Subject"] == "Faulted: CP-1/EVSE 1 (GroundFailure)"
    assert message.get_payload(decode=True) == b"Tried:\n"


def test_outbox_that_cannot_be_written_is_a_mailer_error(tmp_path: Path) -> None:
    # GIVEN an outbox path that is a file
    blocked = tmp_path / "outbox"
    blocked.write_text("not a folder")
    # WHEN a mail goes out
    with pytest.raises(MailerError, match="cannot be written"):
        OutboxMailer(blocked).send("ops@example.com", "s", "b")
