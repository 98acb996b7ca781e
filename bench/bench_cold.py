"""Cold start in fresh interpreters: import time per handler module, import + first message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from typing import Any

from bench_env import REPO_ROOT

HANDLER_MODULES = (
    "csms.handlers.ws_connect",
    "csms.handlers.ws_message",
    "csms.handlers.ws_disconnect",
    "csms.handlers.api",
)

# Make every module outside the standard library compile from source: `cache_from_source`
# raising NotImplementedError is how a loader learns that there is no bytecode cache.
_NO_PYC_PRELUDE = """
import _frozen_importlib_external as _ext
_stdlib = {stdlib!r}
_original = _ext.cache_from_source
def _no_pyc(path, *args, **kwargs):
    if path.startswith(_stdlib) and "-packages" not in path:
        return _original(path, *args, **kwargs)
    raise NotImplementedError
_ext.cache_from_source = _no_pyc
"""

_IMPORT_SCRIPT = """
{prelude}
import time
t = time.perf_counter()
import {module}
print("BENCH", time.perf_counter() - t)
"""

_FIRST_MESSAGE_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import {module} as handler
t1 = time.perf_counter()

class Context:
    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"
    memory_limit_in_mb = 256
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

event = json.loads(sys.argv[1])
c1 = time.process_time()
t2 = time.perf_counter()
reply = handler.lambda_handler(event, Context())
t3 = time.perf_counter()
c2 = time.process_time()
print("BENCH", json.dumps({{
    "import_s": t1 - t0, "call_wall_s": t3 - t2, "call_cpu_s": c2 - c1, "total_s": t3 - t0,
    "reply": reply,
}}))
"""


def compile_bytecode() -> None:
    """Compile `functions/` and site-packages (PYTHONDONTWRITEBYTECODE does not stop this)."""
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", "functions", *sorted(paths)],
        cwd=REPO_ROOT,
        capture_output=True,
        check=False,  # a stray file that does not compile does not matter here
    )


def _run(script: str, env: Mapping[str, str], *args: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH "):
            return line.removeprefix("BENCH ")
    msg = f"cold-start run failed ({completed.returncode}): {completed.stderr.strip()[-2000:]}"
    raise RuntimeError(msg)


def base_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The parent environment plus `extra`, with `functions/` on the path."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = str(REPO_ROOT / "functions")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def import_seconds(module: str, env: Mapping[str, str], runs: int, *, source_only: bool) -> float:
    """Minimum over `runs` fresh interpreters of the time to import `module`."""
    prelude = _NO_PYC_PRELUDE.format(stdlib=sysconfig.get_paths()["stdlib"]) if source_only else ""
    script = _IMPORT_SCRIPT.format(prelude=prelude, module=module)
    return min(float(_run(script, env)) for _ in range(runs))


def first_message(
    module: str, event: Mapping[str, Any], env: Mapping[str, str], runs: int
) -> dict[str, Any]:
    """Import, build the runtime and handle one event in a fresh interpreter: the best run."""
    script = _FIRST_MESSAGE_SCRIPT.format(module=module)
    best: dict[str, Any] | None = None
    for _ in range(runs):
        result: dict[str, Any] = json.loads(_run(script, env, json.dumps(event)))
        if best is None or result["total_s"] < best["total_s"]:
            best = result
    assert best is not None  # noqa: S101 - runs >= 1
    return best
