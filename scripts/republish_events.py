"""Republish appointment events from the event publisher's dead-letter queue.

When the bus keeps refusing a batch, the event source mapping gives up after its retries and sends
the dead-letter queue a message that names the batch (``DDBStreamBatchInfo``: the stream, the shard,
the first and last sequence numbers), not its records. While the stream still holds them (24 hours),
this reads those records, publishes their events with the function's own logic, and deletes the
message. Publishing again is safe: consumers deduplicate on ``eventId``.

    STACK_NAME=appointment-scheduler-dev python scripts/republish_events.py

It finds the bus and the queue in the stack's outputs. A message it cannot republish (the records
are gone, the shard is too busy, or the bus still refuses) stays in the queue, and the exit status is 1.

What real SQS and DynamoDB Streams do that a naive reader misreads:

* A short poll asks a sample of SQS's servers and may answer empty while the queue holds messages.
  The queue is read with long polling, and the run ends only when a long poll finds nothing.
* ``GetRecords`` may answer an empty page before a shard's records. The iterator is followed, for at
  most ``MAX_PAGES`` pages, until the batch's last sequence number.
* The table's stream already has two readers (the two event source mappings), AWS's advised maximum
  per shard; this script is a third, so its reads may be throttled (``LimitExceededException``). It
  backs off with jitter, a bounded number of times, and leaves the message for a later run.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from appointments.events import EventPublishing, change_of

WAIT_SECONDS = 20  # SQS's longest long poll: an empty answer means no server holds a visible message
VISIBILITY_SECONDS = 300  # a message being worked on, or left, stays hidden from this run's next polls
MAX_PAGES = 100  # GetRecords pages followed per batch
EMPTY_PAGE_PAUSE = 0.25  # seconds between empty pages: a shard serves 5 GetRecords calls a second
THROTTLED_RETRIES = 8  # backoffs on LimitExceededException per call, doubling from 0.2 s to at most 10 s


class StreamBusy(Exception):
    """The shard kept refusing this reader (LimitExceededException) after every backoff."""


@dataclass(frozen=True)
class Batch:
    stream_arn: str
    shard_id: str
    first: str
    last: str

    @classmethod
    def from_message(cls, body: str) -> Batch:
        info = json.loads(body)["DDBStreamBatchInfo"]
        return cls(info["streamArn"], info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"])


class StreamReader:
    """Reads one batch's records from its shard, as a third reader that yields to the two it shares it with."""

    def __init__(self, streams, sleep: Callable[[float], None] = time.sleep):
        self.streams, self.sleep = streams, sleep

    def call(self, operation: str, **request) -> dict:
        for attempt in range(THROTTLED_RETRIES + 1):
            try:
                return getattr(self.streams, operation)(**request)
            except ClientError as error:
                if error.response["Error"]["Code"] != "LimitExceededException":
                    raise
                if attempt == THROTTLED_RETRIES:
                    raise StreamBusy(f"the shard refused {operation} {attempt + 1} times "
                                     "(LimitExceededException)") from error
                self.sleep(random.uniform(0, min(10.0, 0.2 * 2 ** attempt)))
        raise AssertionError("unreachable")

    def records_of(self, batch: Batch) -> tuple[list[dict], str]:
        """The batch's stream records, first to last, or those found and why the others were not."""
        gone = (self.streams.exceptions.TrimmedDataAccessException, self.streams.exceptions.ResourceNotFoundException)
        try:
            iterator = self.call("get_shard_iterator", StreamArn=batch.stream_arn, ShardId=batch.shard_id,
                                 ShardIteratorType="AT_SEQUENCE_NUMBER",
                                 SequenceNumber=batch.first)["ShardIterator"]
        except gone:
            return [], "the stream no longer holds them (24 hours)"
        records: list[dict] = []
        last = int(batch.last)
        for _ in range(MAX_PAGES):
            try:
                page = self.call("get_records", ShardIterator=iterator, Limit=1000)
            except gone:
                return records, "the stream no longer holds them (24 hours)"
            for record in page["Records"]:
                number = int(record["dynamodb"]["SequenceNumber"])
                if number > last:
                    return records, "the stream no longer holds them (24 hours)"
                records.append(record)
                if number == last:
                    return records, ""
            iterator = page.get("NextShardIterator")
            if not iterator:  # a closed shard, read to its end
                return records, "the stream no longer holds them (24 hours)"
            if not page["Records"]:  # an empty page may come before records: follow the iterator, paced
                self.sleep(EMPTY_PAGE_PAUSE)
        return records, f"the shard did not reach them within {MAX_PAGES} pages; try again later"


def republish(sqs, streams, publishing: EventPublishing, queue_url: str, say: Callable[[str], None] = print, *,
              wait_seconds: int = WAIT_SECONDS, sleep: Callable[[float], None] = time.sleep) -> bool:
    """Republish every batch in the queue; True when every message was republished and deleted.

    The run ends when a long poll of ``wait_seconds`` finds no message. Messages left in the queue are
    made visible again at the end, for the next run."""
    reader = StreamReader(streams, sleep)
    left: dict[str, str] = {}  # message ID -> receipt handle of what stays in the queue
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds,
                                          VisibilityTimeout=VISIBILITY_SECONDS).get("Messages", []):
        for message in messages:
            if message["MessageId"] in left:  # back after VISIBILITY_SECONDS: counted already
                left[message["MessageId"]] = message["ReceiptHandle"]
                continue
            if not republish_one(sqs, reader, publishing, queue_url, message, say):
                left[message["MessageId"]] = message["ReceiptHandle"]
    for handle in left.values():
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return not left


def republish_one(sqs, reader: StreamReader, publishing: EventPublishing, queue_url: str, message: dict,
                  say: Callable[[str], None]) -> bool:
    """Republish one message's batch and delete the message; False (and why, said) when it stays."""
    name = f"message {message['MessageId']}"
    try:
        batch = Batch.from_message(message["Body"])
    except (ValueError, KeyError, TypeError):
        say(f"{name}: not a stream batch; left in the queue")
        return False
    try:
        records, missing = reader.records_of(batch)
    except StreamBusy as busy:
        say(f"{name}: {busy}; the stream's two consumers read it too. Left in the queue: run again later")
        return False
    if missing or not records or records[-1]["dynamodb"]["SequenceNumber"] != batch.last:
        say(f"{name}: records {batch.first}..{batch.last} not read: {missing or 'incomplete'}; left in the queue")
        return False
    published = publishing.publish([change_of(record["dynamodb"]) for record in records])
    if published.retry_from is not None:
        say(f"{name}: {published.reason}; left in the queue")
        return False
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    say(f"{name}: {len(records)} records, {published.events} events republished")
    return True


def main() -> int:
    import boto3

    from appointments.settings import PublisherSettings
    from appointments.wiring import build_publishing

    stack = os.environ.get("STACK_NAME", f"appointment-scheduler-{os.environ.get('ENV', 'dev')}")
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}
    publishing = build_publishing(boto3.client("events"), PublisherSettings(outputs["AppointmentEventBusName"]))
    done = republish(boto3.client("sqs"), boto3.client("dynamodbstreams"), publishing,
                     outputs["AppointmentEventDeadLetterQueueUrl"])
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
