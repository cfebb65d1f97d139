#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth|deploy|destroy [-c key=value ...]`. Settings: streamlake/config.py, README."""

import sys

from stacks.pipeline import create_app
from streamlake.config import ConfigError


def main() -> int:
    try:
        app, _ = create_app()
    except ConfigError as error:
        print(f"streamlake: invalid configuration: {error}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
