"""Producers that feed streamlake: realistic event generators, a Kinesis producer and a Kafka producer.

- `producers.generators`: seeded sensor / student / log / mixed event generators built on `lambdas.schemas`, plus
  deliberately malformed records for quarantine and alarm demos.
- `producers.kinesis_writer`: the PutRecords engine (batching, partial retries, shard-rate pacing, failure file).
- `producers.test_producer`: the Kinesis producer CLI (`python producers/test_producer.py`) and `produce()`.
- `producers.kafka_producer`: the same generators into the Kafka topics, and `produce_kafka()`.
- `producers.reporting`: progress line, summary and Ctrl-C handling shared by both producers.
- `producers.shard_emulator`: Kinesis clients that throttle like real shards, for tests and benchmarks.

See docs/producers.md.
"""
