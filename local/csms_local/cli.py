"""The `csms` command: `csms local`, `simulate`, `token`, `export`, `bench` and `price`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from csms_local import export, tokens
from csms_local.errors import LocalError, TemplateError
from csms_local.seed_file import read_seed

DEFAULT_SEED = Path(__file__).with_name("demo_seed.json")
ROLES = ("owner", "admin", "operator", "technician", "viewer")


class CliError(Exception):
    """A user mistake, printed as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a wrong argument is one line (no usage dump), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not between 1 and 65535")
    return port


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{number} must be greater than 0")
    return number


def build_parser() -> argparse.ArgumentParser:
    """All subcommands and their options."""
    from csms_local import simulator

    parser = _Parser(prog="csms", description="Open serverless CSMS: local runtime and tools.")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    local = commands.add_parser("local", help="run the whole system on 127.0.0.1")
    local.add_argument("--seed", type=Path, default=DEFAULT_SEED, help="seed JSON file")
    local.add_argument("--no-seed", action="store_true", help="start without loading a seed")
    local.add_argument("--data-dir", type=Path, help="keep state in this folder across restarts")
    local.add_argument("--ws-port", type=_port, default=9000)
    local.add_argument("--http-port", type=_port, default=8000)
    local.add_argument("--key-file", type=Path, default=tokens.DEFAULT_KEY_FILE)
    local.add_argument("--tenant", default="default", help="tenant the seed belongs to")
    local.add_argument(
        "--heartbeat-interval", type=_positive_int, default=300, help="seconds (10-590)"
    )
    local.add_argument(
        "--jobs-every",
        type=_positive_int,
        metavar="SECONDS",
        help="run the scheduled jobs (alert sweep, rebalance, cleanup) this often instead of "
        "their deployed rate: for demos and tests",
    )

    simulate = commands.add_parser("simulate", help="run simulated charging stations")
    simulator.add_simulate_arguments(simulate)

    token = commands.add_parser("token", help="print a bearer token for the local HTTP API")
    token.add_argument("--role", choices=ROLES, default="admin")
    token.add_argument("--tenant", default="default")
    token.add_argument("--subject", default="local-operator")
    token.add_argument(
        "--sites",
        nargs="+",
        metavar="SITE",
        help="restrict the user to these sites (default: every site of the tenant)",
    )
    token.add_argument("--ttl", type=_positive_int, default=12 * 3600, help="seconds")
    token.add_argument("--key-file", type=Path, default=tokens.DEFAULT_KEY_FILE)

    dump = commands.add_parser(
        "export", help="write a tenant's data through the HTTP API, one file per kind"
    )
    dump.add_argument("--url", default="http://127.0.0.1:8000", help="the HTTP API's base URL")
    dump.add_argument(
        "--token",
        default=os.environ.get("CSMS_TOKEN"),
        help="bearer token of a user allowed to export (default: $CSMS_TOKEN)",
    )
    dump.add_argument("--out", type=Path, required=True, help="folder to write the files to")
    dump.add_argument("--format", choices=export.FORMATS, default="jsonl")
    dump.add_argument(
        "--kinds", nargs="+", choices=export.KINDS, default=list(export.KINDS), metavar="KIND"
    )
    dump.add_argument(
        "--page-size", type=_positive_int, help="records per request (the server's default)"
    )

    from csms_local import price_cli

    price = commands.add_parser(
        "price",
        help="price a session under a tariff and print the breakdown as JSON",
        description=(
            "Price SESSION.json under TARIFF.json (formats: docs/pricing.md) and print the "
            "breakdown as JSON: check a tariff before publishing it."
        ),
    )
    price_cli.add_arguments(price)

    # The benchmark's own module declares its options; the simulator and HiGHS load only
    # when it runs.
    from csms_bench import cli as bench_cli

    bench = commands.add_parser("bench", help="benchmarks that run on this machine")
    bench_cli.add_arguments(bench)
    return parser


def run_export(args: argparse.Namespace) -> int:
    """Follow the export pages of each kind and say what was written."""
    if not args.token:
        raise CliError("a bearer token is needed: --token or $CSMS_TOKEN (see csms token)")
    written = export.export(
        args.url,
        args.token,
        args.out,
        fmt=args.format,
        kinds=args.kinds,
        limit=args.page_size,
    )
    for item in written:
        print(f"{item.kind:<13} {item.records:>8} records  {item.path}")
    return 0


def run_token(args: argparse.Namespace) -> int:
    """Print a token signed with the local key."""
    key = tokens.signing_key(args.key_file)
    print(
        tokens.mint(
            key,
            tenant_id=args.tenant,
            role=args.role,
            subject=args.subject,
            sites=args.sites,
            ttl_s=args.ttl,
        )
    )
    return 0


def run_local(args: argparse.Namespace) -> int:
    """Start the embedded default and serve until Ctrl-C."""
    if not 10 <= args.heartbeat_interval <= 590:
        raise CliError("--heartbeat-interval must be between 10 and 590 seconds")
    seed_file = None if args.no_seed else args.seed
    # Wrong input is reported before anything heavy is imported or started.
    seed_document = read_seed(seed_file) if seed_file is not None else None
    from csms_local import emulation
    from csms_local.runtime import LocalOptions, LocalRuntime, serve_until_stopped

    options = LocalOptions(
        ws_port=args.ws_port,
        http_port=args.http_port,
        seed_file=seed_file,
        data_dir=args.data_dir,
        key_file=args.key_file,
        tenant_id=args.tenant,
        heartbeat_interval_s=args.heartbeat_interval,
        jobs_every_s=args.jobs_every,
    )

    def started(runtime: LocalRuntime) -> None:
        print(f"CSMS local is running (tenant {options.tenant_id!r}); Ctrl-C stops it.")
        print(f"  stations connect to  ws://{options.host}:{options.ws_port}/ocpp/{{stationId}}")
        print(f"  HTTP API             http://{options.host}:{options.http_port}/v1")
        print(f"  OpenAPI document     http://{options.host}:{options.http_port}/v1/openapi.json")
        print(f"  a bearer token:      csms token --role admin --key-file {options.key_file}")
        print(f"  e-mails (outbox)     {options.outbox_dir}")
        if runtime.restored:
            print(f"  restored {runtime.restored} items from {options.data_dir}")
        if seed_document is not None:
            print(f"  seeded from {options.seed_file}:")
            for station in seed_document.get("stations", []):
                pin = station.get("protocol") or "ocpp2.0.1 or ocpp1.6"
                print(f"    {station['id']:<20} password {station['password']:<26} {pin}")
        sys.stdout.flush()

    with emulation.mocked_aws():
        asyncio.run(serve_until_stopped(LocalRuntime(options), started))
    print("CSMS local stopped.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "token":
            return run_token(args)
        if args.command == "local":
            return run_local(args)
        if args.command == "export":
            return run_export(args)
        if args.command == "price":
            from csms_local import price_cli

            return price_cli.run(args)
        if args.command == "bench":
            from csms_bench import cli as bench_cli

            return bench_cli.run(args)
        from csms_local import simulator

        return simulator.run_simulate(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if isinstance(
            exc, CliError | LocalError | TemplateError | tokens.TokenError | export.ExportError
        ):
            print(f"csms: error: {exc}", file=sys.stderr)
            return 2
        print(f"csms: error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
