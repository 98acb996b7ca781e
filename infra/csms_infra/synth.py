"""Synthesize the template offline for the local runtime and tests: ``python -m csms_infra.synth``.

Bundling is skipped (the layer is not built) and no AWS account is consulted: the stack is
environment-agnostic and does no lookups. Prints the path of the written template.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from csms_infra.assembly import build_app
from csms_infra.paths import ROOT


def synth_template(outdir: str) -> dict[str, Any]:
    """Synthesize into ``outdir`` (``<outdir>/CsmsStack.template.json``) and return the template."""
    app, stack = build_app(outdir=outdir, skip_bundling=True)
    assembly = app.synth()
    template_file = Path(assembly.directory) / stack.template_file
    template: dict[str, Any] = json.loads(template_file.read_text(encoding="utf-8"))
    return template


def main(argv: list[str] | None = None) -> None:
    """Write the template and print its path."""
    parser = argparse.ArgumentParser(description="Synthesize CsmsStack without bundling.")
    parser.add_argument("--outdir", type=Path, default=ROOT / "cdk.out")
    args = parser.parse_args(argv)
    outdir = args.outdir.resolve()
    synth_template(str(outdir))
    sys.stdout.write(f"{outdir / 'CsmsStack.template.json'}\n")


if __name__ == "__main__":
    main()
