"""What a simulated station keeps for the CSMS's commands, and how it answers them.

Every CSMS-initiated command of both versions gets a plausible answer: a remote start really
starts a session and a remote stop ends it (through the station's session host), configuration
reads and writes go to a small store, a local list keeps its version, a reservation is held,
a firmware update or a log upload reports its progress with status notifications.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from csms_local.sim.profiles import Profile

# 1.6 configuration keys the station starts with (value, read-only); 2.0.1 component.variable
# names map onto the same store (see `VARIABLES_201`).
DEFAULT_CONFIGURATION: dict[str, tuple[str, bool]] = {
    "HeartbeatInterval": ("300", False),
    "MeterValueSampleInterval": ("60", False),
    "ClockAlignedDataInterval": ("0", False),
    "MeterValuesSampledData": ("Energy.Active.Import.Register,Power.Active.Import", False),
    "ConnectionTimeOut": ("120", False),
    "LocalAuthorizeOffline": ("true", False),
    "LocalPreAuthorize": ("false", False),
    "AuthorizeRemoteTxRequests": ("false", False),
    "LocalAuthListEnabled": ("true", False),
    "StopTransactionOnEVSideDisconnect": ("true", False),
    "WebSocketPingInterval": ("60", False),
    "TransactionMessageAttempts": ("3", False),
    "TransactionMessageRetryInterval": ("60", False),
    "NumberOfConnectors": ("2", True),
    "AuthorizationKey": ("", False),
}
# 2.0.1 (component, variable) -> the store's key.
VARIABLES_201: dict[tuple[str, str], str] = {
    ("OCPPCommCtrlr", "HeartbeatInterval"): "HeartbeatInterval",
    ("SampledDataCtrlr", "TxUpdatedInterval"): "MeterValueSampleInterval",
    ("AlignedDataCtrlr", "Interval"): "ClockAlignedDataInterval",
    ("SampledDataCtrlr", "TxUpdatedMeasurands"): "MeterValuesSampledData",
    ("TxCtrlr", "EVConnectionTimeOut"): "ConnectionTimeOut",
    ("AuthCtrlr", "LocalAuthorizeOffline"): "LocalAuthorizeOffline",
    ("AuthCtrlr", "LocalPreAuthorize"): "LocalPreAuthorize",
    ("AuthCtrlr", "AuthorizeRemoteStart"): "AuthorizeRemoteTxRequests",
    ("LocalAuthListCtrlr", "Enabled"): "LocalAuthListEnabled",
    ("TxCtrlr", "StopTxOnEVSideDisconnect"): "StopTransactionOnEVSideDisconnect",
    ("OCPPCommCtrlr", "WebSocketPingInterval"): "WebSocketPingInterval",
    ("OCPPCommCtrlr", "MessageAttempts"): "TransactionMessageAttempts",
    ("OCPPCommCtrlr", "MessageAttemptInterval"): "TransactionMessageRetryInterval",
    ("SecurityCtrlr", "BasicAuthPassword"): "AuthorizationKey",
}
# Keys whose value a station never reads back (OCPP: write-only).
WRITE_ONLY = frozenset({"AuthorizationKey"})


@dataclass
class StationMemory:
    """What a station remembers across connections for the CSMS's commands."""

    configuration: dict[str, tuple[str, bool]] = field(
        default_factory=lambda: dict(DEFAULT_CONFIGURATION)
    )
    local_list_version: int = 0
    local_list: dict[str, dict[str, Any]] = field(default_factory=dict)
    reservations: dict[int, dict[str, Any]] = field(default_factory=dict)
    profiles: dict[int, Profile] = field(default_factory=dict)
    unavailable: set[int] = field(default_factory=set)
    cache_cleared: int = 0

    def read(self, key: str) -> tuple[str, bool] | None:
        """(value, read-only) of a key; write-only values read as absent."""
        entry = self.configuration.get(key)
        if entry is None or key in WRITE_ONLY:
            return None
        return entry

    def write(self, key: str, value: str) -> str:
        """Accepted, Rejected (read-only) or NotSupported (unknown key)."""
        entry = self.configuration.get(key)
        if entry is None:
            return "NotSupported"
        if entry[1]:
            return "Rejected"
        self.configuration[key] = (value, False)
        return "Accepted"

    def update_list(self, version: int, update: str, entries: list[dict[str, Any]]) -> str:
        """Apply a SendLocalList: Full replaces, Differential adds, changes or deletes."""
        if update.lower() == "differential" and version <= self.local_list_version:
            return "VersionMismatch"
        if update.lower() == "full":
            self.local_list = {}
        for entry in entries:
            token = entry.get("id_tag") or (entry.get("id_token") or {}).get("id_token")
            info = entry.get("id_tag_info") or entry.get("id_token_info")
            if not token:
                continue
            if info is None:
                self.local_list.pop(token, None)
            else:
                self.local_list[token] = info
        self.local_list_version = version
        return "Accepted"

    def clear_profiles(
        self, profile_id: int | None, target: int | None, purpose: str | None, level: int | None
    ) -> bool:
        """Remove the profiles matching every criterion given; True when one matched."""
        matched = [
            pid
            for pid, profile in self.profiles.items()
            if (profile_id is None or pid == profile_id)
            and (target is None or profile.target == target)
            and (purpose is None or profile.wire_purpose == purpose)
            and (level is None or profile.stack_level == level)
        ]
        for pid in matched:
            del self.profiles[pid]
        return bool(matched)


# Progress a simulated firmware update and log upload report, in order.
FIRMWARE_STEPS_16 = ("Downloading", "Downloaded", "Installing", "Installed")
FIRMWARE_STEPS_201 = ("Downloading", "Downloaded", "Installing", "Installed")
LOG_STEPS_16 = ("Uploading", "Uploaded")
LOG_STEPS_201 = ("Uploading", "Uploaded")
