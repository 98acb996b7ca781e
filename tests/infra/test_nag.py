"""The cdk-nag gate: AwsSolutions findings are fixed or acknowledged with a reason."""

from __future__ import annotations

from aws_cdk import App, cx_api
from cdk_nag import AwsSolutionsChecks


def test_stack_has_no_unacknowledged_nag_findings(app: App) -> None:
    # GIVEN the synthesized app with its acknowledgments (infra/csms_infra/nag.py)
    # WHEN the AwsSolutions pack checks the construct tree
    report = AwsSolutionsChecks().validate_scope(app)
    # THEN no error or warning is left
    findings = [
        f"{violation.severity} {violation.rule_name}: {violation.description} at "
        + ", ".join(str(r.construct_path) for r in violation.violating_resources)
        for violation in report.violations
    ]
    assert findings == []
    assert report.success


def test_stack_synth_reports_no_warnings_or_errors(
    artifact: cx_api.CloudFormationStackArtifact,
) -> None:
    # GIVEN the synthesized stack artifact
    # WHEN collecting its annotations
    messages = [
        f"{message.level} {message.id}: {message.entry.data}"
        for message in artifact.messages
        if str(message.level).lower().endswith(("warning", "error"))
    ]
    # THEN CDK raised none (deprecations, invalid settings ...)
    assert messages == []
