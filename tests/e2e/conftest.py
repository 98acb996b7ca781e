"""Starts `csms local` as a real process on free 127.0.0.1 ports and talks to it over sockets."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from csms_local import tokens

REPO = Path(__file__).resolve().parents[2]

SEED = {
    "sites": [{"id": "site-1", "name": "E2E site", "limitKw": 100}],
    "stations": [
        {"id": "E2E-16", "siteId": "site-1", "password": "e2e-password-16", "protocol": "ocpp1.6"},
        {
            "id": "E2E-201",
            "siteId": "site-1",
            "password": "e2e-password-201",
            "protocol": "ocpp2.0.1",
        },
        {"id": "E2E-ANY", "siteId": "site-1", "password": "e2e-password-any"},
    ],
    "tokens": [{"idToken": "TAG-1", "status": "Accepted"}],
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LocalCsms:
    """A running `csms local` and how to reach it."""

    process: subprocess.Popen[str]
    ws_port: int
    http_port: int
    key_file: Path
    data_dir: Path
    seed_file: Path
    output: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/ocpp"

    def token(self, tenant: str = "default", role: str = "admin") -> str:
        return tokens.mint(tokens.signing_key(self.key_file), tenant_id=tenant, role=role)

    def api(
        self, method: str, path: str, body: Any = None, *, token: str | None = None
    ) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Authorization": f"Bearer {token or self.token()}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                return self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                return self.process.wait()
        return self.process.returncode


def start_local(
    tmp: Path, *extra: str, seed: bool = True, seed_document: dict[str, Any] | None = None
) -> LocalCsms:
    seed_file = tmp / "seed.json"
    seed_file.write_text(json.dumps(seed_document or SEED))
    ws_port, http_port = free_port(), free_port()
    key_file, data_dir, output = tmp / "key", tmp / "data", tmp / f"local-{ws_port}.log"
    args = [
        sys.executable,
        "-m",
        "csms_local.cli",
        "local",
        "--ws-port",
        str(ws_port),
        "--http-port",
        str(http_port),
        "--key-file",
        str(key_file),
        "--data-dir",
        str(data_dir),
        *(("--seed", str(seed_file)) if seed else ("--no-seed",)),
        *extra,
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in ("functions", "local")),
    }
    handle = output.open("w")
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        args, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT, text=True
    )
    local = LocalCsms(process, ws_port, http_port, key_file, data_dir, seed_file, output)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"csms local exited early:\n{output.read_text()}")
        if "is running" in output.read_text():
            return local
        time.sleep(0.2)
    local.stop()
    raise AssertionError(f"csms local did not start:\n{output.read_text()}")


@pytest.fixture(scope="module")
def local_csms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCsms]:
    local = start_local(tmp_path_factory.mktemp("local"))
    yield local
    local.stop()
