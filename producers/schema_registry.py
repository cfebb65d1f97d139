"""The user's schema registry for the standalone bridge: Avro keys and values of change topics decoded with the
writer's schema, fetched by the id in the Confluent wire format (confluent-kafka's SchemaRegistryClient and
AvroDeserializer, which caches schemas by id, so the registry is asked once per schema).

The deployed bridge does not need this: its event source mapping deserializes through the registry itself
(stacks/kafka_bridge.py). Without a registry URL, the bridge reads the schemas bundled in lambdas/bridge/schemas.

Credentials come from SCHEMA_REGISTRY_USERNAME / SCHEMA_REGISTRY_PASSWORD (Confluent Cloud: the registry's API key
and secret), never from flags. `mock://<name>` URLs use confluent-kafka's in-process mock registry (tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambdas.bridge.debezium import DecoderUnavailableError, ValueDecoder
from lambdas.bridge.wire import HEADER_SIZE as _HEADER_SIZE
from lambdas.bridge.wire import MAGIC_BYTE
from lambdas.schemas import InvalidEventError
from lambdas.schemas import decode as decode_json

# HTTP statuses meaning "this schema id does not exist here": the message is at fault, not the registry.
_NOT_FOUND = (404, 40403, 40401)


class RegistryUnavailableError(DecoderUnavailableError):
    """The registry could not be asked (network, authentication, 5xx): retry the batch, quarantine nothing."""


def registry_client(url: str, environ: Mapping[str, str]) -> Any:
    """A SchemaRegistryClient for `url`, with basic auth from the environment when both variables are set."""
    from confluent_kafka.schema_registry import SchemaRegistryClient

    config: dict[str, Any] = {"url": url}
    username, password = environ.get("SCHEMA_REGISTRY_USERNAME"), environ.get("SCHEMA_REGISTRY_PASSWORD")
    if bool(username) != bool(password):
        raise ValueError("SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD go together: set both or neither")
    if username:
        config["basic.auth.user.info"] = f"{username}:{password}"
    # new() returns the in-process mock for mock:// URLs, the HTTP client otherwise.
    return SchemaRegistryClient.new_client(config)


def registry_decoder(client: Any) -> ValueDecoder:
    """A ValueDecoder: plain JSON as is, wire-format Avro through the registry (any schema id it knows)."""
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.schema_registry.error import SchemaRegistryError
    from confluent_kafka.serialization import MessageField, SerializationContext

    deserializer = AvroDeserializer(client)

    def decode(topic: str, data: bytes, is_key: bool) -> dict[str, Any]:
        if not data or data[0] != MAGIC_BYTE:
            return decode_json(data)
        context = SerializationContext(topic, MessageField.KEY if is_key else MessageField.VALUE)
        what = "key" if is_key else "value"
        if len(data) < _HEADER_SIZE:
            raise InvalidEventError(f"Avro {what}: wire format header truncated ({len(data)} bytes)")
        schema_id = int.from_bytes(data[1:_HEADER_SIZE], "big")
        # Ask the registry first (the client caches by id): a failure here is the registry's unless it says the id
        # does not exist; once the schema is known, any failure to decode is the message's.
        try:
            client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code in _NOT_FOUND or exc.error_code in _NOT_FOUND:
                raise InvalidEventError(f"Avro {what}: schema id {schema_id} is not in the schema registry") from None
            raise RegistryUnavailableError(f"schema registry: {exc}") from exc
        except Exception as exc:  # the HTTP client's connection and timeout errors
            raise RegistryUnavailableError(f"schema registry unreachable: {type(exc).__name__}: {exc}") from exc
        try:
            value = deserializer(data, context)
        except SchemaRegistryError as exc:
            raise RegistryUnavailableError(f"schema registry: {exc}") from exc
        except Exception as exc:  # fastavro reports truncated or malformed data as EOFError, IndexError, ValueError...
            raise InvalidEventError(
                f"Avro {what} does not decode with schema {schema_id}: {type(exc).__name__}: {exc}"[:300]
            ) from None
        if not isinstance(value, dict):
            raise InvalidEventError(f"Avro {what}: the registered schema does not describe a record")
        return value

    return decode
