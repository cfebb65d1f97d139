"""CDK constructs and stacks of streamlake. `stacks.pipeline.build_pipeline` composes them into an app."""
