"""Build the third-party dependencies layer from the lock file, without Docker.

Usage: ``python layers/build.py [--out DIR]`` (default ``layers/build``). The result is
``DIR/python/...``: Lambda adds ``/opt/python`` to ``sys.path``. CDK runs this script as the local
bundler of the layer asset on ``cdk deploy`` / ``cdk synth``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "layers" / "build"
# Every function runs python3.12 on arm64 (Graviton). That runtime is Amazon Linux 2023 with
# glibc 2.34, so manylinux wheels up to 2_34 fit. manylinux2014 (glibc 2.17) would exclude wheels
# the lock pins, such as argon2-cffi-bindings 26 (manylinux_2_26 and later only).
PYTHON_VERSION = "3.12"
PYTHON_PLATFORM = "aarch64-manylinux_2_34"
# Runtime dependencies only (no dev group, no extras, not the csms project itself).
EXPORT_ARGS = ("export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes")
# Wheels only: a package without a wheel for the target fails instead of compiling for this host.
INSTALL_ARGS = (
    *("pip", "install", "--only-binary", ":all:"),
    *("--python-platform", PYTHON_PLATFORM, "--python-version", PYTHON_VERSION),
)


def _uv() -> list[str]:
    """Prefer a uv on PATH; fall back to the uv module of this interpreter (a dev dependency)."""
    exe = shutil.which("uv")
    return [exe] if exe else [sys.executable, "-m", "uv"]


def build(out: Path) -> Path:
    """Install the locked runtime dependencies into ``out/python`` and return that directory."""
    site = out / "python"
    shutil.rmtree(site, ignore_errors=True)
    uv = _uv()
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        subprocess.run(  # noqa: S603 - fixed argument list, no shell
            [*uv, *EXPORT_ARGS, "--output-file", str(requirements)],
            cwd=ROOT,
            check=True,
        )
        subprocess.run(  # noqa: S603 - fixed argument list, no shell
            [*uv, *INSTALL_ARGS, "--target", str(site), "-r", str(requirements)],
            cwd=ROOT,
            check=True,
        )
    # Console scripts and bytecode compiled for this machine are of no use in the layer.
    shutil.rmtree(site / "bin", ignore_errors=True)
    for cache in list(site.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    return site


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and build the layer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    build(args.out.resolve())


if __name__ == "__main__":
    main()
