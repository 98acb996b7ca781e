"""Settings: validated at cold start, wrong values named in one line."""

from __future__ import annotations

import pytest

from csms.settings import ApiSettings, SettingsError, StationGatewaySettings, load_settings


def test_settings_missing_and_wrong_values_are_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN an environment with no table, a bad endpoint and a heartbeat above the idle timeout
    monkeypatch.delenv("CSMS_TABLE_NAME", raising=False)
    monkeypatch.setenv("CSMS_EVENT_BUS_NAME", "bus")
    monkeypatch.setenv("CSMS_WS_MANAGEMENT_ENDPOINT", "not a url")
    monkeypatch.setenv("CSMS_HEARTBEAT_INTERVAL_S", "900")
    # WHEN the settings are loaded
    with pytest.raises(SettingsError) as caught:
        load_settings(StationGatewaySettings)
    # THEN one line names every wrong variable by its environment name
    message = str(caught.value)
    assert "\n" not in message
    for name in ("CSMS_TABLE_NAME", "CSMS_WS_MANAGEMENT_ENDPOINT", "CSMS_HEARTBEAT_INTERVAL_S"):
        assert name in message


def test_settings_valid_environment_loads_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSMS_TABLE_NAME", "csms-table")
    monkeypatch.setenv("CSMS_EVENT_BUS_NAME", "bus")
    monkeypatch.setenv(
        "CSMS_WS_MANAGEMENT_ENDPOINT", "https://abc.execute-api.eu-west-1.amazonaws.com/prod"
    )
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    settings = load_settings(ApiSettings)
    assert (settings.table_name, settings.aws_region, settings.heartbeat_interval_s) == (
        "csms-table",
        "eu-west-1",
        300,
    )
    assert settings.command_wait_s == 10.0
