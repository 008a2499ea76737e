"""The project's moto layer (scripts/motoserver.py): a cancelled transaction is rolled back in place,
and stream shard iterators expire."""

from __future__ import annotations

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator, dynamodbstreams_backends

from conftest import create_table_from_template
from local_aws import StreamPump
from motoserver import ITERATOR_LIFETIME, expiring_iterators, in_place_transactions

APPOINTMENTS, CALENDARS = "AppointmentsTable-test", "CalendarTable-test"


@pytest.fixture
def dynamodb(aws, monkeypatch):
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items",
                        in_place_transactions(DynamoDBBackend.transact_write_items))
    client = boto3.client("dynamodb")
    create_table_from_template(client, "AppointmentsTable")
    create_table_from_template(client, "CalendarTable")
    client.put_item(TableName=APPOINTMENTS, Item=appointment("a1", "09:00"))
    client.put_item(TableName=CALENDARS, Item=bucket("alice", "2026-12-01", 1))
    client.put_item(TableName=CALENDARS, Item=bucket("alice", "rules", 3))
    return client


def appointment(appointment_id: str, start: str) -> dict:
    return {"appointmentId": {"S": appointment_id}, "userId": {"S": "alice"},
            "startTime": {"S": f"2026-12-01T{start}:00Z"}, "version": {"N": "1"}}


def bucket(calendar: str, day: str, version: int) -> dict:
    return {"userId": {"S": calendar}, "day": {"S": day}, "version": {"N": str(version)}}


def backend_tables() -> dict:
    return dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables


def everything(client) -> dict:
    """Every item of both tables, and what the GSI answers for alice."""
    tables = (APPOINTMENTS, CALENDARS)
    return {"items": {name: sorted(map(str, client.scan(TableName=name)["Items"])) for name in tables},
            "index": [i["appointmentId"]["S"] for i in client.query(
                TableName=APPOINTMENTS, IndexName="UserAppointmentsIndex", KeyConditionExpression="userId = :u",
                ExpressionAttributeValues={":u": {"S": "alice"}})["Items"]]}


def pump(client) -> StreamPump:
    arn = client.describe_table(TableName=APPOINTMENTS)["Table"]["LatestStreamArn"]
    stream = StreamPump(boto3.client("dynamodbstreams"), arn)
    stream.poll()  # what the fixture wrote
    return stream


def changes(client, condition: dict) -> list[dict]:
    """A booking-like transaction: a new appointment, a changed one, buckets written, new and deleted;
    its last action is ``condition``."""
    return [
        {"Put": {"TableName": APPOINTMENTS, "Item": appointment("a2", "10:00"),
                 "ConditionExpression": "attribute_not_exists(appointmentId)"}},
        {"Update": {"TableName": APPOINTMENTS, "Key": {"appointmentId": {"S": "a1"}},
                    "UpdateExpression": "SET version = :two", "ExpressionAttributeValues": {":two": {"N": "2"}}}},
        {"Delete": {"TableName": CALENDARS, "Key": {"userId": {"S": "alice"}, "day": {"S": "2026-12-01"}}}},
        {"Put": {"TableName": CALENDARS, "Item": bucket("alice", "2026-12-02", 1)}},  # a new day of a known calendar
        {"Put": {"TableName": CALENDARS, "Item": bucket("bob", "2026-12-02", 1)}},  # a calendar never seen
        condition,
    ]


def test_a_cancelled_transaction_leaves_the_tables_their_streams_and_their_items_as_they_were(dynamodb):
    tables = {name: backend_tables()[name] for name in (APPOINTMENTS, CALENDARS)}
    shard = tables[APPOINTMENTS].stream_shard
    records, calendars = len(shard.items), set(tables[CALENDARS].items)
    before, stream = everything(dynamodb), pump(dynamodb)
    failing = {"ConditionCheck": {"TableName": CALENDARS, "Key": {"userId": {"S": "alice"}, "day": {"S": "rules"}},
                                  "ConditionExpression": "version = :zero", "ReturnValuesOnConditionCheckFailure":
                                      "ALL_OLD", "ExpressionAttributeValues": {":zero": {"N": "0"}}}}

    with pytest.raises(dynamodb.exceptions.TransactionCanceledException) as cancelled:
        dynamodb.transact_write_items(TransactItems=changes(dynamodb, failing))

    reasons = cancelled.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None"] * 5 + ["ConditionalCheckFailed"]  # as moto reports them
    assert reasons[5]["Item"] == bucket("alice", "rules", 3)
    assert {name: backend_tables()[name] for name in tables} == tables
    assert all(backend_tables()[name] is table for name, table in tables.items())
    assert tables[APPOINTMENTS].stream_shard is shard
    assert len(shard.items) == records
    assert set(tables[CALENDARS].items) == calendars  # no empty partition left behind for bob
    assert everything(dynamodb) == before
    assert stream.poll() == []


