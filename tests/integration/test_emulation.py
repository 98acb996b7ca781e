"""The in-process AWS emulation itself: template-built resources, bounded moto memory."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

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


def test_emulation_transactions_are_all_or_nothing_with_or_without_a_backup(
    template: dict[str, Any],
) -> None:
    # GIVEN the emulated table with one item
    with emulation.mocked_aws():
        table = emulation.create_resources(template).table_name
        client = boto3.client("dynamodb", region_name=emulation.REGION)
        client.put_item(TableName=table, Item={"PK": {"S": "P"}, "SK": {"S": "held"}})

        def put(sk: str, *, absent: bool = True) -> Any:
            op: dict[str, Any] = {"TableName": table, "Item": {"PK": {"S": "P"}, "SK": {"S": sk}}}
            if absent:
                op["ConditionExpression"] = "attribute_not_exists(PK)"
            return {"Put": op}

        # WHEN a transaction's later condition fails (its first write would apply otherwise)
        with pytest.raises(ClientError) as refused:
            client.transact_write_items(TransactItems=[put("new-1"), put("held")])
        # THEN nothing of it is written, and the reasons say which condition failed
        reasons = refused.value.response["CancellationReasons"]
        assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed"]
        assert "Item" not in client.get_item(
            TableName=table, Key={"PK": {"S": "P"}, "SK": {"S": "new-1"}}
        )
        # AND a transaction naming one item twice is refused whole
        with pytest.raises(ClientError):
            client.transact_write_items(TransactItems=[put("new-2"), put("new-2", absent=False)])
        assert "Item" not in client.get_item(
            TableName=table, Key={"PK": {"S": "P"}, "SK": {"S": "new-2"}}
        )
        # AND one whose conditions hold writes every item
        client.transact_write_items(TransactItems=[put("new-3"), put("new-4")])
        count = client.query(
            TableName=table,
            KeyConditionExpression="PK = :p",
            ExpressionAttributeValues={":p": {"S": "P"}},
        )["Count"]
        assert count == 3


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
