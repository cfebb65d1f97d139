"""Local mode writes the lake only where the deployed roles may: every object the local Firehose deliverer puts is
evaluated as an s3:PutObject of the synthesised Firehose role (streamlake.wiring).

Firehose's keys are checked here rather than at every local write: they are built from streamlake.lake's prefixes,
which the deployed role's policy is built from too, so a test over everything the deliverer writes (processed/ per
family, raw/, errors/) decides the same thing without a CDK synthesis at each local start.
"""

from __future__ import annotations

import json

from streamlake.wiring import Call, Caller, DesignParts, Templates, WiringChecker
from tests.local.test_firehose import BUCKET, GOOD, INVALID, aws, deliverer, put_all  # noqa: F401 (aws: fixture)


def test_every_object_the_local_firehose_writes_is_allowed_to_the_deployed_firehose_role(aws, tmp_path, synth):  # noqa: F811
    # GIVEN valid records of every family and records the transformation rejects
    kinesis, s3 = aws
    put_all(kinesis, [json.dumps(r).encode() for r in GOOD] + INVALID)
    # WHEN the local deliverer writes them
    firehose = deliverer(aws, tmp_path)
    firehose.poll()
    firehose.flush()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert {k.split("/")[0] for k in keys} == {"raw", "processed", "errors"}
    # THEN the deployed Firehose role may put each of them
    templates = Templates({name: t.to_json() for name, t in synth.templates.items()})
    checker, parts = WiringChecker(templates), DesignParts(templates)
    role = Caller(role_arn=parts.resource("role:firehose"))
    refused = [
        key
        for key in keys
        if not checker.evaluate(Call(role, "s3:PutObject", parts.resource(f"object:lake/{key}"))).allowed
    ]
    assert refused == []
    # and a key outside its prefixes would not be
    assert not checker.evaluate(Call(role, "s3:PutObject", parts.resource("object:lake/quarantine/x"))).allowed
