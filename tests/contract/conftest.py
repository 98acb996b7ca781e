"""Contract fixtures: the single table on moto, built from the synthesized CDK template."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from csms.adapters.dynamo_models import configure_table
from csms_local import emulation

TABLE_NAME = "csms-contract"


@pytest.fixture(scope="session")
def cdk_template() -> dict[str, Any]:
    """The synthesized template, read (or synthesized offline) once per session."""
    return emulation.load_template()


@pytest.fixture
def dynamo_table(cdk_template: dict[str, Any]) -> Iterator[str]:
    """A fresh moto table shaped as `cdk deploy` creates it, every model pointed at it."""
    with emulation.mocked_aws():
        client = boto3.client("dynamodb", region_name=emulation.REGION)
        client.create_table(**emulation.table_definition(cdk_template, TABLE_NAME))
        configure_table(TABLE_NAME, emulation.REGION)
        yield TABLE_NAME
