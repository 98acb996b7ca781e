"""CDK app entry point (cdk.json: `python infra/app.py`)."""

import os

from csms_infra.assembly import build_app
from csms_infra.paths import ROOT

if __name__ == "__main__":
    # The CDK CLI names the output directory; run directly, write where `cdk` would.
    outdir = None if os.environ.get("CDK_OUTDIR") else str(ROOT / "cdk.out")
    app, _ = build_app(outdir=outdir)
    app.synth()
