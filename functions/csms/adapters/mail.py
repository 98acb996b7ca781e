"""E-mail to operators: Amazon SES in AWS, files in a local outbox for `csms local`."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from csms.services.escalation import MailerError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class SesMailer:
    """Sends through SES (v2) from a verified identity; the client is created on first use."""

    def __init__(self, sender: str, client_factory: Callable[[], Any]) -> None:
        self._sender = sender
        self._factory = client_factory
        self._client: Any = None

    def send(self, to: str, subject: str, body: str) -> str:
        """The SES message id; an address SES refuses (or SES down) is a MailerError."""
        if self._client is None:
            self._client = self._factory()
        try:
            response = self._client.send_email(
                FromEmailAddress=self._sender,
                Destination={"ToAddresses": [to]},
                Content={
                    "Simple": {
                        "Subject": {"Data": subject, "Charset": "UTF-8"},
                        "Body": {"Text": {"Data": body, "Charset": "UTF-8"}},
                    }
                },
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise MailerError(f"SES refused it ({code})") from None
        except BotoCoreError as exc:
            raise MailerError(f"SES could not be reached ({type(exc).__name__})") from None
        return f"SES message {response['MessageId']}"


class NoMailer:
    """No sender is configured (AWS without `notify_from`): every e-mail is a MailerError."""

    def send(self, to: str, subject: str, body: str) -> str:
        """Refuse, saying how to configure one."""
        del to, subject, body
        raise MailerError("no sender is configured (deploy with -c csms:notifyFrom=ADDRESS)")


class OutboxMailer:
    """Writes each e-mail as an .eml file into a directory (the local runtime's outbox)."""

    def __init__(self, directory: Path, sender: str = "csms@localhost") -> None:
        self._directory = directory
        self._sender = sender

    def send(self, to: str, subject: str, body: str) -> str:
        """The file written; a directory that cannot be written is a MailerError."""
        now = datetime.now(UTC)
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(now)
        message["Message-ID"] = make_msgid(domain="csms.local")
        message.set_content(body)
        name = f"{now:%Y%m%dT%H%M%S%f}-{_UNSAFE.sub('_', subject)[:60]}.eml"
        path = self._directory / name
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            path.write_bytes(bytes(message))
        except OSError as exc:
            raise MailerError(
                f"the outbox {self._directory} cannot be written ({exc.strerror})"
            ) from None
        return f"outbox {path}"
