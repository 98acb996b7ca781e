"""The third-party dependencies layer, built locally from the lock file (no Docker)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from csms_infra.paths import LAYER_BUILD_SCRIPT, LAYERS_DIR, LOCK_FILE

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64


@jsii.implements(ILocalBundling)
class _LockFileBundler:
    """Runs layers/build.py into the asset output directory; see layers/README.md."""

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: Any) -> bool:
        subprocess.run(  # noqa: S603 - fixed argument list, no shell
            [sys.executable, str(LAYER_BUILD_SCRIPT), "--out", output_dir], check=True
        )
        return True


def _layer_hash() -> str:
    """Content of the layer = the lock file + the build recipe; nothing else may change it."""
    digest = hashlib.sha256()
    for source in (LOCK_FILE, LAYER_BUILD_SCRIPT):
        digest.update(source.read_bytes())
    return digest.hexdigest()


def dependencies_layer(scope: Construct, construct_id: str) -> lambda_.LayerVersion:
    """Create the layer; when bundling is skipped (tests, make synth) nothing is built."""
    code = lambda_.Code.from_asset(
        str(LAYERS_DIR),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=_layer_hash(),
        bundling=BundlingOptions(
            # Required by the API but never pulled: the local bundler always succeeds or raises.
            image=RUNTIME.bundling_image,
            local=_LockFileBundler(),
        ),
    )
    return lambda_.LayerVersion(
        scope,
        construct_id,
        code=code,
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        description="Third-party runtime dependencies of the csms package (from uv.lock)",
    )
