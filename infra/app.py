"""CDK app entry point (cdk.json: `python infra/app.py`)."""

from csms_infra.assembly import build_app

if __name__ == "__main__":
    app, _ = build_app()
    app.synth()
