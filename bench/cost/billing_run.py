"""`python -m cost.billing_run`: the billing workflow's AWS cost per session, measured on moto.

One OCPP 2.0.1 station charges sessions of the public-L2 profile (3 h, meter values every
60 s) through the real handlers (`cost.replay`, not priced here: the station model prices the
messages). Its outbox relay hands over the TransactionStarted and TransactionEnded events it
publishes, and each goes where the stack's rules send it, through the real handlers with the
same meters as the station model (`cost.replay.Replayer`: DynamoDB units from the real item
images, Lambda wall time rounded up to 1 ms at the template's memory, logs, one relay
invocation per item write carrying events):

- TransactionStarted -> `evt_preauth` (every start; a hold only for an ad-hoc driver with a
  saved card, with Stripe);
- TransactionEnded -> the starter (`sfn_billing.start_handler`, which starts an execution of
  the state machine created in moto) -> the Bill task (`sfn_billing.bill_handler`, given the
  execution's input as Step Functions gives it) -> the relay publishes billing's events;
- the monthly close (`sfn_billing.close_month_handler`) for the residents' statements.

Sessions alternate between ad-hoc drivers (a receipt each, paid at once) and residents (a
line on their monthly statement); each driver charges three times (the station model's 15
drivers x 3 sessions). Step Functions' transitions, logs and X-Ray are `cost.billing`'s.

Payments: the built-in "invoice only" provider (the default with no Stripe key), and with
`--provider stripe` the real `stripe` client against the fake Stripe on 127.0.0.1 (the
drivers have saved a card: a hold at the start, captured at the end; the statements are
charged). Stripe's own latency is not on 127.0.0.1: the report gives the Stripe calls per
session and what each 100 ms of Stripe latency adds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import botocore.session

from bench_aws import AwsRecorder, install
from bench_cost import TableSpec
from bench_env import (
    AWS_ENV,
    REGION,
    TABLE_NAME,
    FakeContext,
    connections_endpoint,
    create_resources,
    endpoint_of,
    handler_environment,
    lambda_environment,
    load_template,
    moto_server,
)
from cost.billing import (
    WORKFLOW_PRICES_AS_OF,
    WorkflowPrices,
    WorkflowUsage,
    billed_transitions,
    billing_bill,
    line_total,
    per_unit,
    state_machine_definition,
    success_path,
)
from cost.pricing import MILLION, Prices, Usage
from cost.profile import Profile, Step, month, session_start
from cost.replay import HANDLERS, Handler, Replayer, StationRun, stdout_counted

RESULTS_PATH = Path(__file__).resolve().parents[1] / "cost_billing_results.json"
TENANT = "default"
SITE = "SITE-BILL"
PASSWORD = "cost-station-password"  # noqa: S105 - a simulated station's, not a secret
STATION = "COST-BILL-201"
VERSION = "2.0.1"
RESIDENTS_GROUP = "residents"
# Session k is charged by TOKENS[k % 4]: two ad-hoc drivers and two residents, in turns.
TOKENS = ("ADHOC-01", "RESIDENT-01", "ADHOC-02", "RESIDENT-02")
BILLING_HANDLERS = {
    "preauth": "csms.handlers.evt_preauth.lambda_handler",
    "billing_start": "csms.handlers.sfn_billing.start_handler",
    "billing_bill": "csms.handlers.sfn_billing.bill_handler",
    "billing_close": "csms.handlers.sfn_billing.close_month_handler",
}
STATE_MACHINE = "BillingStateMachine"
CARD = "pm_card_visa"
STRIPE_LATENCY_STEP_MS = 100  # the report's unit of Stripe latency
WARM_SESSIONS = 2  # the first of each kind (TOKENS alternates them)
DEFAULT_DAYS = 8  # 12 sessions: each of the 4 drivers charges three times
_STARTED = time.monotonic()


def log(message: str) -> None:
    """Progress on stderr (stdout carries the report)."""
    print(f"billing [{time.monotonic() - _STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def is_resident(token: str) -> bool:
    """Whether a token of this run belongs to the residents (billed monthly)."""
    return token.startswith("RESIDENT")


def billing_memory(template: Mapping[str, Any]) -> dict[str, int]:
    """Configured memory (MB) of the station's and billing's functions present in the template.

    A billing function absent from the template is left out (and its step skipped).
    """
    by_handler = {
        r["Properties"].get("Handler"): int(r["Properties"].get("MemorySize", 128))
        for r in template.get("Resources", {}).values()
        if r.get("Type") == "AWS::Lambda::Function"
    }
    wanted = {**HANDLERS, **BILLING_HANDLERS}
    return {name: by_handler[h] for name, h in wanted.items() if h in by_handler}


@dataclass
class Captured:
    """The events the station's relay published that billing's rules match."""

    started: list[dict[str, Any]] = field(default_factory=list)
    ended: list[dict[str, Any]] = field(default_factory=list)


def capturing_relay(relay: Handler, captured: Captured) -> Handler:
    """The relay handler, also keeping the TransactionStarted/Ended events it publishes."""
    from csms.adapters.outbox import entries_of

    def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
        for record in event.get("Records") or []:
            for entry in entries_of(record, "bench"):
                kind = entry["DetailType"]
                if kind in ("TransactionStarted", "TransactionEnded"):
                    delivered = {
                        "id": f"bench-{len(captured.started) + len(captured.ended)}",
                        "source": entry["Source"],
                        "detail-type": kind,
                        "detail": json.loads(entry["Detail"]),
                    }
                    target = captured.started if kind == "TransactionStarted" else captured.ended
                    target.append(delivered)
        return relay(event, context)

    return run


class StationReplayer(Replayer):
    """The station of this run: its sessions charged by TOKENS in turns."""

    def _token(self, step: Step) -> str:
        return TOKENS[step.session % len(TOKENS)]


class BillingReplayer(Replayer):
    """Invokes billing's handlers with the station model's meters."""

    def __init__(self, *args: Any, stripe_calls: Callable[[], int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stripe_calls = stripe_calls
        self.stripe: Counter[str] = Counter()

    def has(self, function: str) -> bool:
        """Whether the function is there to invoke."""
        return function in self._handlers

    def task(self, function: str, event: dict[str, Any], what: str) -> dict[str, Any]:
        """Invoke `function` as `what` (its usage, and its relay invocations', under `what`)."""
        before = self._stripe_calls()
        reply = self._invoke(function, event, what)
        self.stripe[what] += self._stripe_calls() - before
        return reply


@dataclass
class KindResult:
    """What the sessions (or statements) of one kind used."""

    count: int = 0
    usage: Usage = field(default_factory=Usage)
    workflow: WorkflowUsage = field(default_factory=WorkflowUsage)
    events: Counter[str] = field(default_factory=Counter)
    stripe_calls: int = 0
    invocations: Counter[str] = field(default_factory=Counter)


def merge(into: Usage, part: Usage) -> None:
    """Add `part`'s meters to `into`."""
    into.dynamodb_wru += part.dynamodb_wru
    into.dynamodb_rru += part.dynamodb_rru
    into.eventbridge_entries += part.eventbridge_entries
    into.eventbridge_units += part.eventbridge_units
    for name, f in part.functions.items():
        mine = into.function(name, f.memory_mb)
        mine.invocations += f.invocations
        mine.billed_ms += f.billed_ms
        mine.billed_ms_cpu_scaled += f.billed_ms_cpu_scaled
        mine.log_bytes += f.log_bytes


@contextmanager
def payment_world(provider: str) -> Iterator[Any]:
    """The payment provider's environment; the fake Stripe when asked for (else None)."""
    if provider == "invoice-only":
        os.environ.pop("CSMS_STRIPE_API_KEY", None)
        yield None
        return
    import stripe
    from tests.stripe_fake import API_KEY, FakeStripe

    stripe.HTTPClient.INITIAL_DELAY = 0.01
    with FakeStripe.running() as fake:
        os.environ["CSMS_STRIPE_API_KEY"] = API_KEY
        os.environ["CSMS_STRIPE_API_BASE"] = fake.url
        try:
            yield fake
        finally:
            os.environ.pop("CSMS_STRIPE_API_KEY", None)
            os.environ.pop("CSMS_STRIPE_API_BASE", None)


def _setup(aws: str, template: Mapping[str, Any], fake: Any, since: datetime) -> str:
    """Seed the station, drivers, residents' group, a tariff; return the state machine's ARN."""
    import boto3

    from csms.adapters.dynamo_billing import DynamoBillingAccountStore
    from csms.adapters.dynamo_tariffs import DynamoTariffRepository
    from csms.adapters.dynamo_tenancy import DynamoGroupRepository
    from csms.domain.billing.assignment import TariffAssignment
    from csms.domain.billing.invoice import BillingAccount, BillingMode
    from csms.domain.billing.tariff import Tariff
    from csms.domain.tenancy import DriverGroup, GroupKind
    from csms.handlers import _runtime, seed
    from csms.services.billing_wiring import token_account_id
    from csms.services.tariffs import TariffVersion

    _runtime.reset()
    context: Any = FakeContext()
    document = {
        "sites": [{"id": SITE, "name": "Billing cost site", "limitKw": 22}],
        "stations": [{"id": STATION, "siteId": SITE, "password": PASSWORD}],
        "tokens": [
            {"idToken": t, **({"groupId": RESIDENTS_GROUP} if is_resident(t) else {})}
            for t in TOKENS
        ],
    }
    with stdout_counted():
        loaded = seed.lambda_handler({"tenantId": TENANT, "seed": document}, context)
        if not loaded.get("ok"):
            raise RuntimeError(f"seed failed: {loaded}")
        group = DriverGroup(id=RESIDENTS_GROUP, name="Residents", kind=GroupKind.RESIDENTS)
        if not DynamoGroupRepository().create_group(TENANT, group):
            raise RuntimeError("the residents' group exists already")
        tariff = Tariff.model_validate(
            {
                "id": "public",
                "version": 1,
                "name": "Public AC",
                "currency": "EUR",
                "taxRates": [{"name": "VAT", "percent": "19"}],
                "sessionFee": "0.50",
                "prices": {"energyPerKwh": "0.49"},
            }
        )
        tariffs = DynamoTariffRepository()
        tariffs.create_tariff(TENANT, TariffVersion(tariff, since))
        tariffs.create_assignment(TENANT, TariffAssignment(tariff_id="public", site_id=SITE))
        if fake is not None:
            # The drivers saved a card before (the account API; not a session's cost).
            for token in TOKENS:
                mode = BillingMode.MONTHLY if is_resident(token) else BillingMode.AD_HOC
                account = BillingAccount(
                    id=token_account_id(token),
                    mode=mode,
                    customer=fake.add_customer(default_payment_method=CARD),
                    payment_method=CARD,
                )
                DynamoBillingAccountStore().save_account(TENANT, account, 0)
    definition = json.dumps(state_machine_definition(template))
    machine = boto3.client("stepfunctions", region_name=REGION, endpoint_url=aws)
    created = machine.create_state_machine(
        name=STATE_MACHINE,
        definition=definition,
        roleArn="arn:aws:iam::123456789012:role/bench-billing",
        type="STANDARD",
    )
    arn: str = created["stateMachineArn"]
    return arn


def _months(profile: Profile, start: datetime) -> list[str]:
    """The months (UTC) the sessions end in: the statements the close has to close."""
    ends = {
        (start + timedelta(seconds=session_start(profile, k) + profile.session_s)).strftime("%Y-%m")
        for k in range(profile.sessions)
    }
    return sorted(ends)


def run_billing(
    template: Mapping[str, Any], days: int, provider: str, month_end: datetime
) -> dict[str, Any]:
    """Replay the sessions, bill them through the workflow's handlers; the figures by kind."""
    profile = Profile(days=days, drivers=len(TOKENS))
    memory = billing_memory(template)
    definition = state_machine_definition(template)
    start = month_end - timedelta(seconds=profile.seconds)
    results: dict[str, KindResult] = {
        "ad-hoc": KindResult(),
        "monthly": KindResult(),
        "close": KindResult(),
    }
    notes: list[str] = []
    with ExitStack() as stack:
        aws = stack.enter_context(moto_server())
        connections = stack.enter_context(connections_endpoint())
        fake = stack.enter_context(payment_world(provider))
        table = create_resources(aws, template)
        os.environ.update(
            {
                **lambda_environment(template, HANDLERS["ws_message"]),
                **handler_environment(aws, endpoint_of(connections)),
            }
        )
        arn = _setup(aws, template, fake, start - timedelta(days=1))
        os.environ["CSMS_BILLING_STATE_MACHINE_ARN"] = arn
        from csms.handlers import (
            _runtime,
            evt_preauth,
            sfn_billing,
            stream_outbox,
            ws_connect,
            ws_disconnect,
            ws_message,
        )

        probe = botocore.session.get_session().create_client(
            "dynamodb", region_name=REGION, endpoint_url=aws
        )
        recorder = AwsRecorder(TABLE_NAME, TableSpec.from_definition(table), probe)
        stack.callback(install(recorder))
        stack.callback(_runtime.reset)
        _runtime.reset()
        captured = Captured()
        written = stack.enter_context(stdout_counted())
        station_handlers: dict[str, Handler] = {
            "ws_connect": ws_connect.lambda_handler,
            "ws_disconnect": ws_disconnect.lambda_handler,
            "ws_message": ws_message.lambda_handler,
            "stream_outbox": capturing_relay(stream_outbox.lambda_handler, captured),
        }
        common: dict[str, Any] = {
            "version": VERSION,
            "station": STATION,
            "memory": memory,
            "recorder": recorder,
            "written": written,
            "profile": profile,
            "month_start": start,
        }
        station = StationReplayer(
            handlers=station_handlers, run=StationRun(VERSION, Usage()), **common
        )
        _replay_station(station, profile, captured)
        log(f"station: {profile.sessions} sessions replayed; billing them")

        billing_handlers: dict[str, Handler] = {
            "stream_outbox": stream_outbox.lambda_handler,
            "billing_start": sfn_billing.start_handler,
            "billing_bill": sfn_billing.bill_handler,
            "billing_close": sfn_billing.close_month_handler,
        }
        if "preauth" in memory:
            billing_handlers["preauth"] = evt_preauth.lambda_handler
        else:
            # The hook for the pre-authorisation: priced once its function is in the stack.
            notes.append("no pre-authorisation function in the template: not priced")
        run = StationRun(VERSION, Usage())
        biller = BillingReplayer(
            handlers=billing_handlers,
            run=run,
            stripe_calls=(lambda: len(fake.requests)) if fake is not None else (lambda: 0),
            **common,
        )
        _bill_sessions(biller, captured, _Workflow(aws, arn, definition), results)
        closed = 0
        for period in _months(profile, start):
            summary = biller.task("billing_close", {"month": period}, "close")
            closed += int(summary["closed"])
        results["close"].count = closed
        results["close"].workflow.traces += len(_months(profile, start))
        _runtime.reset()

    _tally(run, biller, results)
    return {
        "provider": provider,
        "sessions": profile.sessions,
        "notes": notes,
        "events": dict(run.events),
        "by_kind": {kind: kind_figures(r) for kind, r in results.items()},
        "transitions": {
            "path": success_path(definition),
            "states_entered": billed_transitions(definition, start_and_end=False),
            "billed": billed_transitions(definition),
        },
    }


def _replay_station(station: StationReplayer, profile: Profile, captured: Captured) -> None:
    steps = month(profile, VERSION)
    for n, step in enumerate(steps, start=1):
        station.step(step)
        if n % 2000 == 0:
            log(f"station: {n}/{len(steps)} steps")
    if len(captured.ended) != profile.sessions:
        raise RuntimeError(f"{len(captured.ended)} sessions ended, {profile.sessions} expected")


@dataclass(frozen=True)
class _Workflow:
    aws: str
    arn: str
    definition: dict[str, Any]


def _bill_sessions(
    biller: BillingReplayer,
    captured: Captured,
    workflow: _Workflow,
    results: Mapping[str, KindResult],
) -> None:
    """Each ended session through preauth (at its start), the starter and the Bill task."""
    with_preauth = biller.has("preauth")
    # Warm the containers on the first ad-hoc and monthly sessions (imports, schema
    # compilation: once per container, as in the station model), then measure the rest.
    for n, (started, ended) in enumerate(zip(captured.started, captured.ended, strict=True)):
        first = n < WARM_SESSIONS
        token = ended["detail"]["data"].get("id_token") or ""
        kind = "monthly" if is_resident(token) else "ad-hoc"
        label = "warm" if first else kind
        if with_preauth:
            biller.task("preauth", started, f"{label}: preauth")
        reply = biller.task("billing_start", ended, f"{label}: start")
        if not reply.get("started"):
            raise RuntimeError(f"the billing workflow was not started: {reply}")
        execution = json.loads(_execution_input(workflow.aws, workflow.arn, reply["execution"]))
        billed = biller.task("billing_bill", execution, f"{label}: bill")
        if billed.get("cdrId") is None:
            raise RuntimeError(f"billing wrote no CDR: {billed}")
        if not first:
            result = results[kind]
            result.count += 1
            result.workflow.add_execution(
                workflow.definition, json.dumps(execution), json.dumps(billed), retries=0
            )
            # Trigger roots: the start's delivery (its execution and Bill task join its
            # trace) and the preauth's.
            result.workflow.traces += 1 + int(with_preauth)


def _tally(run: StationRun, biller: BillingReplayer, results: Mapping[str, KindResult]) -> None:
    """Each labelled usage into its kind's result."""
    for what, usage in run.by_message.items():
        kind = what.split(":")[0]
        if kind in results:
            merge(results[kind].usage, usage)
            results[kind].stripe_calls += biller.stripe[what]
            for name, f in usage.functions.items():
                results[kind].invocations[name] += f.invocations
    # The relay invocations of each kind are trigger roots too (a stream delivery each).
    for result in results.values():
        relay = result.usage.functions.get("stream_outbox")
        result.workflow.traces += relay.invocations if relay else 0


def _execution_input(aws: str, arn: str, name: str) -> str:
    """The input of the execution the starter started (read from moto's Step Functions)."""
    import boto3

    client = boto3.client("stepfunctions", region_name=REGION, endpoint_url=aws)
    execution_arn = arn.replace(":stateMachine:", ":execution:") + f":{name}"
    described = client.describe_execution(executionArn=execution_arn)
    text: str = described["input"]
    return text


def kind_figures(result: KindResult) -> dict[str, Any]:
    """One kind's figures per session (per statement for the close), as plain data."""
    if result.count == 0:
        return {"count": 0}
    lines = per_unit(billing_bill(result.usage, result.workflow), result.count)
    gb_s_per_ms = sum(f.memory_mb / 1024 / 1000 * f.invocations for f in result.usage.handlers())
    relay = result.usage.functions.get("stream_outbox")
    return {
        "count": result.count,
        "total_usd": line_total(lines),
        "lines": [
            {"name": x.name, "quantity": x.quantity, "unit": x.unit, "usd": x.usd} for x in lines
        ],
        "invocations": {k: v / result.count for k, v in result.invocations.items()},
        "mean_billed_ms": {
            name: f.billed_ms / f.invocations
            for name, f in result.usage.functions.items()
            if f.invocations
        },
        "relay_invocations": (relay.invocations if relay else 0) / result.count,
        "dynamodb_wru": result.usage.dynamodb_wru / result.count,
        "dynamodb_rru": result.usage.dynamodb_rru / result.count,
        "stripe_calls": result.stripe_calls / result.count,
        # What each STRIPE_LATENCY_STEP_MS of Stripe latency per call adds (GB-s of waiting).
        "usd_per_stripe_latency_step": (
            result.stripe_calls
            / result.count
            * STRIPE_LATENCY_STEP_MS
            * (gb_s_per_ms / max(1, sum(f.invocations for f in result.usage.handlers())))
            * Prices().lambda_gb_second_arm64
        ),
        "transitions": result.workflow.transitions / result.count,
        "executions": result.workflow.executions / result.count,
        "state_machine_log_bytes": result.workflow.log_bytes / result.count,
        "traces": result.workflow.traces / result.count,
    }


def _usd(value: float) -> str:
    return f"{value:.7f}"


def render_markdown(results: Mapping[str, Any]) -> str:
    """The per-session bill of each provider and kind, and the monthly close per statement."""
    meta = results["meta"]
    out = [
        "# Billing workflow cost per session",
        "",
        f"{meta['replayed']}; AWS list prices {meta['region']} as of {meta['prices_as_of']}; "
        f"run {meta['date']} in {meta['duration_s']:.0f} s (Python {meta['python']}).",
        "",
    ]
    for run in results["runs"]:
        kinds = [k for k in ("ad-hoc", "monthly", "close") if run["by_kind"][k].get("count")]
        heads = {"ad-hoc": "ad-hoc session", "monthly": "monthly session", "close": "statement"}
        out += [
            f"## Provider: {run['provider']}",
            "",
            "| Line | " + " | ".join(f"per {heads[k]} | USD" for k in kinds) + " |",
            "|---|" + "---:|---:|" * len(kinds),
        ]
        names = [line["name"] for line in run["by_kind"][kinds[0]]["lines"]]
        for i, name in enumerate(names):
            cells = []
            for k in kinds:
                line = run["by_kind"][k]["lines"][i]
                cells.append(f"{line['quantity']:.4g} {line['unit']} | {_usd(line['usd'])}")
            out.append(f"| {name} | {' | '.join(cells)} |")
        totals = " | ".join(f" | **{_usd(run['by_kind'][k]['total_usd'])}**" for k in kinds)
        out.append(f"| **Total** | {totals} |")
        out.append("")
        for k in kinds:
            f = run["by_kind"][k]
            invocations = ", ".join(f"{n} {v:g}" for n, v in sorted(f["invocations"].items()))
            mean_ms = ", ".join(f"{n} {v:.1f}" for n, v in f["mean_billed_ms"].items())
            out.append(
                f"- {heads[k]} (n={f['count']}): invocations {invocations}; "
                f"mean billed ms {mean_ms}; "
                f"Stripe calls {f['stripe_calls']:g} "
                f"(+{_usd(f['usd_per_stripe_latency_step'])} USD per {STRIPE_LATENCY_STEP_MS} ms "
                "of Stripe latency each)"
            )
        events = ", ".join(f"{k} {v}" for k, v in sorted(run["events"].items()))
        t = run["transitions"]
        out += [
            "",
            f"Events published by billing (all {run['sessions']} sessions, warm-up included): "
            f"{events or 'none'}. State machine success path {' -> '.join(t['path'])}: "
            f"{t['states_entered']} states entered, {t['billed']} transitions priced "
            "(START and END counted).",
            *(f"Note: {n}" for n in run["notes"]),
            "",
        ]
    out.append("Assumptions: " + " ".join(meta["assumptions"]))
    return "\n".join(out) + "\n"


ASSUMPTIONS = (
    "every TransactionStarted invokes the pre-authorisation function and every "
    "TransactionEnded the starter (EventBridge rule deliveries to Lambda are not billed; the "
    "events themselves are in the station model);",
    "StartExecution is not billed; the execution's transitions are (conservative: START and "
    "END counted), no retries;",
    "the state machine logs at level ALL with execution data: its history events as records "
    "sized with the real input and output, priced as vended logs;",
    "X-Ray: one trace per trigger root (preauth delivery, start delivery with its execution, "
    "each relay invocation, the close), i.e. every request sampled (the worst case);",
    "Lambda and DynamoDB metered as in the station model (wall time on this machine to moto on "
    "127.0.0.1, rounded up to 1 ms; units from the real items); the first ad-hoc and the "
    "first monthly session warm the containers and are not counted;",
    "the close: one invocation per month, its usage divided by the statements it closed (the "
    "replayed days end now, so it closes the current month's statements);",
    "Stripe's own latency is not included (the fake answers on 127.0.0.1).",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The period and the providers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="days of sessions (8: 12)")
    parser.add_argument(
        "--providers",
        nargs="+",
        default=["invoice-only", "stripe"],
        choices=["invoice-only", "stripe"],
    )
    parser.add_argument("--output", type=Path, default=RESULTS_PATH, help="where to write JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Replay, bill, price, report."""
    args = parse_args(argv)
    if not 4 <= args.days <= 30:
        sys.exit("billing: --days must be within 4..30 (at least 6 sessions)")
    template = load_template()
    os.environ.update(AWS_ENV)
    month_end = datetime.now(UTC).replace(second=0, microsecond=0)
    runs = []
    for provider in args.providers:
        log(f"provider {provider}: {args.days} days of sessions")
        runs.append(run_billing(template, args.days, provider, month_end))
    results: dict[str, Any] = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "duration_s": round(time.monotonic() - _STARTED, 1),
            "python": platform.python_version(),
            "region": REGION,
            "prices_as_of": WORKFLOW_PRICES_AS_OF,
            "prices": {**Prices().as_dict(), **WorkflowPrices().as_dict()},
            "replayed": f"{Profile(days=args.days).sessions} sessions of an OCPP {VERSION} "
            "station (3 h, meter values every 60 s) billed through the workflow's handlers",
            "assumptions": list(ASSUMPTIONS),
            "per_million_sessions": MILLION,
        },
        "runs": runs,
    }
    args.output.write_text(json.dumps(results, indent=2, default=_decimal) + "\n")
    print(render_markdown(results))
    log(f"done; wrote {args.output}")
    return 0


def _decimal(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


if __name__ == "__main__":
    sys.exit(main())
