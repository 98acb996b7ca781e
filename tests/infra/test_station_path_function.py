"""The CloudFront Function that moves the station id from the path into the query string."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "infra" / "csms_infra" / "edge" / "station_path.js"
# CloudFront Functions have no module system: evaluate the file and call its `handler`.
RUNNER = """
const fs = require('fs');
const handler = new Function(fs.readFileSync(process.argv[1], 'utf8') + '\\nreturn handler;')();
const event = JSON.parse(fs.readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(handler(event)));
"""


def run_viewer_request(uri: str, querystring: dict[str, Any] | None = None) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is required to test infra/csms_infra/edge/station_path.js; install it")
    event = {
        "version": "1.0",
        "context": {"eventType": "viewer-request"},
        "viewer": {"ip": "192.0.2.1"},
        "request": {
            "method": "GET",
            "uri": uri,
            "querystring": querystring or {},
            "headers": {"host": {"value": "d111111abcdef8.cloudfront.net"}},
            "cookies": {},
        },
    }
    completed = subprocess.run(  # noqa: S603 - node and our own script, no shell
        [node, "-e", RUNNER, str(SOURCE)],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def test_station_path_moves_station_id_to_query_string() -> None:
    # GIVEN a charger connecting to /ocpp/CP-1
    # WHEN the viewer request passes the function
    request = run_viewer_request("/ocpp/CP-1")
    # THEN the request goes to the stage root with station=CP-1 and keeps its headers
    assert request["uri"] == "/"
    assert request["querystring"] == {"station": {"value": "CP-1"}}
    assert request["headers"]["host"]["value"] == "d111111abcdef8.cloudfront.net"


def test_station_path_keeps_station_id_url_encoded() -> None:
    # GIVEN a station id with a space, percent-encoded in the path
    # WHEN the viewer request passes the function
    request = run_viewer_request("/ocpp/a%20b")
    # THEN the query string carries it URL-encoded
    assert request["uri"] == "/"
    assert request["querystring"] == {"station": {"value": "a%20b"}}


def test_station_path_replaces_a_client_supplied_station_parameter() -> None:
    # GIVEN a charger that also sends ?station=OTHER
    # WHEN the viewer request passes the function
    request = run_viewer_request("/ocpp/CP-1", {"station": {"value": "OTHER"}})
    # THEN only the id from the path survives
    assert request["querystring"] == {"station": {"value": "CP-1"}}


@pytest.mark.parametrize("uri", ["/ocpp/", "/other", "/", "/ocpp", "/ocpp/CP-1/extra"])
def test_station_path_answers_404_for_other_paths(uri: str) -> None:
    # GIVEN a path that names no station
    # WHEN the viewer request passes the function
    response = run_viewer_request(uri)
    # THEN CloudFront answers 404 itself and the origin is never called
    assert response == {"statusCode": 404, "statusDescription": "Not Found"}


def test_station_path_answers_400_for_malformed_encoding() -> None:
    # GIVEN a station id with a broken percent-escape
    # WHEN the viewer request passes the function
    response = run_viewer_request("/ocpp/%zz")
    # THEN CloudFront answers 400
    assert response == {"statusCode": 400, "statusDescription": "Bad Request"}
