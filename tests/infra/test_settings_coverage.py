"""Every Lambda function's environment covers the settings model its handler validates."""

from __future__ import annotations

from typing import Any

import pytest

from csms.settings import HANDLER_SETTINGS


def test_function_environment_covers_its_handler_settings(template: dict[str, Any]) -> None:
    # GIVEN every function of the template and the settings model of its handler
    functions = [
        resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
    ]
    assert functions
    for function in functions:
        props = function["Properties"]
        handler = props["Handler"]
        if handler not in HANDLER_SETTINGS:
            pytest.fail(f"{handler} has no settings model in csms.settings.HANDLER_SETTINGS")
        fields = HANDLER_SETTINGS[handler].model_fields
        # WHEN comparing the CSMS_* environment with the model's fields
        variables = {name for name in props["Environment"]["Variables"] if name.startswith("CSMS_")}
        # Fields read through a validation_alias (aws_region <- AWS_REGION) are set by Lambda.
        by_env = {f"CSMS_{name.upper()}": field for name, field in fields.items()}
        required = {
            env
            for env, field in by_env.items()
            if field.is_required() and field.validation_alias is None
        }
        # THEN every required field is set and every variable set names a field (no typos)
        assert sorted(required - variables) == [], f"{handler}: missing"
        assert sorted(variables - set(by_env)) == [], f"{handler}: unknown"