def test_a_transaction_refused_half_way_as_invalid_is_rolled_back_in_place_too(dynamodb):
    before, stream = everything(dynamodb), pump(dynamodb)
    table = backend_tables()[APPOINTMENTS]
    # moto applies the first five actions, then raises on the sixth, which names the first one's item again.
    invalid = {"ConditionCheck": {"TableName": APPOINTMENTS, "Key": {"appointmentId": {"S": "a2"}},
                                  "ConditionExpression": "attribute_not_exists(appointmentId)"}}
    with pytest.raises(dynamodb.exceptions.ClientError, match="multiple operations on one item"):
        dynamodb.transact_write_items(TransactItems=changes(dynamodb, invalid))
    assert backend_tables()[APPOINTMENTS] is table
    assert everything(dynamodb) == before
    assert stream.poll() == []


def test_after_a_cancelled_one_a_transaction_writes_and_streams_as_before(dynamodb):
    stream = pump(dynamodb)
    shard = backend_tables()[APPOINTMENTS].stream_shard
    stale = {"ConditionCheck": {"TableName": CALENDARS, "Key": {"userId": {"S": "alice"}, "day": {"S": "rules"}},
                                "ConditionExpression": "version = :zero",
                                "ExpressionAttributeValues": {":zero": {"N": "0"}}}}
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(TransactItems=changes(dynamodb, stale))

    fresh = {"ConditionCheck": {**stale["ConditionCheck"], "Key": {"userId": {"S": "carol"}, "day": {"S": "x"}},
                                "ConditionExpression": "attribute_not_exists(version)"}}
    dynamodb.transact_write_items(TransactItems=changes(dynamodb, fresh))

    assert backend_tables()[APPOINTMENTS].stream_shard is shard
    assert [(r["eventName"], r["dynamodb"]["Keys"]["appointmentId"]["S"]) for r in stream.poll()] == [
        ("INSERT", "a2"), ("MODIFY", "a1")]
    assert everything(dynamodb)["index"] == ["a1", "a2"]
    assert dynamodb.get_item(TableName=CALENDARS, Key={"userId": {"S": "bob"}, "day": {"S": "2026-12-02"}})["Item"]
    assert "Item" not in dynamodb.get_item(TableName=CALENDARS,
                                           Key={"userId": {"S": "alice"}, "day": {"S": "2026-12-01"}})


def test_shard_iterators_expire_after_15_minutes_so_a_poller_keeps_moto_small(dynamodb, monkeypatch):
    now = [0.0]
    init, get_records = expiring_iterators(ShardIterator.__init__, DynamoDBStreamsBackend.get_records,
                                           clock=lambda: now[0])
    monkeypatch.setattr(ShardIterator, "__init__", init)
    monkeypatch.setattr(DynamoDBStreamsBackend, "get_records", get_records)
    streams = boto3.client("dynamodbstreams")
    arn = dynamodb.describe_table(TableName=APPOINTMENTS)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    first = iterator["ShardIterator"]

    for _ in range(200):  # a poller, once a minute of the fake clock
        iterator = streams.get_records(ShardIterator=iterator["ShardIterator"] if "ShardIterator" in iterator
                                       else iterator["NextShardIterator"])
        now[0] += 60
    kept = dynamodbstreams_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].shard_iterators
    assert len(kept) <= ITERATOR_LIFETIME / 60 + 1

    with pytest.raises(streams.exceptions.ExpiredIteratorException):
        streams.get_records(ShardIterator=first)
