"""Local mode: the deployed streamlake design running on one machine with no AWS account.

AWS APIs come from moto's server; what moto does not do (run Lambda from a Kinesis event source, Firehose delivery,
alarm evaluation, e-mail) is done here by small runners that follow the AWS behaviour they stand in for. The same
config (cdk.json), handlers (lambdas/), alarm definitions (streamlake/alarms.py) and lake layout
(streamlake/lake.py) drive both.
"""
