"""The handlers' settings `csms local` sets (the rest of them as the CDK stack sets them)."""

from __future__ import annotations

import os
from pathlib import Path

from csms.handlers import _runtime
from csms.settings import ApiSettings, EscalationSettings, WebhookSettings, load_settings
from csms_local import emulation
from csms_local.runtime import LocalOptions, configure_environment


def test_local_runtime_allows_private_webhooks_and_writes_mail_to_its_outbox(
    tmp_path: Path,
) -> None:
    # GIVEN the local runtime's options with a data folder
    options = LocalOptions(data_dir=tmp_path / "data")
    resources = emulation.EmulatedResources(
        table_name="csms", event_bus_name="csms", events_queue_url="q", routing_queue_url="r"
    )
    saved = dict(os.environ)
    try:
        os.environ.pop("CSMS_WEBHOOKS_ALLOW_PRIVATE", None)
        os.environ["CSMS_WEBHOOK_QUEUE_URL"] = "http://127.0.0.1:1/queue/webhooks"
        # WHEN it configures the handlers' environment
        configure_environment(options, resources)
        # THEN webhook endpoints on this machine are allowed (receivers under test), and
        # escalation e-mails go to the data folder's outbox instead of SES
        assert load_settings(WebhookSettings).webhooks_allow_private is True
        assert load_settings(ApiSettings).webhooks_allow_private is True
        escalation = load_settings(EscalationSettings)
        assert escalation.notify_outbox_dir == str(tmp_path / "data" / "outbox")
        assert escalation.ws_management_endpoint == "http://127.0.0.1:9000"
    finally:
        os.environ.clear()
        os.environ.update(saved)
        _runtime.reset()


def test_outbox_without_a_data_folder_is_a_temp_folder_per_port() -> None:
    one = LocalOptions(http_port=8000).outbox_dir
    two = LocalOptions(http_port=8001).outbox_dir
    assert one != two
    assert one.name == "csms-outbox-8000"


def test_settings_default_to_refusing_private_webhooks() -> None:
    # GIVEN / WHEN nothing sets the switch (every deployed function)
    settings = WebhookSettings(
        table_name="csms", event_bus_name="csms", webhook_queue_url="https://q"
    )
    # THEN private and loopback endpoints are refused
    assert settings.webhooks_allow_private is False
