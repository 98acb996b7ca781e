"""`python infra/app.py` synthesizes offline, as `cdk synth` runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_app_entry_writes_template_without_aws_credentials(
    tmp_path: Path, offline_environ: dict[str, str]
) -> None:
    # GIVEN no AWS credentials and the context the CLI would pass to skip bundling
    outdir = tmp_path / "cdk.out"
    env = dict(offline_environ)
    env["CDK_OUTDIR"] = str(outdir)
    env["CDK_CONTEXT_JSON"] = json.dumps({"aws:cdk:bundling-stacks": []})
    # WHEN running the app entry point as the CDK CLI does (cdk.json "app")
    completed = subprocess.run(
        [sys.executable, "infra/app.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    # THEN it succeeds, cdk-nag included, and writes the template
    assert completed.returncode == 0, completed.stderr[-4000:]
    template = json.loads((outdir / "CsmsStack.template.json").read_text(encoding="utf-8"))
    assert "AWS::Lambda::Function" in {r["Type"] for r in template["Resources"].values()}
