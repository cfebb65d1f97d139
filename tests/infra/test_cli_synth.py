"""The real CDK CLI synthesises the app offline, with no AWS credentials."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_npx_cdk_synth_works_offline_without_credentials(tmp_path):
    assert shutil.which("npx"), "npx (Node.js) is required; `make install` sets it up"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        CDK_DISABLE_VERSION_CHECK="1",
    )
    result = subprocess.run(
        ["npx", "--no-install", "cdk", "synth", "--quiet", "--output", str(tmp_path / "out"), "-c", "shard_count=2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    stacks = {a["displayName"] for a in manifest["artifacts"].values() if a["type"] == "aws:cloudformation:stack"}
    assert stacks == {"DataLake", "Alerting", "Ingestion", "Monitoring"}
    ingestion = json.loads((tmp_path / "out" / "Ingestion.template.json").read_text())
    shards = [
        r["Properties"]["ShardCount"] for r in ingestion["Resources"].values() if r["Type"] == "AWS::Kinesis::Stream"
    ]
    assert shards == [2], "-c overrides cdk.json"
