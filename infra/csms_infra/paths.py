"""Repository locations the infrastructure reads, independent of the working directory."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = ROOT / "functions"
LAYERS_DIR = ROOT / "layers"
LAYER_BUILD_SCRIPT = LAYERS_DIR / "build.py"
LOCK_FILE = ROOT / "uv.lock"
CDK_JSON = ROOT / "cdk.json"
EDGE_DIR = Path(__file__).resolve().parent / "edge"
