"""What moto stores but does not run: the stream-to-Lambda mapping, and Scheduler firing schedules.

Used by the local stack (``make run``), the benchmark and the tests, so all exercise the same rules:

* ``deploy_into_moto`` deploys template.json with the real deploy code, creates what moto's
  CloudFormation skips, and returns each function's environment as the stack configured it.

* ``StreamPump`` reads the table stream with ``get_records`` and hands batches, in Lambda's event
  format, to the consumer. It describes the stream on every poll and follows new shards (a child
  after its parent), and never hands over a sequence number twice. A reported batch item failure is
  retried from that record on, as an event source mapping with partial batch responses does; a
  record that still fails after ``max_retries`` goes alone to ``on_failure`` (bisecting isolates it
  the same way on AWS), and the records after it go on.
* ``ScheduleFirer`` finds schedules in a group whose ``at()`` time has come, invokes the target with
  the schedule's Input, and deletes the schedule when ``ActionAfterCompletion`` is DELETE. A failed
  invocation stays and is retried on the next call, up to the schedule's retry policy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError


@dataclass
class StreamPump:
    streams: object  # a boto3 dynamodbstreams client
    stream_arn: str
    max_retries: int = 10
    on_failure: Callable[[list[dict]], None] = lambda records: None
    starting_position: str = "TRIM_HORIZON"  # or LATEST, as an event source mapping's StartingPosition
    refresh_after: int = 30  # empty reads of an open shard before its iterator is fetched again
    _iterators: dict[str, str | None] = field(default_factory=dict)  # None: a closed shard read to its end
    _positions: dict[str, str] = field(default_factory=dict)  # where each shard's reading started
    _last: dict[str, int] = field(default_factory=dict)  # the sequence number of the last record read, by shard
    _idle: dict[str, int] = field(default_factory=dict)
    _pending: list[dict] = field(default_factory=list)
    _attempts: int = 0

    def poll(self) -> list[dict]:
        """New records from every shard, shaped as a Lambda DynamoDB stream event's Records.

        The stream is described on every call, so shards that appear are followed: a shard listed at
        the first call starts at ``starting_position``, any later one at its beginning (it may be the
        child of the shard being read). A child waits until its parent is read to its end, so one
        item's changes stay in order. No record is returned twice, even if a shard is read again."""
        shards = self._shards()
        listed = {shard["ShardId"] for shard in shards}
        first = not self._positions
        for gone in set(self._positions) - listed:  # trimmed from the stream
            for state in (self._iterators, self._positions, self._last, self._idle):
                state.pop(gone, None)
        records = []
        for shard in shards:
            shard_id, parent = shard["ShardId"], shard.get("ParentShardId")
            if parent in listed and self._iterators.get(parent, "unread") is not None:
                continue  # the parent still has records to give
            if shard_id not in self._positions:
                self._positions[shard_id] = self.starting_position if first else "TRIM_HORIZON"
                self._iterators[shard_id] = self._iterator(shard_id)
            if self._iterators[shard_id] is not None:
                records.extend(self._read(shard_id))
        return records

    def _shards(self) -> list[dict]:
        shards, start = [], {}
        while True:
            description = self.streams.describe_stream(StreamArn=self.stream_arn, **start)["StreamDescription"]
            shards.extend(description["Shards"])
            if not description.get("LastEvaluatedShardId"):
                return shards
            start = {"ExclusiveStartShardId": description["LastEvaluatedShardId"]}

    def _iterator(self, shard_id: str) -> str:
        """A fresh iterator: after the last record read from the shard, else where its reading started."""
        last = self._last.get(shard_id)
        where = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": str(last)} if last is not None
                 else {"ShardIteratorType": self._positions[shard_id]})
        return self.streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard_id, **where)["ShardIterator"]

    def _read(self, shard_id: str) -> list[dict]:
        try:
            response = self.streams.get_records(ShardIterator=self._iterators[shard_id], Limit=100)
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                raise
            self._iterators[shard_id] = self._iterator(shard_id)  # read on from the last record, next time
            return []
        self._iterators[shard_id] = response.get("NextShardIterator")
        last = self._last.get(shard_id, -1)
        fresh = [r for r in response["Records"] if int(r["dynamodb"]["SequenceNumber"]) > last]
        if fresh:
            self._last[shard_id] = int(fresh[-1]["dynamodb"]["SequenceNumber"])
            self._idle[shard_id] = 0
        elif self._iterators[shard_id] is not None:
            self._idle[shard_id] = self._idle.get(shard_id, 0) + 1
            if self._idle[shard_id] >= self.refresh_after:  # an iterator that went stale reads nothing, ever
                self._idle[shard_id] = 0
                self._iterators[shard_id] = self._iterator(shard_id)
        return [self._as_lambda_record(r) for r in fresh]

    def _as_lambda_record(self, record: dict) -> dict:
        body = dict(record["dynamodb"])
        created = body.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            body["ApproximateCreationDateTime"] = created.timestamp()
        return {"eventID": record["eventID"], "eventName": record["eventName"], "eventVersion": "1.1",
                "eventSource": "aws:dynamodb", "awsRegion": record.get("awsRegion", "us-east-1"),
                "dynamodb": body, "eventSourceARN": self.stream_arn}

    def deliver(self, handler: Callable[[dict, object], dict | None], context: object = None) -> int:
        """Hand pending and new records to ``handler``; return how many it accepted."""
        batch = self._pending + self.poll()
        if not batch:
            return 0
        result = handler({"Records": batch}, context) or {}
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        if not failed:
            self._pending, self._attempts = [], 0
            return len(batch)
        first = next(i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in failed)
        self._attempts += 1
        if self._attempts > self.max_retries:  # give up on this record only; the rest are retried
            self.on_failure([batch[first]])
            self._pending, self._attempts = batch[first + 1:], 0
        else:
            self._pending = batch[first:]
        return first


