"""What moto stores but does not run: the stream-to-Lambda mapping, and Scheduler firing schedules.

Used by the local stack (``make run``), the benchmark and the tests, so all exercise the same rules:

* ``deploy_into_moto`` deploys template.json with the real deploy code, creates what moto's
  CloudFormation skips, and returns each function's environment as the stack configured it.

* ``StreamPump`` reads the table stream with ``get_records`` and hands batches, in Lambda's event
  format, to the consumer. A reported batch item failure is retried from that record on, as an
  event source mapping with partial batch responses does; a record that still fails after
  ``max_retries`` goes alone to ``on_failure`` (bisecting isolates it the same way on AWS), and the
  records after it go on.
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


@dataclass
class StreamPump:
    streams: object  # a boto3 dynamodbstreams client
    stream_arn: str
    max_retries: int = 10
    on_failure: Callable[[list[dict]], None] = lambda records: None
    starting_position: str = "TRIM_HORIZON"  # or LATEST, as an event source mapping's StartingPosition
    _iterators: dict[str, str | None] = field(default_factory=dict)
    _pending: list[dict] = field(default_factory=list)
    _attempts: int = 0

    def poll(self) -> list[dict]:
        """New records from every shard, shaped as a Lambda DynamoDB stream event's Records."""
        records = []
        for shard in self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id,
                    ShardIteratorType=self.starting_position)["ShardIterator"]
            iterator = self._iterators[shard_id]
            if iterator is None:
                continue
            response = self.streams.get_records(ShardIterator=iterator, Limit=100)
            self._iterators[shard_id] = response.get("NextShardIterator")
            records.extend(self._as_lambda_record(r) for r in response["Records"])
        return records

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
