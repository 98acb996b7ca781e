"""One offline synthesis of CsmsStack, shared by every infra test (fixtures only)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from aws_cdk import App, cx_api
from aws_cdk.assertions import Template

from csms_infra.assembly import build_app

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


class _Synthesis(NamedTuple):
    app: App
    artifact: cx_api.CloudFormationStackArtifact
    template: dict[str, Any]


@pytest.fixture(scope="session")
def _synthesis(tmp_path_factory: pytest.TempPathFactory) -> _Synthesis:
    # Session scope: synthesizing costs seconds, so every infra module shares this one.
    with pytest.MonkeyPatch.context() as patch:
        for var in AWS_CREDENTIAL_VARS:
            patch.delenv(var, raising=False)
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        # The nag gate runs in its own test (test_nag.py), so a finding fails one test, not all.
        app, stack = build_app(
            outdir=str(tmp_path_factory.mktemp("cdk.out")), skip_bundling=True, nag=False
        )
        assembly = app.synth()
    artifact = assembly.get_stack_artifact(stack.artifact_id)
    template = json.loads(Path(artifact.template_full_path).read_text(encoding="utf-8"))
    return _Synthesis(app, artifact, template)


@pytest.fixture
def app(_synthesis: _Synthesis) -> App:
    """The synthesized app (construct tree with acknowledgments), bundling skipped."""
    return _synthesis.app


@pytest.fixture
def artifact(_synthesis: _Synthesis) -> cx_api.CloudFormationStackArtifact:
    """The CsmsStack artifact of the cloud assembly."""
    return _synthesis.artifact


@pytest.fixture
def template(_synthesis: _Synthesis) -> dict[str, Any]:
    """The CsmsStack template as JSON."""
    return _synthesis.template


@pytest.fixture
def assertions(_synthesis: _Synthesis) -> Template:
    """The CsmsStack template for aws_cdk.assertions."""
    return Template.from_json(_synthesis.template)


@pytest.fixture
def offline_environ() -> dict[str, str]:
    """This process's environment without any AWS credentials (synth must not need any)."""
    env = {key: value for key, value in os.environ.items() if key not in AWS_CREDENTIAL_VARS}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env
