"""Key properties of the synthesized CsmsStack template."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aws_cdk.assertions import Match
from conftest import ROOT, Synthesized
from csms_infra.stack import API, WEBSOCKET_HEADERS, WS_CONNECT, WS_DISCONNECT, WS_MESSAGE

HANDLERS = {WS_CONNECT, WS_MESSAGE, WS_DISCONNECT, API}


def get_att_targets(value: Any) -> Iterator[str]:
    """Logical ids that a template value references through Fn::GetAtt or Ref."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Fn::GetAtt":
                yield inner[0]
            elif key == "Ref":
                yield inner
            else:
                yield from get_att_targets(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from get_att_targets(inner)


def function_ids_by_handler(synthesized: Synthesized) -> dict[str, str]:
    return {
        resource["Properties"]["Handler"]: logical_id
        for logical_id, resource in synthesized.resources("AWS::Lambda::Function").items()
    }


def test_table_keys_indexes_ttl_and_recovery(synthesized: Synthesized) -> None:
    # GIVEN the synthesized template
    # WHEN looking at the single table
    # THEN it has the PK/SK keys, two GSIs, TTL, PITR, on-demand billing and is retained
    gsi = [
        {
            "IndexName": name,
            "KeySchema": [
                {"AttributeName": f"{name}PK", "KeyType": "HASH"},
                {"AttributeName": f"{name}SK", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
        for name in ("GSI1", "GSI2")
    ]
    synthesized.assertions.resource_count_is("AWS::DynamoDB::Table", 1)
    synthesized.assertions.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": Match.object_like(
                {
                    "KeySchema": [
                        {"AttributeName": "PK", "KeyType": "HASH"},
                        {"AttributeName": "SK", "KeyType": "RANGE"},
                    ],
                    "AttributeDefinitions": Match.array_with(
                        [
                            {"AttributeName": name, "AttributeType": "S"}
                            for name in ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK")
                        ]
                    ),
                    "GlobalSecondaryIndexes": gsi,
                    "BillingMode": "PAY_PER_REQUEST",
                    "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                }
            ),
        },
    )


def test_event_bus_exists_with_its_name(synthesized: Synthesized) -> None:
    # GIVEN the synthesized template
    # WHEN looking for event buses
    # THEN there is exactly the custom CSMS bus
    synthesized.assertions.resource_count_is("AWS::Events::EventBus", 1)
    synthesized.assertions.has_resource_properties("AWS::Events::EventBus", {"Name": "csms-events"})


def test_functions_run_python312_arm64_traced_with_their_handlers(
    synthesized: Synthesized,
) -> None:
    # GIVEN the synthesized template
    functions = synthesized.resources("AWS::Lambda::Function")
    # WHEN reading every function
    by_handler = {res["Properties"]["Handler"]: res["Properties"] for res in functions.values()}
    # THEN there are the four runtime handlers, each on python3.12/arm64 with active tracing,
    # JSON logs in an explicit log group and the dependencies layer
    assert set(by_handler) == HANDLERS
    for handler, props in by_handler.items():
        assert props["Runtime"] == "python3.12", handler
        assert props["Architectures"] == ["arm64"], handler
        assert props["TracingConfig"] == {"Mode": "Active"}, handler
        assert props["LoggingConfig"]["LogFormat"] == "JSON", handler
        assert "LogGroup" in props["LoggingConfig"], handler
        assert len(props["Layers"]) == 1, handler
        assert props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "csms", handler
        assert "AWS_REGION" not in props["Environment"]["Variables"], handler
    assert by_handler[WS_CONNECT]["MemorySize"] == 512
    assert by_handler[API]["Timeout"] == 29


def test_functions_share_one_code_asset_of_the_functions_folder(
    synthesized: Synthesized,
) -> None:
    # GIVEN the synthesized template and its assets
    functions = synthesized.resources("AWS::Lambda::Function").values()
    # WHEN comparing the code of the functions
    keys = {json_key(fn["Properties"]["Code"]) for fn in functions}
    # THEN all four point at the same asset, which holds the csms package without bytecode
    assert len(keys) == 1
    staged = [p for p in synthesized.artifact.assets if p.get("path", "").startswith("asset.")]
    assert len(staged) == 1
    asset_dir = synthesized.artifact.assembly.directory + "/" + staged[0]["path"]
    from pathlib import Path

    files = [p.relative_to(asset_dir).as_posix() for p in Path(asset_dir).rglob("*")]
    assert "csms/settings.py" in files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    assert (ROOT / "functions" / "csms" / "settings.py").exists()


def json_key(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)
