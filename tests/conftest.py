"""Settings every test needs: no AWS account, no credentials lookup, no CDK/Node chatter."""

import os

for name, value in {
    "CDK_DISABLE_VERSION_CHECK": "1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
}.items():
    os.environ.setdefault(name, value)
