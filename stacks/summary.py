"""Print what a synthesised cloud assembly would deploy: `python -m stacks.summary cdk.out`."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path


def summarise(assembly: Path) -> str:
    manifest = json.loads((assembly / "manifest.json").read_text())
    lines = []
    for artifact in manifest["artifacts"].values():
        if artifact["type"] != "aws:cloudformation:stack":
            continue
        props = artifact["properties"]
        template = json.loads((assembly / props["templateFile"]).read_text())
        resources = template.get("Resources", {})
        lines.append(f"{props.get('stackName', artifact['displayName'])}  ({len(resources)} resources)")
        for resource_type, count in sorted(Counter(r["Type"] for r in resources.values()).items()):
            lines.append(f"    {count:3d}  {resource_type}")
        for resource in resources.values():
            p = resource.get("Properties", {})
            if resource["Type"] == "AWS::CloudWatch::Alarm":
                metric = f"{p['Namespace']} {p['MetricName']} {p['Statistic']}"
                op = ">=" if p["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" else ">"
                lines.append(f"          alarm: {metric} {op} {p['Threshold']}")
            elif resource["Type"] == "AWS::Athena::NamedQuery":
                lines.append(f"          saved query: {p['Name']}")
            elif resource["Type"] == "AWS::Kinesis::Stream":
                lines.append(f"          shards: {p['ShardCount']}, retention {p['RetentionPeriodHours']} h")
            elif resource["Type"] == "AWS::KinesisFirehose::DeliveryStream":
                hints = p["ExtendedS3DestinationConfiguration"]["BufferingHints"]
                lines.append(f"          firehose buffer: {hints['IntervalInSeconds']} s / {hints['SizeInMBs']} MiB")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    assembly = Path(argv[1] if len(argv) > 1 else "cdk.out")
    if not (assembly / "manifest.json").exists():
        print(f"no cloud assembly in {assembly}: run `npx cdk synth` first", file=sys.stderr)
        return 1
    print(summarise(assembly))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