FUNCTIONS = ("ConflictDetector", "ReminderSender", "ReminderScheduler", "EventPublisher")


def deploy_into_moto(env: str, stack_name: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Deploy to whatever moto boto3 points at; return the outputs and, per function, its environment."""
    import boto3

    import deploy

    outputs = deploy.Deployer(deploy.Config(env=env, stack_name=stack_name, poll_seconds=0.1),
                              out=lambda line: None).deploy()
    scheduler = boto3.client("scheduler")
    group = outputs["ReminderScheduleGroupName"]
    if group not in [g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]]:
        scheduler.create_schedule_group(Name=group)  # moto's CloudFormation skips AWS::Scheduler::ScheduleGroup
    environments = {}
    for name in FUNCTIONS:
        function = f"{name}-{env}"
        variables = boto3.client("lambda").get_function_configuration(FunctionName=function)["Environment"]["Variables"]
        environments[name] = {**variables, "FUNCTION_NAME": function}
    return outputs, environments


AT = re.compile(r"at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)")


@dataclass
class ScheduleFirer:
    scheduler: object  # a boto3 scheduler client
    group: str
    invoke: Callable[[str, dict], object]  # (target ARN, payload) -> result; raises on failure
    on_failure: Callable[[dict, dict], None] = lambda schedule, payload: None
    _failures: dict[str, int] = field(default_factory=dict)

    def due(self, now: datetime) -> list[dict]:
        schedules = []
        for page in self.scheduler.get_paginator("list_schedules").paginate(GroupName=self.group):
            for summary in page["Schedules"]:
                schedule = self.scheduler.get_schedule(Name=summary["Name"], GroupName=self.group)
                match = AT.fullmatch(schedule["ScheduleExpression"])
                if not match or schedule.get("State", "ENABLED") != "ENABLED":
                    continue
                zone = ZoneInfo(schedule.get("ScheduleExpressionTimezone") or "UTC")
                if datetime.fromisoformat(match.group(1)).replace(tzinfo=zone) <= now:
                    schedules.append(schedule)
        return schedules

    def fire_due(self, now: datetime) -> list[str]:
        """Invoke every due schedule once; return the names of those that completed."""
        completed = []
        for schedule in self.due(now):
            target, name = schedule["Target"], schedule["Name"]
            payload = json.loads(target.get("Input") or "{}")
            try:
                self.invoke(target["Arn"], payload)
            except Exception:
                self._failures[name] = self._failures.get(name, 0) + 1
                if self._failures[name] <= target.get("RetryPolicy", {}).get("MaximumRetryAttempts", 185):
                    continue
                self.on_failure(schedule, payload)
            self._failures.pop(name, None)
            completed.append(name)
            if schedule.get("ActionAfterCompletion") == "DELETE":
                self.scheduler.delete_schedule(Name=name, GroupName=self.group)
        return completed
