"""The composition root: settings validated, adapters built and wired, once per cold start.

Handlers call `gateway()` or `api()`; tests and the local runtime call `reset()` after changing
the environment. Nothing else constructs adapters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from csms.adapters.apigw import ApiGwConnectionSender
from csms.adapters.botocore_cache import new_session
from csms.adapters.cognito import CognitoUserDirectory, NoUserDirectory
from csms.adapters.dynamo import (
    DynamoConnectionLog,
    DynamoConnectorStatusRepository,
    DynamoSeedRepository,
    DynamoStationRepository,
)
from csms.adapters.dynamo_alerts import DynamoAlertRepository
from csms.adapters.dynamo_audit import DynamoAuditRepository
from csms.adapters.dynamo_billing import DynamoBillingAccountStore, DynamoBillingRepository
from csms.adapters.dynamo_commands import DynamoCallRepository, new_command_id
from csms.adapters.dynamo_frames import DynamoFrameLog
from csms.adapters.dynamo_load import DynamoLoadRepository
from csms.adapters.dynamo_maintenance import DynamoPlanRepository, DynamoTicketRepository
from csms.adapters.dynamo_models import configure_table
from csms.adapters.dynamo_notifications import (
    DynamoChargingNeedsRepository,
    DynamoStationNoteRepository,
)
from csms.adapters.dynamo_sessions import DynamoSessionRepository, DynamoTokenRepository
from csms.adapters.dynamo_site_directory import DynamoSiteDirectory
from csms.adapters.dynamo_tariffs import DynamoTariffRepository
from csms.adapters.dynamo_tenancy import (
    DynamoGroupRepository,
    DynamoSiteRepository,
    DynamoTenantProfileRepository,
    DynamoUserRepository,
    DynamoVehicleRepository,
)
from csms.adapters.dynamo_uptime import DynamoExclusionRepository, DynamoUptimeHistory
from csms.adapters.events import EventBridgePublisher
from csms.adapters.outbox import OutboxEncoder
from csms.adapters.stepfunctions import StepFunctionsStarter
from csms.adapters.system import (
    Argon2PasswordHasher,
    SystemClock,
    new_station_password,
    new_uuid,
)
from csms.adapters.webhook_aws import SqsDeliveryQueue
from csms.domain.meter import TimeWindow
from csms.domain.webhooks import attempts_to_cover
from csms.ocpp.dispatch import OcppCallEncoder, OcppDispatcher
from csms.services.alerts import AlertPolicy, AlertService
from csms.services.analytics import UsageReports
from csms.services.audit import AuditService
from csms.services.billing import BillingService
from csms.services.billing_accounts import BillingAccountService
from csms.services.billing_month import MonthlyClose
from csms.services.billing_queries import SessionSites
from csms.services.billing_reports import BillingReports, InvoiceRenderer
from csms.services.billing_wiring import GroupBillingAccounts, StoredSessionPricer
from csms.services.commands import CommandService
from csms.services.escalation import CommandResets, EscalationPolicy, EscalationService, Mailer
from csms.services.live import LiveService
from csms.services.load import LoadService
from csms.services.maintenance import MaintenanceService
from csms.services.message_log import MessageLogService, TracingFrameSender
from csms.services.notifications import NotificationService
from csms.services.payments import PaymentProvider, PaymentWebhookVerifier
from csms.services.ports import LoadRepository, ManagedSite
from csms.services.preauth import PreauthService
from csms.services.rebalance import RebalancePolicy, RebalanceService
from csms.services.seeding import SeedService
from csms.services.session_price import SessionPriceService
from csms.services.sessions import SessionService
from csms.services.station_admin import StationAdminService
from csms.services.stations import StationService
from csms.services.tariffs import TariffService
from csms.services.tenancy import TenancyService, UserDirectory
from csms.services.tokens import TokenService
from csms.services.uptime import UptimeService
from csms.services.webhooks import DeliveryQueue, NoDeliveryQueue, WebhookService
from csms.settings import (
    AlertSettings,
    ApiSettings,
    BaseCsmsSettings,
    BillingWorkflowSettings,
    EscalationSettings,
    PaymentSettings,
    RebalanceSettings,
    SessionSettings,
    SettingsError,
    StationGatewaySettings,
    WebhookSettings,
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
    audit: AuditService
    message_log: MessageLogService
    tenancy: TenancyService
    station_admin: StationAdminService
    live: LiveService
    load_repository: LoadRepository
    load: LoadService
    tariffs: TariffService
    session_prices: SessionPriceService


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
    return boto3.session.Session(botocore_session=new_session()).client(
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
    message_log = MessageLogService(
        frames=DynamoFrameLog(timedelta(hours=settings.frame_log_ttl_h)),
        clock=clock,
        new_id=new_uuid,
    )
    commands = CommandService(
        stations=stations,
        calls=DynamoCallRepository(),
        encoder=OcppCallEncoder(),
        # CALLs to traced stations go to the message log; the binding is looked up (and
        # cached) only when a call is sent. `station_service` exists by the time one is.
        sender=TracingFrameSender(
            sender,
            lambda connection_id: station_service.resolve(connection_id),  # noqa: PLW0108
            message_log,
        ),
        clock=clock,
        new_id=new_command_id,
        timeout_s=settings.call_timeout_s,
        sleep=time.sleep,
        notes=DynamoStationNoteRepository(),
        sessions=DynamoSessionRepository(outbox),
        tokens=DynamoTokenRepository(),
    )
    station_service = StationService(
        has_queued_commands=commands.has_queued,
        stations=stations,
        connection_log=connection_log,
        statuses=statuses,
        hasher=hasher,
        clock=clock,
        heartbeat_interval_s=settings.heartbeat_interval_s,
    )
    sessions = session_service(settings, outbox, clock)
    loads = DynamoLoadRepository(clock, outbox)
    tariffs = TariffService(
        tariffs=DynamoTariffRepository(),
        stations=stations,
        sites=DynamoSiteRepository(),
        groups=DynamoGroupRepository(),
        tokens=DynamoTokenRepository(),
        clock=clock,
    )
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
        audit=AuditService(
            entries=DynamoAuditRepository(timedelta(days=_audit_retention_days(settings))),
            clock=clock,
            new_id=new_uuid,
        ),
        message_log=message_log,
        tenancy=tenancy_service(settings, clock),
        station_admin=_station_admin(settings, stations, hasher, sender, clock),
        load_repository=loads,
        load=LoadService(
            loads=loads,
            sites=DynamoSiteDirectory(),
            stations=stations,
            sessions=DynamoSessionRepository(outbox),
            clock=clock,
            commands=commands,
        ),
        tariffs=tariffs,
        session_prices=SessionPriceService(
            sessions=DynamoSessionRepository(outbox),
            sites=DynamoSiteRepository(),
            tariffs=tariffs,
            clock=clock,
        ),
        live=LiveService(
            stations=stations,
            statuses=statuses,
            sessions=sessions,
            sites=DynamoSiteDirectory(),
            clock=clock,
        ),
    )


def _station_admin(
    settings: StationGatewaySettings,
    stations: DynamoStationRepository,
    hasher: Argon2PasswordHasher,
    sender: ApiGwConnectionSender,
    clock: SystemClock,
) -> StationAdminService:
    # Only the API function manages stations; the others never use these two settings.
    api_settings = settings if isinstance(settings, ApiSettings) else None
    defaults = ApiSettings.model_fields
    grace_s: int = (
        api_settings.station_password_grace_s
        if api_settings
        else defaults["station_password_grace_s"].default
    )
    trace_h: int = (
        api_settings.onboarding_trace_h if api_settings else defaults["onboarding_trace_h"].default
    )
    return StationAdminService(
        stations=stations,
        sites=DynamoSiteDirectory(),
        hasher=hasher,
        closer=sender,
        clock=clock,
        new_password=new_station_password,
        password_grace=timedelta(seconds=grace_s),
        onboarding_trace=timedelta(hours=trace_h),
    )


def tenancy_service(settings: StationGatewaySettings, clock: SystemClock) -> TenancyService:
    """Sites, groups, vehicles, users and profile; users kept in step with the user pool."""
    pool = settings.user_pool_id if isinstance(settings, ApiSettings) else None
    directory: UserDirectory = NoUserDirectory()
    if pool is not None:
        directory = CognitoUserDirectory(pool, lambda: _client("cognito-idp", settings))
    return TenancyService(
        sites=DynamoSiteRepository(),
        groups=DynamoGroupRepository(),
        vehicles=DynamoVehicleRepository(),
        users=DynamoUserRepository(),
        profiles=DynamoTenantProfileRepository(),
        directory=directory,
        clock=clock,
        new_id=new_uuid,
    )


def _audit_retention_days(settings: StationGatewaySettings) -> int:
    # Only the API function writes the audit log; the others never use its retention.
    if isinstance(settings, ApiSettings):
        return settings.audit_retention_days
    return ApiSettings.model_fields["audit_retention_days"].default  # type: ignore[no-any-return]


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


@dataclass(frozen=True)
class Rebalancer:
    """What the load management functions need: the rebalance, and the bus for the fan-out."""

    service: RebalanceService
    stations: DynamoStationRepository
    events: EventBridgePublisher
    bus_name: str
    clock: SystemClock
    new_id: Callable[[], str]

    def sites(self) -> Iterator[ManagedSite]:
        """Every site with load management (the schedule asks for a rebalance of each)."""
        return self.service.managed_sites()


@cache
def rebalancer() -> Rebalancer:
    """The runtime of the rebalance and of its schedule (csms.handlers.*_rebalance)."""
    return build_rebalancer(load_settings(RebalanceSettings))


def build_rebalancer(
    settings: RebalanceSettings, loads: LoadRepository | None = None
) -> Rebalancer:
    """Wire the rebalance for these settings (`loads`: the load store, DynamoDB by default)."""
    runtime = build(settings)
    clock = SystemClock()

    def events_client() -> EventBridgeClient:
        client: EventBridgeClient = _client("events", settings)
        return client

    service = RebalanceService(
        loads=loads or runtime.load_repository,
        stations=runtime.station_repository,
        sessions=DynamoSessionRepository(OutboxEncoder(new_uuid)),
        needs=DynamoChargingNeedsRepository(),
        statuses=runtime.statuses,
        sender=runtime.commands,
        clock=clock,
        groups=DynamoGroupRepository(),
        vehicles=DynamoVehicleRepository(),
        policy=RebalancePolicy(profile_ttl=timedelta(seconds=settings.rebalance_profile_ttl_s)),
    )
    return Rebalancer(
        service=service,
        stations=runtime.station_repository,
        events=EventBridgePublisher(settings.event_bus_name, events_client),
        bus_name=settings.event_bus_name,
        clock=clock,
        new_id=new_uuid,
    )


@cache
def payment_settings() -> PaymentSettings:
    """This function's payment settings, Stripe's keys read from their secret when it is set."""
    settings = load_settings(PaymentSettings)
    if settings.stripe_secret_arn is None:
        return settings
    from csms.adapters.stripe_keys import with_stripe_keys

    return with_stripe_keys(settings, lambda: _client("secretsmanager", settings))


@cache
def payment_provider() -> PaymentProvider:
    """The payment provider of this function (Stripe with a key, else invoice only)."""
    return build_payment_provider(payment_settings())


def build_payment_provider(settings: PaymentSettings) -> PaymentProvider:
    """Stripe when an API key is configured; otherwise the "invoice only" provider."""
    if settings.stripe_api_key is None:
        from csms.adapters.invoice_only import InvoiceOnlyProvider

        return InvoiceOnlyProvider()
    # stripe takes ~150 ms to import: only functions that move money load it.
    from csms.adapters.stripe_payments import StripePaymentProvider

    return StripePaymentProvider(
        settings.stripe_api_key.get_secret_value(),
        api_base=settings.stripe_api_base,
        timeout_s=settings.stripe_timeout_s,
        max_network_retries=settings.stripe_max_network_retries,
    )


@cache
def payment_webhooks() -> PaymentWebhookVerifier | None:
    """The Stripe webhook check of this function; None when no signing secret is set."""
    return build_payment_webhooks(payment_settings())


def build_payment_webhooks(settings: PaymentSettings) -> PaymentWebhookVerifier | None:
    """A verifier for the configured signing secrets (None: webhooks are not accepted)."""
    if not settings.stripe_webhook_secrets:
        return None
    from csms.adapters.stripe_webhooks import StripeWebhookVerifier

    return StripeWebhookVerifier(
        [secret.get_secret_value() for secret in settings.stripe_webhook_secrets]
    )


class WorkflowStarter(Protocol):
    """Starts a workflow execution once per name (Step Functions, or the local runtime's)."""

    def start(self, name: str, execution_input: str) -> bool:
        """Start it; False when an execution of that name exists already."""
        ...


_workflow_override: WorkflowStarter | None = None


def run_billing_workflow_with(starter: WorkflowStarter | None) -> None:
    """Run billing executions with `starter` instead of Step Functions (the local runtime)."""
    global _workflow_override  # noqa: PLW0603 - one process-wide override, set at start-up
    _workflow_override = starter


def billing_workflow() -> WorkflowStarter:
    """The billing workflow's starter (csms.handlers.sfn_billing.start_handler)."""
    if _workflow_override is not None:
        return _workflow_override
    return _step_functions_starter()


@cache
def _step_functions_starter() -> StepFunctionsStarter:
    settings = load_settings(BillingWorkflowSettings)
    return StepFunctionsStarter(
        settings.billing_state_machine_arn, lambda: _client("stepfunctions", settings)
    )


@dataclass(frozen=True)
class Billing:
    """Billing's adapters on the table, built once (csms.services.billing_wiring)."""

    repository: DynamoBillingRepository
    accounts: GroupBillingAccounts
    service: BillingService
    tariffs: TariffService


@cache
def billing() -> Billing:
    """Billing's repository, accounts and service (the workflow, the API, the webhooks)."""
    settings = load_settings(PaymentSettings)
    configure_table(settings.table_name, settings.aws_region, settings.aws_endpoint_url)
    clock = SystemClock()
    outbox = OutboxEncoder(new_uuid)
    repository = DynamoBillingRepository(outbox)
    payments = payment_provider()
    accounts = GroupBillingAccounts(
        store=DynamoBillingAccountStore(), groups=DynamoGroupRepository(), payments=payments
    )
    tariffs = TariffService(
        tariffs=DynamoTariffRepository(),
        stations=DynamoStationRepository(outbox),
        sites=DynamoSiteRepository(),
        groups=DynamoGroupRepository(),
        tokens=DynamoTokenRepository(),
        clock=clock,
    )
    pricer = StoredSessionPricer(
        sessions=DynamoSessionRepository(outbox), sites=DynamoSiteRepository(), tariffs=tariffs
    )
    service = BillingService(
        repository=repository, pricer=pricer, accounts=accounts, payments=payments
    )
    return Billing(repository=repository, accounts=accounts, service=service, tariffs=tariffs)


def billing_service() -> BillingService:
    """The billing service of this function (built once with `billing()`)."""
    return billing().service


@cache
def billing_accounts() -> BillingAccountService:
    """Billing accounts as the API manages them (on the table `billing()` configured)."""
    billing()
    return BillingAccountService(
        store=DynamoBillingAccountStore(), payments=payment_provider(), clock=SystemClock()
    )


@cache
def preauth() -> PreauthService:
    """Pre-authorisation at a session's start (csms.handlers.evt_preauth)."""
    built = billing()
    return PreauthService(
        holds=built.repository,
        accounts=built.accounts,
        groups=DynamoGroupRepository(),
        tariffs=built.tariffs,
        payments=payment_provider(),
        hold_amount=payment_settings().billing_hold_amount,
    )


@cache
def billing_month() -> MonthlyClose:
    """The monthly close (csms.handlers.sfn_billing.close_month_handler)."""
    built = billing()
    return MonthlyClose(billing=built.service, statements=built.repository)


@cache
def invoice_renderer() -> InvoiceRenderer:
    """Invoices as PDF documents (fpdf2 loads on the first one rendered, not at cold start)."""
    from csms.adapters.statement_pdf import FpdfInvoiceRenderer

    return FpdfInvoiceRenderer()


@cache
def _report_stores() -> tuple[DynamoVehicleRepository, DynamoTenantProfileRepository]:
    billing()  # configures the table first
    return DynamoVehicleRepository(), DynamoTenantProfileRepository()


def billing_reports(sites: SessionSites) -> BillingReports:
    """Cost reports and invoice documents over billing's repository (adapters built once)."""
    vehicles, profiles = _report_stores()
    return BillingReports(
        repository=billing().repository,
        sites=sites,
        vehicles=vehicles,
        profiles=profiles,
        renderer=invoice_renderer,
    )


@cache
def usage_reports() -> UsageReports:
    """Usage reports (csms.handlers.api_reports): sessions, their CDRs, the keys' ports."""
    runtime = api()  # configures the table first
    return UsageReports(
        sessions=DynamoSessionRepository(OutboxEncoder(new_uuid)),
        cdrs=billing().repository,
        stations=runtime.station_repository,
        connectors=runtime.statuses,
        sites=DynamoSiteDirectory(),
        clock=SystemClock(),
        alerts=DynamoAlertRepository(OutboxEncoder(new_uuid)),
    )


@cache
def alerts() -> AlertService:
    """Fault detection and the alerts the API reads (csms.handlers.*_alerts, api_alerts)."""
    settings = load_settings(AlertSettings)
    configure_table(settings.table_name, settings.aws_region, settings.aws_endpoint_url)
    outbox = OutboxEncoder(new_uuid)
    return AlertService(
        alerts=DynamoAlertRepository(outbox),
        stations=DynamoStationRepository(outbox),
        statuses=DynamoConnectorStatusRepository(outbox),
        clock=SystemClock(),
        policy=AlertPolicy(
            hold_down=timedelta(seconds=settings.alert_hold_down_s),
            offline_grace=timedelta(seconds=settings.alert_offline_grace_s),
            reboot_loop_boots=settings.alert_reboot_loop_boots,
            reboot_loop_window=timedelta(seconds=settings.alert_reboot_loop_window_s),
            stuck_after=timedelta(seconds=settings.alert_stuck_after_s),
            start_failures=settings.alert_start_failures,
            start_failure_window=timedelta(seconds=settings.alert_start_failure_window_s),
            no_energy_after=timedelta(seconds=settings.alert_no_energy_after_s),
        ),
        sessions=DynamoSessionRepository(outbox),
    )


@cache
def uptime() -> UptimeService:
    """Uptime per port and the outage exclusions (csms.handlers.api_uptime)."""
    runtime = api()  # configures the table first
    return UptimeService(
        history=DynamoUptimeHistory(),
        exclusions=DynamoExclusionRepository(),
        stations=runtime.station_repository,
        sites=DynamoSiteDirectory(),
        clock=SystemClock(),
        new_id=new_uuid,
        grace=timedelta(seconds=load_settings(ApiSettings).uptime_reconnect_grace_s),
    )


@cache
def maintenance() -> MaintenanceService:
    """Tickets, service history and plans (csms.handlers.api_maintenance, sched_maintenance)."""
    settings = load_settings(BaseCsmsSettings)
    configure_table(settings.table_name, settings.aws_region, settings.aws_endpoint_url)
    outbox = OutboxEncoder(new_uuid)
    return MaintenanceService(
        tickets=DynamoTicketRepository(),
        plans=DynamoPlanRepository(),
        stations=DynamoStationRepository(outbox),
        users=DynamoUserRepository(),
        sessions=DynamoSessionRepository(outbox),
        clock=SystemClock(),
        new_id=new_uuid,
        alerts=DynamoAlertRepository(outbox),
    )


@cache
def webhooks() -> WebhookService:
    """Partner webhooks' fan-out and delivery (csms.handlers.evt_webhooks, sqs_webhooks)."""
    settings = load_settings(WebhookSettings)
    return build_webhooks(
        settings,
        queue_url=settings.webhook_queue_url,
        allow_private=settings.webhooks_allow_private,
        timeout_s=settings.webhook_timeout_s,
        retention=timedelta(days=settings.webhook_retention_days),
    )


@cache
def webhook_queue() -> SqsDeliveryQueue:
    """The delivery queue, for the delivery function to set a message's next attempt."""
    settings = load_settings(WebhookSettings)
    return SqsDeliveryQueue(settings.webhook_queue_url, lambda: _client("sqs", settings))


@cache
def api_webhooks() -> WebhookService:
    """Partner webhooks as the API manages them (csms.handlers.api_webhooks)."""
    settings = load_settings(ApiSettings)
    return build_webhooks(
        settings,
        queue_url=settings.webhook_queue_url,
        allow_private=settings.webhooks_allow_private,
    )


def build_webhooks(
    settings: BaseCsmsSettings,
    *,
    queue_url: str | None,
    allow_private: bool,
    timeout_s: float = 10.0,
    retention: timedelta = timedelta(days=30),
) -> WebhookService:
    """Wire the webhook service: the table, Secrets Manager, SQS, HTTP and DNS."""
    import secrets

    from csms.adapters.dynamo_webhooks import DynamoWebhookRepository
    from csms.adapters.webhook_aws import SecretsManagerWebhookSecrets
    from csms.adapters.webhook_http import SocketHostResolver, UrllibWebhookSender

    configure_table(settings.table_name, settings.aws_region, settings.aws_endpoint_url)
    queue: DeliveryQueue = (
        SqsDeliveryQueue(queue_url, lambda: _client("sqs", settings))
        if queue_url is not None
        else NoDeliveryQueue()
    )
    return WebhookService(
        repository=DynamoWebhookRepository(retention),
        secrets=SecretsManagerWebhookSecrets(lambda: _client("secretsmanager", settings)),
        queue=queue,
        resolver=SocketHostResolver(),
        sender=UrllibWebhookSender(timeout_s),
        clock=SystemClock(),
        new_id=new_uuid,
        random_bytes=secrets.token_bytes,
        allow_private=allow_private,
        retention=retention,
        max_attempts=attempts_to_cover(),
    )


_escalation_override: WorkflowStarter | None = None


def run_escalation_workflow_with(starter: WorkflowStarter | None) -> None:
    """Run escalation executions with `starter` instead of Step Functions (the local runtime)."""
    global _escalation_override  # noqa: PLW0603 - one process-wide override, set at start-up
    _escalation_override = starter
    escalation.cache_clear()


@cache
def escalation() -> EscalationService:
    """Fault escalation: its starter and its steps (csms.handlers.sfn_escalation)."""
    from csms.adapters.mail import NoMailer, OutboxMailer, SesMailer

    settings = load_settings(EscalationSettings)
    runtime = build(settings)
    starter: WorkflowStarter
    if _escalation_override is not None:
        starter = _escalation_override
    elif settings.escalation_state_machine_arn is not None:
        starter = StepFunctionsStarter(
            settings.escalation_state_machine_arn, lambda: _client("stepfunctions", settings)
        )
    else:
        raise SettingsError(
            "invalid settings: CSMS_ESCALATION_STATE_MACHINE_ARN: required outside csms local"
        )
    mailer: Mailer
    if settings.notify_outbox_dir is not None:
        mailer = OutboxMailer(Path(settings.notify_outbox_dir))
    elif settings.notify_from is not None:
        sender = settings.notify_from
        mailer = SesMailer(sender, lambda: _client("sesv2", settings))
    else:
        mailer = NoMailer()
    return EscalationService(
        alerts=DynamoAlertRepository(OutboxEncoder(new_uuid)),
        statuses=runtime.statuses,
        resets=CommandResets(runtime.commands, timedelta(seconds=settings.escalation_reset_ttl_s)),
        tickets=maintenance(),
        mailer=mailer,
        profiles=DynamoTenantProfileRepository(),
        starter=starter,
        clock=SystemClock(),
        policy=EscalationPolicy(wait=timedelta(seconds=settings.escalation_wait_s)),
    )


def reset() -> None:
    """Forget the built runtimes (after the environment changed)."""
    escalation.cache_clear()
    webhooks.cache_clear()
    webhook_queue.cache_clear()
    api_webhooks.cache_clear()
    maintenance.cache_clear()
    usage_reports.cache_clear()
    uptime.cache_clear()
    alerts.cache_clear()
    _report_stores.cache_clear()
    billing_month.cache_clear()
    billing_accounts.cache_clear()
    billing.cache_clear()
    _step_functions_starter.cache_clear()
    preauth.cache_clear()
    payment_provider.cache_clear()
    payment_webhooks.cache_clear()
    payment_settings.cache_clear()
    gateway.cache_clear()
    api.cache_clear()
    relay.cache_clear()
    cleanup.cache_clear()
    rebalancer.cache_clear()
