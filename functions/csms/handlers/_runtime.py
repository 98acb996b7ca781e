"""The composition root: settings validated, adapters built and wired, once per cold start.

Handlers call `gateway()` or `api()`; tests and the local runtime call `reset()` after changing
the environment. Nothing else constructs adapters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from csms.adapters.apigw import ApiGwConnectionSender
from csms.adapters.dynamo import (
    DynamoCallRepository,
    DynamoConnectionLog,
    DynamoConnectorStatusRepository,
    DynamoSeedRepository,
    DynamoStationRepository,
)
from csms.adapters.dynamo_models import configure_table
from csms.adapters.dynamo_notifications import (
    DynamoChargingNeedsRepository,
    DynamoStationNoteRepository,
)
from csms.adapters.dynamo_sessions import DynamoSessionRepository, DynamoTokenRepository
from csms.adapters.events import EventBridgePublisher
from csms.adapters.outbox import OutboxEncoder
from csms.adapters.system import Argon2PasswordHasher, SystemClock, new_uuid
from csms.domain.meter import TimeWindow
from csms.ocpp.dispatch import OcppCallEncoder, OcppDispatcher
from csms.services.commands import CommandService
from csms.services.notifications import NotificationService
from csms.services.seeding import SeedService
from csms.services.sessions import SessionService
from csms.services.stations import StationService
from csms.services.tokens import TokenService
from csms.settings import (
    ApiSettings,
    BaseCsmsSettings,
    SessionSettings,
    StationGatewaySettings,
    load_settings,
)

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient
    from mypy_boto3_events import EventBridgeClient

logger = Logger(service="csms")
# Our modules log through the standard library; give them Powertools' JSON format.
copy_config_to_registered_loggers(source_logger=logger, include={"csms"})


@dataclass(frozen=True)
class Runtime:
    """Everything a handler needs, built once per container."""

    settings: StationGatewaySettings
    stations: StationService
    commands: CommandService
    dispatcher: OcppDispatcher
    seeds: SeedService
    sessions: SessionService
    tokens: TokenService
    sender: ApiGwConnectionSender
    connection_log: DynamoConnectionLog
    statuses: DynamoConnectorStatusRepository
    station_repository: DynamoStationRepository


def _client(service: str, settings: BaseCsmsSettings, **kwargs: Any) -> Any:
    # boto3 is imported here, on first use: the Heartbeat path never needs it.
    import boto3
    from botocore.config import Config

    endpoint = kwargs.pop("endpoint_url", None) or settings.aws_endpoint_url
    config = Config(
        # A fixed User-Agent: botocore otherwise rebuilds it on every request (~10% of the
        # CPU a call costs). Short timeouts: the handlers answer chargers within seconds.
        user_agent="csms/0.1",
        connect_timeout=2,
        read_timeout=5,
        retries={"mode": "standard", "max_attempts": 3},
    )
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        region_name=settings.aws_region,
        endpoint_url=endpoint,
        config=config,
        **kwargs,
    )


def build(settings: StationGatewaySettings) -> Runtime:
    """Wire the adapters and services for these settings."""
    configure_table(settings.table_name, settings.aws_region, settings.aws_endpoint_url)
    clock = SystemClock()
    outbox = OutboxEncoder(new_uuid)
    stations = DynamoStationRepository(outbox)
    connection_log = DynamoConnectionLog(
        timedelta(days=settings.connection_log_retention_days), outbox
    )
    statuses = DynamoConnectorStatusRepository(outbox)
    hasher = Argon2PasswordHasher()

    def management_client() -> ApiGatewayManagementApiClient:
        client: ApiGatewayManagementApiClient = _client(
            "apigatewaymanagementapi", settings, endpoint_url=settings.ws_management_endpoint
        )
        return client

    sender = ApiGwConnectionSender(management_client)
    station_service = StationService(
        stations=stations,
        connection_log=connection_log,
        statuses=statuses,
        hasher=hasher,
        clock=clock,
        heartbeat_interval_s=settings.heartbeat_interval_s,
    )
    commands = CommandService(
        stations=stations,
        calls=DynamoCallRepository(),
        encoder=OcppCallEncoder(),
        sender=sender,
        clock=clock,
        new_id=new_uuid,
        timeout_s=settings.call_timeout_s,
        sleep=time.sleep,
    )
    sessions = session_service(settings, outbox, clock)
    return Runtime(
        settings=settings,
        stations=station_service,
        commands=commands,
        sessions=sessions,
        tokens=TokenService(tokens=DynamoTokenRepository(), clock=clock),
        dispatcher=OcppDispatcher(
            stations=station_service,
            commands=commands,
            sessions=sessions,
            # No vendor DataTransfer handlers yet: every vendor is answered UnknownVendorId.
            notifications=NotificationService(
                notes=DynamoStationNoteRepository(),
                needs=DynamoChargingNeedsRepository(),
                clock=clock,
                vendors={},
            ),
        ),
        seeds=SeedService(stations=stations, seeds=DynamoSeedRepository(), hasher=hasher),
        sender=sender,
        connection_log=connection_log,
        statuses=statuses,
        station_repository=stations,
    )


def session_service(
    settings: SessionSettings, outbox: OutboxEncoder, clock: SystemClock
) -> SessionService:
    """The session use cases on DynamoDB."""
    return SessionService(
        sessions=DynamoSessionRepository(outbox),
        tokens=DynamoTokenRepository(),
        clock=clock,
        window=TimeWindow(
            max_skew=timedelta(seconds=settings.meter_max_skew_s),
            max_age=timedelta(days=settings.meter_max_age_days),
        ),
        update_interval=timedelta(seconds=settings.session_update_interval_s),
        abandon_after=timedelta(hours=settings.session_abandon_after_h),
        backoff=lambda attempt: time.sleep(min(0.01 * 2**attempt, 0.2)),
    )


@cache
def cleanup() -> SessionService:
    """The runtime of the session cleanup job."""
    settings = load_settings(SessionSettings)
    configure_table(settings.table_name, settings.aws_region, settings.aws_endpoint_url)
    return session_service(settings, OutboxEncoder(new_uuid), SystemClock())


@cache
def gateway() -> Runtime:
    """The runtime of the WebSocket route handlers."""
    return build(load_settings(StationGatewaySettings))


@dataclass(frozen=True)
class Relay:
    """What the outbox relay needs: only the bus."""

    bus_name: str
    events: EventBridgePublisher


@cache
def relay() -> Relay:
    """The runtime of the outbox relay (table stream -> EventBridge)."""
    settings = load_settings(BaseCsmsSettings)

    def events_client() -> EventBridgeClient:
        client: EventBridgeClient = _client("events", settings)
        return client

    return Relay(
        bus_name=settings.event_bus_name,
        events=EventBridgePublisher(settings.event_bus_name, events_client),
    )


@cache
def api() -> Runtime:
    """The runtime of the HTTP API handler."""
    return build(load_settings(ApiSettings))


def reset() -> None:
    """Forget the built runtimes (after the environment changed)."""
    gateway.cache_clear()
    api.cache_clear()
    relay.cache_clear()
    cleanup.cache_clear()
