"""Republish appointment events from the event publisher's dead-letter queue.

When the bus keeps refusing a batch, the event source mapping gives up after its retries and sends
the dead-letter queue a message that names the batch (``DDBStreamBatchInfo``: the stream, the shard,
the first and last sequence numbers), not its records. While the stream still holds them (24 hours),
this reads those records, publishes their events with the function's own logic, and deletes the
message. Publishing again is safe: consumers deduplicate on ``eventId``.

    STACK_NAME=appointment-scheduler-dev python scripts/republish_events.py

It finds the bus and the queue in the stack's outputs. A message it cannot republish (the records
are gone, or the bus still refuses) stays in the queue, and the exit status is 1.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from appointments.events import EventPublishing, change_of


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


def records_of(streams, batch: Batch) -> list[dict]:
    """The batch's stream records, first to last; fewer or none when the stream no longer has them."""
    try:
        iterator = streams.get_shard_iterator(StreamArn=batch.stream_arn, ShardId=batch.shard_id,
                                              ShardIteratorType="AT_SEQUENCE_NUMBER",
                                              SequenceNumber=batch.first)["ShardIterator"]
    except (streams.exceptions.TrimmedDataAccessException, streams.exceptions.ResourceNotFoundException):
        return []
    records = []
    while iterator:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        for record in page["Records"]:
            if int(record["dynamodb"]["SequenceNumber"]) > int(batch.last):
                return records
            records.append(record)
        if not page["Records"]:  # an open shard has nothing after its newest record
            return records
        iterator = page.get("NextShardIterator")
    return records


def republish(sqs, streams, publishing: EventPublishing, queue_url: str,
              say: Callable[[str], None] = print) -> bool:
    """Republish every batch in the queue; True when every message was republished and deleted."""
    complete = True
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                          VisibilityTimeout=60).get("Messages", []):
        for message in messages:
            try:
                batch = Batch.from_message(message["Body"])
            except (ValueError, KeyError, TypeError):
                say(f"message {message['MessageId']}: not a stream batch; left in the queue")
                complete = False
                continue
            records = records_of(streams, batch)
            if not records or records[-1]["dynamodb"]["SequenceNumber"] != batch.last:
                say(f"message {message['MessageId']}: the stream no longer holds {batch.first}..{batch.last} "
                    "(24 hours); left in the queue")
                complete = False
                continue
            published = publishing.publish([change_of(record["dynamodb"]) for record in records])
            if published.retry_from is not None:
                say(f"message {message['MessageId']}: {published.reason}; left in the queue")
                complete = False
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            say(f"message {message['MessageId']}: {len(records)} records, {published.events} events republished")
    return complete


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
