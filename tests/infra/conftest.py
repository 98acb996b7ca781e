"""One offline synthesis of CsmsStack, shared by every infra test."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, cx_api
from aws_cdk.assertions import Template
from csms_infra.assembly import build_app
from csms_infra.stack import CsmsStack

ROOT = Path(__file__).resolve().parents[2]
AWS_CREDENTIAL_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


def no_aws_environ(environ: dict[str, str]) -> dict[str, str]:
    """A copy of ``environ`` in which no AWS credentials can be found (synth must not need any)."""
    env = {key: value for key, value in environ.items() if key not in AWS_CREDENTIAL_VARS}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


@dataclass(frozen=True)
class Synthesized:
    app: App
    stack: CsmsStack
    artifact: cx_api.CloudFormationStackArtifact
    template: dict[str, Any]
    assertions: Template

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template["Resources"].items()
            if resource["Type"] == resource_type
        }


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    # Session scope: synthesizing costs seconds, so every infra module shares this one.
    with pytest.MonkeyPatch.context() as patch:
        for var in AWS_CREDENTIAL_VARS:
            patch.delenv(var, raising=False)
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        # The nag gate runs in its own test (test_nag.py), so findings fail one test, not all.
        app, stack = build_app(
            outdir=str(tmp_path_factory.mktemp("cdk.out")), skip_bundling=True, nag=False
        )
        assembly = app.synth()
    artifact = assembly.get_stack_artifact(stack.artifact_id)
    template = json.loads(Path(artifact.template_full_path).read_text(encoding="utf-8"))
    return Synthesized(app, stack, artifact, template, Template.from_json(template))
