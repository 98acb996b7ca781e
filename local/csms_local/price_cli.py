"""`csms price TARIFF.json SESSION.json`: a session priced under a tariff, as JSON.

Operators check a tariff here before publishing it: the breakdown printed is what the billing
workflow would charge (the same pricing engine). Formats and rules: docs/pricing.md.

Imported by the `csms` command when it builds its parser, so the pricing engine loads only
when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `price` subcommand's arguments."""
    parser.add_argument(
        "tariff", type=Path, metavar="TARIFF.json", help="the tariff (`-`: standard input)"
    )
    parser.add_argument(
        "session", type=Path, metavar="SESSION.json", help="the session (`-`: standard input)"
    )
    parser.add_argument(
        "--compact", action="store_true", help="one line of JSON instead of indented"
    )


def run(args: argparse.Namespace) -> int:
    """Print the breakdown; bad input is a readable message on stderr, status 2, no stdout."""
    from csms_bench.price_files import PriceFileError, price_files

    if str(args.tariff) == "-" and str(args.session) == "-":
        sys.stderr.write("csms: error: only one of TARIFF.json and SESSION.json can be `-`\n")
        return 2
    try:
        document = price_files(args.tariff, args.session)
    except PriceFileError as exc:
        sys.stderr.write(f"csms: error: {exc}\n")
        return 2
    sys.stdout.write(json.dumps(document, indent=None if args.compact else 2, ensure_ascii=False))
    sys.stdout.write("\n")
    return 0
