"""The in-process AWS emulation itself: template-built resources, bounded moto memory."""

from __future__ import annotations

from typing import Any

import boto3

from csms_local import emulation


def test_emulation_transactions_do_not_keep_table_copies(template: dict[str, Any]) -> None:
    # GIVEN the emulated table
    from moto.dynamodb.models.table import Table

    with emulation.mocked_aws():
        resources = emulation.create_resources(template)
        client = boto3.client("dynamodb", region_name=emulation.REGION)
        # WHEN many transactions run (moto backs up the table before each)
        for n in range(50):
            client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": resources.table_name,
                            "Item": {"PK": {"S": "P"}, "SK": {"S": f"S{n}"}},
                        }
                    }
                ]
            )
        # THEN no copy of the table is kept alive by moto's instance record
        assert len(Table.instances_tracked) <= 1  # type: ignore[attr-defined]


def test_emulation_table_has_the_templates_stream(template: dict[str, Any]) -> None:
    # GIVEN the table built from the synthesized template
    with emulation.mocked_aws():
        resources = emulation.create_resources(template)
        table = boto3.client("dynamodb", region_name=emulation.REGION).describe_table(
            TableName=resources.table_name
        )["Table"]
    # THEN it streams old and new images for the outbox relay, like the deployed one
    assert table["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
