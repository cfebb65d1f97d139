"""Local DynamoDB TTL (local.moto_server.sweep_expired_items): moto keeps expired items; local mode deletes them."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from local.moto_server import sweep_expired_items

NOW = 1_800_000_000.0


@pytest.fixture
def dynamodb(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="plain",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.create_table(
            TableName="ranged",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        client.create_table(
            TableName="no-ttl",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.update_time_to_live(TableName="plain", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
        client.update_time_to_live(
            TableName="ranged", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
        )
        yield client


def _ids(client, table: str) -> set[str]:
    items = client.scan(TableName=table)["Items"]
    return {"/".join(v["S"] for k, v in sorted(i.items()) if k in ("id", "pk", "sk")) for i in items}


def test_items_whose_ttl_has_passed_are_deleted_others_kept(dynamodb):
    # GIVEN items expired, not yet expired, without the attribute, and with a non-numeric one
    put = dynamodb.put_item
    put(TableName="plain", Item={"id": {"S": "old"}, "exp": {"N": str(int(NOW) - 1)}})
    put(TableName="plain", Item={"id": {"S": "new"}, "exp": {"N": str(int(NOW) + 60)}})
    put(TableName="plain", Item={"id": {"S": "none"}})
    put(TableName="plain", Item={"id": {"S": "text"}, "exp": {"S": "0"}})
    put(TableName="ranged", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "exp": {"N": str(int(NOW) - 10)}})
    put(TableName="ranged", Item={"pk": {"S": "a"}, "sk": {"S": "2"}, "exp": {"N": str(int(NOW) + 10)}})
    put(TableName="ranged", Item={"pk": {"S": "b"}, "sk": {"S": "1"}, "exp": {"N": str(int(NOW) - 10)}})
    put(TableName="no-ttl", Item={"id": {"S": "old"}, "exp": {"N": "1"}})
    # WHEN the sweep runs at NOW
    assert sweep_expired_items(NOW) == 3
    # THEN only the expired items of tables with TTL enabled are gone
    assert _ids(dynamodb, "plain") == {"new", "none", "text"}
    assert _ids(dynamodb, "ranged") == {"a/2"}
    assert _ids(dynamodb, "no-ttl") == {"old"}


def test_a_table_s_cutoff_can_be_moved(dynamodb):
    dynamodb.put_item(TableName="plain", Item={"id": {"S": "soon"}, "exp": {"N": str(int(NOW) + 100)}})
    dynamodb.put_item(TableName="plain", Item={"id": {"S": "later"}, "exp": {"N": str(int(NOW) + 300)}})
    assert sweep_expired_items(NOW, lambda table, now: now + 200 if table == "plain" else now) == 1
    assert _ids(dynamodb, "plain") == {"later"}
