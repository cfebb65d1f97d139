"""Kafka bridge: Kafka messages (MSK, Confluent Cloud, a local broker) into the Kinesis stream.

The decoding, mapping and write logic is shared by the Lambda (`handler`) and the standalone bridge
(`producers.kafka_bridge`): `wire` and `avro` turn a message value into a JSON object, `mapping` turns a Kafka
message into a contract `Event` (or a reason to quarantine it), `core` runs one batch through Kinesis and the
quarantine, and `adapters` hold the only AWS calls.
"""
