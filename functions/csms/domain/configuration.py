"""Station settings, version-neutral: a table of the common ones, and raw access to the rest.

A 1.6 station keeps flat configuration keys (GetConfiguration / ChangeConfiguration); a 2.0.1
station a device model of components and variables (GetVariables / SetVariables). The common
settings go by one neutral name (the 1.6 key's spelling) that each version maps to its own
address; anything else is addressed raw, in the station's own version. Values travel as the
strings both versions use and are not translated (a 1.6 "Current,Power" rate unit list is
"A,W" in 2.0.1; the station says what it accepts).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from csms.domain.connector import MAX_ID

# 1.6 CiString50 key; 2.0.1 component/variable names and instances are identifierString(50).
Name = Annotated[str, Field(min_length=1, max_length=50)]
# 2.0.1 SetVariableData.attributeValue is a string(1000); 1.6 values are CiString500.
SettingText = Annotated[str, Field(max_length=1000)]

REDACTED = "***"

# Whatever looks like a credential is never stored, logged or audited in clear (the 2.0.1
# BasicAuthPassword and its 1.6 twin AuthorizationKey, and vendor keys named alike).
_SENSITIVE = re.compile(
    r"password|passwd|passphrase|secret|authorizationkey|privatekey|apikey|credential",
    re.IGNORECASE,
)


def is_sensitive(*names: str | None) -> bool:
    """True when any of the names (a key, a component or a variable) looks like a credential."""
    return any(name is not None and _SENSITIVE.search(name) is not None for name in names)


def variable_label(
    component: str, component_instance: str | None, variable: str, variable_instance: str | None
) -> str:
    """`Component[instance].Variable[instance]`, as the 2.0.1 specification writes them."""
    left = component + (f"[{component_instance}]" if component_instance else "")
    right = variable + (f"[{variable_instance}]" if variable_instance else "")
    return f"{left}.{right}"


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class ConfigurationName(StrEnum):
    """The settings both versions have, named as the 1.6 key."""

    HEARTBEAT_INTERVAL = "HeartbeatInterval"
    METER_VALUE_SAMPLE_INTERVAL = "MeterValueSampleInterval"
    METER_VALUES_SAMPLED_DATA = "MeterValuesSampledData"
    STOP_TXN_SAMPLED_DATA = "StopTxnSampledData"
    CLOCK_ALIGNED_DATA_INTERVAL = "ClockAlignedDataInterval"
    METER_VALUES_ALIGNED_DATA = "MeterValuesAlignedData"
    STOP_TXN_ALIGNED_DATA = "StopTxnAlignedData"
    CONNECTION_TIME_OUT = "ConnectionTimeOut"
    STOP_TRANSACTION_ON_EV_SIDE_DISCONNECT = "StopTransactionOnEVSideDisconnect"
    STOP_TRANSACTION_ON_INVALID_ID = "StopTransactionOnInvalidId"
    MAX_ENERGY_ON_INVALID_ID = "MaxEnergyOnInvalidId"
    UNLOCK_CONNECTOR_ON_EV_SIDE_DISCONNECT = "UnlockConnectorOnEVSideDisconnect"
    LOCAL_AUTHORIZE_OFFLINE = "LocalAuthorizeOffline"
    LOCAL_PRE_AUTHORIZE = "LocalPreAuthorize"
    AUTHORIZE_REMOTE_TX_REQUESTS = "AuthorizeRemoteTxRequests"
    ALLOW_OFFLINE_TX_FOR_UNKNOWN_ID = "AllowOfflineTxForUnknownId"
    AUTHORIZATION_CACHE_ENABLED = "AuthorizationCacheEnabled"
    LOCAL_AUTH_LIST_ENABLED = "LocalAuthListEnabled"
    SEND_LOCAL_LIST_MAX_LENGTH = "SendLocalListMaxLength"
    WEB_SOCKET_PING_INTERVAL = "WebSocketPingInterval"
    TRANSACTION_MESSAGE_ATTEMPTS = "TransactionMessageAttempts"
    TRANSACTION_MESSAGE_RETRY_INTERVAL = "TransactionMessageRetryInterval"
    RESET_RETRIES = "ResetRetries"
    MINIMUM_STATUS_DURATION = "MinimumStatusDuration"
    GET_CONFIGURATION_MAX_KEYS = "GetConfigurationMaxKeys"
    RESERVE_CONNECTOR_ZERO_SUPPORTED = "ReserveConnectorZeroSupported"
    CHARGE_PROFILE_MAX_STACK_LEVEL = "ChargeProfileMaxStackLevel"
    CHARGING_SCHEDULE_MAX_PERIODS = "ChargingScheduleMaxPeriods"
    CHARGING_SCHEDULE_ALLOWED_CHARGING_RATE_UNIT = "ChargingScheduleAllowedChargingRateUnit"
    SECURITY_PROFILE = "SecurityProfile"
    AUTHORIZATION_KEY = "AuthorizationKey"


class AttributeType(StrEnum):
    """2.0.1 AttributeEnumType: which value of a variable (1.6 keys have one value)."""

    ACTUAL = "Actual"
    TARGET = "Target"
    MIN_SET = "MinSet"
    MAX_SET = "MaxSet"


class VariableAddress(_Model):
    """A 2.0.1 variable: component (+instance, +EVSE/connector) and variable (+instance)."""

    component: Name
    component_instance: Name | None = None
    evse_id: Annotated[int, Field(ge=0, le=MAX_ID)] | None = None
    connector_id: Annotated[int, Field(ge=0, le=MAX_ID)] | None = None
    variable: Name
    variable_instance: Name | None = None

    @model_validator(mode="after")
    def _connector_needs_evse(self) -> VariableAddress:
        # 2.0.1 EVSEType: a connector is only addressed within its EVSE.
        if self.connector_id is not None and self.evse_id is None:
            raise ValueError("connectorId needs an evseId")
        return self

    @property
    def label(self) -> str:
        """`Component[instance].Variable[instance]`, as the 2.0.1 specification writes them."""
        return variable_label(
            self.component, self.component_instance, self.variable, self.variable_instance
        )

    @property
    def sensitive(self) -> bool:
        """True when the variable looks like a credential."""
        return is_sensitive(self.component, self.variable, self.variable_instance)


class RawKey(_Model):
    """A 1.6 configuration key outside the mapping table (1.6 stations only)."""

    key: Name


class RawVariable(VariableAddress):
    """A 2.0.1 variable outside the mapping table (2.0.1 stations only)."""

    attribute_type: AttributeType = AttributeType.ACTUAL


# A setting: its neutral name, or raw in the station's version.
SettingRef = ConfigurationName | RawKey | RawVariable


@dataclass(frozen=True)
class SettingMapping:
    """Where one neutral setting lives in each version."""

    name: ConfigurationName
    ocpp16_key: str
    ocpp201: VariableAddress
    meaning: str

    @property
    def sensitive(self) -> bool:
        """True for credentials: their values never leave the request unredacted."""
        return is_sensitive(self.ocpp16_key) or self.ocpp201.sensitive


def _v(component: str, variable: str, instance: str | None = None) -> VariableAddress:
    return VariableAddress(component=component, variable=variable, variable_instance=instance)


_N = ConfigurationName

# Names checked against OCPP 1.6 §9 and the 2.0.1 Part 2 Appendix (the `ocpp` package's
# <Component>VariableName enums spell the same names).
MAPPINGS: Mapping[ConfigurationName, SettingMapping] = {
    m.name: m
    for m in (
        SettingMapping(
            _N.HEARTBEAT_INTERVAL,
            "HeartbeatInterval",
            _v("OCPPCommCtrlr", "HeartbeatInterval"),
            "seconds between heartbeats",
        ),
        SettingMapping(
            _N.METER_VALUE_SAMPLE_INTERVAL,
            "MeterValueSampleInterval",
            _v("SampledDataCtrlr", "TxUpdatedInterval"),
            "seconds between meter values during a transaction",
        ),
        SettingMapping(
            _N.METER_VALUES_SAMPLED_DATA,
            "MeterValuesSampledData",
            _v("SampledDataCtrlr", "TxUpdatedMeasurands"),
            "measurands sampled during a transaction",
        ),
        SettingMapping(
            _N.STOP_TXN_SAMPLED_DATA,
            "StopTxnSampledData",
            _v("SampledDataCtrlr", "TxEndedMeasurands"),
            "measurands sampled into the transaction's end",
        ),
        SettingMapping(
            _N.CLOCK_ALIGNED_DATA_INTERVAL,
            "ClockAlignedDataInterval",
            _v("AlignedDataCtrlr", "Interval"),
            "seconds between clock-aligned meter values (0: none)",
        ),
        SettingMapping(
            _N.METER_VALUES_ALIGNED_DATA,
            "MeterValuesAlignedData",
            _v("AlignedDataCtrlr", "Measurands"),
            "clock-aligned measurands",
        ),
        SettingMapping(
            _N.STOP_TXN_ALIGNED_DATA,
            "StopTxnAlignedData",
            _v("AlignedDataCtrlr", "TxEndedMeasurands"),
            "clock-aligned measurands in the transaction's end",
        ),
        SettingMapping(
            _N.CONNECTION_TIME_OUT,
            "ConnectionTimeOut",
            _v("TxCtrlr", "EVConnectionTimeOut"),
            "seconds to plug in after authorization",
        ),
        SettingMapping(
            _N.STOP_TRANSACTION_ON_EV_SIDE_DISCONNECT,
            "StopTransactionOnEVSideDisconnect",
            _v("TxCtrlr", "StopTxOnEVSideDisconnect"),
            "stop when the cable is unplugged at the EV",
        ),
        SettingMapping(
            _N.STOP_TRANSACTION_ON_INVALID_ID,
            "StopTransactionOnInvalidId",
            _v("TxCtrlr", "StopTxOnInvalidId"),
            "stop when the token turns out invalid",
        ),
        SettingMapping(
            _N.MAX_ENERGY_ON_INVALID_ID,
            "MaxEnergyOnInvalidId",
            _v("TxCtrlr", "MaxEnergyOnInvalidId"),
            "Wh still delivered after the token turned out invalid",
        ),
        SettingMapping(
            _N.UNLOCK_CONNECTOR_ON_EV_SIDE_DISCONNECT,
            "UnlockConnectorOnEVSideDisconnect",
            _v("OCPPCommCtrlr", "UnlockOnEVSideDisconnect"),
            "unlock the station side when the EV side is unplugged",
        ),
        SettingMapping(
            _N.LOCAL_AUTHORIZE_OFFLINE,
            "LocalAuthorizeOffline",
            _v("AuthCtrlr", "LocalAuthorizeOffline"),
            "accept locally known tokens while offline",
        ),
        SettingMapping(
            _N.LOCAL_PRE_AUTHORIZE,
            "LocalPreAuthorize",
            _v("AuthCtrlr", "LocalPreAuthorize"),
            "start on locally known tokens without asking the CSMS",
        ),
        SettingMapping(
            _N.AUTHORIZE_REMOTE_TX_REQUESTS,
            "AuthorizeRemoteTxRequests",
            _v("AuthCtrlr", "AuthorizeRemoteStart"),
            "authorize the token of a remote start first",
        ),
        SettingMapping(
            _N.ALLOW_OFFLINE_TX_FOR_UNKNOWN_ID,
            "AllowOfflineTxForUnknownId",
            _v("AuthCtrlr", "OfflineTxForUnknownIdEnabled"),
            "charge unknown tokens while offline",
        ),
        SettingMapping(
            _N.AUTHORIZATION_CACHE_ENABLED,
            "AuthorizationCacheEnabled",
            _v("AuthCacheCtrlr", "Enabled"),
            "keep an authorization cache",
        ),
        SettingMapping(
            _N.LOCAL_AUTH_LIST_ENABLED,
            "LocalAuthListEnabled",
            _v("LocalAuthListCtrlr", "Enabled"),
            "use the local authorization list",
        ),
        SettingMapping(
            _N.SEND_LOCAL_LIST_MAX_LENGTH,
            "SendLocalListMaxLength",
            _v("LocalAuthListCtrlr", "ItemsPerMessage"),
            "most entries in one SendLocalList",
        ),
        SettingMapping(
            _N.WEB_SOCKET_PING_INTERVAL,
            "WebSocketPingInterval",
            _v("OCPPCommCtrlr", "WebSocketPingInterval"),
            "seconds between WebSocket pings (0: none)",
        ),
        SettingMapping(
            _N.TRANSACTION_MESSAGE_ATTEMPTS,
            "TransactionMessageAttempts",
            _v("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent"),
            "tries of a transaction message the CSMS failed to process",
        ),
        SettingMapping(
            _N.TRANSACTION_MESSAGE_RETRY_INTERVAL,
            "TransactionMessageRetryInterval",
            _v("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent"),
            "seconds before retrying a transaction message",
        ),
        SettingMapping(
            _N.RESET_RETRIES,
            "ResetRetries",
            _v("OCPPCommCtrlr", "ResetRetries"),
            "tries of a reset that failed",
        ),
        SettingMapping(
            _N.MINIMUM_STATUS_DURATION,
            "MinimumStatusDuration",
            _v("OCPPCommCtrlr", "MinimumStatusDuration"),
            "seconds a status must last before it is reported",
        ),
        SettingMapping(
            _N.GET_CONFIGURATION_MAX_KEYS,
            "GetConfigurationMaxKeys",
            VariableAddress(
                component="DeviceDataCtrlr",
                component_instance=None,
                variable="ItemsPerMessage",
                variable_instance="GetVariables",
            ),
            "most settings read in one request",
        ),
        SettingMapping(
            _N.RESERVE_CONNECTOR_ZERO_SUPPORTED,
            "ReserveConnectorZeroSupported",
            _v("ReservationCtrlr", "NonEvseSpecific"),
            "reservations for no particular EVSE",
        ),
        SettingMapping(
            _N.CHARGE_PROFILE_MAX_STACK_LEVEL,
            "ChargeProfileMaxStackLevel",
            _v("SmartChargingCtrlr", "ProfileStackLevel"),
            "highest charging profile stack level",
        ),
        SettingMapping(
            _N.CHARGING_SCHEDULE_MAX_PERIODS,
            "ChargingScheduleMaxPeriods",
            _v("SmartChargingCtrlr", "PeriodsPerSchedule"),
            "most periods in one charging schedule",
        ),
        SettingMapping(
            _N.CHARGING_SCHEDULE_ALLOWED_CHARGING_RATE_UNIT,
            "ChargingScheduleAllowedChargingRateUnit",
            _v("SmartChargingCtrlr", "RateUnit"),
            "rate units a schedule may use (1.6 Current,Power; 2.0.1 A,W)",
        ),
        SettingMapping(
            _N.SECURITY_PROFILE,
            "SecurityProfile",
            _v("SecurityCtrlr", "SecurityProfile"),
            "security profile of the connection",
        ),
        SettingMapping(
            _N.AUTHORIZATION_KEY,
            "AuthorizationKey",
            _v("SecurityCtrlr", "BasicAuthPassword"),
            "the station's Basic Auth password (write-only, redacted)",
        ),
    )
}

_BY_16_KEY = {m.ocpp16_key.lower(): m for m in MAPPINGS.values()}
_BY_201_ADDRESS = {
    (m.ocpp201.component, m.ocpp201.variable, m.ocpp201.variable_instance): m
    for m in MAPPINGS.values()
}


def mapping_of_key(key: str) -> SettingMapping | None:
    """The table row of a 1.6 key (keys compare without case, as 1.6 CiStrings do)."""
    return _BY_16_KEY.get(key.lower())


def mapping_of_variable(address: VariableAddress | ReportedVariable) -> SettingMapping | None:
    """The table row of a 2.0.1 variable; only the station-wide controllers are mapped."""
    if address.component_instance is not None or address.evse_id is not None:
        return None
    return _BY_201_ADDRESS.get((address.component, address.variable, address.variable_instance))


class SettingStatus(StrEnum):
    """One setting's answer: the union of 1.6 ChangeConfiguration and 2.0.1 Get/SetVariables."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"
    UNKNOWN_COMPONENT = "UnknownComponent"
    UNKNOWN_VARIABLE = "UnknownVariable"
    NOT_SUPPORTED_ATTRIBUTE_TYPE = "NotSupportedAttributeType"


class ReportedVariable(_Model):
    """A 2.0.1 variable as a station named it in its answer (not checked: it is the station's)."""

    component: str
    component_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    variable: str
    variable_instance: str | None = None
    attribute_type: AttributeType = AttributeType.ACTUAL

    @property
    def label(self) -> str:
        """`Component[instance].Variable[instance]`, as the 2.0.1 specification writes them."""
        return variable_label(
            self.component, self.component_instance, self.variable, self.variable_instance
        )


class SettingValue(_Model):
    """One setting as the station reported it (a credential's value shows as "***")."""

    # The neutral name, when the mapping table knows the key or variable.
    name: ConfigurationName | None = None
    key: str | None = None
    variable: ReportedVariable | None = None
    value: str | None = None
    readonly: bool | None = None
    status: SettingStatus
    reason: str | None = None


class ConfigurationResult(_Model):
    """The station's answer to a Get/SetConfiguration, version-neutral."""

    settings: tuple[SettingValue, ...] = ()
    # 1.6 unknownKey, or 2.0.1 variables answered UnknownComponent/UnknownVariable.
    unknown: tuple[str, ...] = ()
