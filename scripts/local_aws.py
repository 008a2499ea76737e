"""What moto stores but does not run: the stream-to-Lambda mapping, and Scheduler firing schedules.

Used by the local stack (``make run``), the benchmark and the tests, so all exercise the same rules:

* ``deploy_into_moto`` deploys template.json with the real deploy code, creates what moto's
  CloudFormation skips (the schedule group, the signing key, the SES configuration set and sender
  identity), and returns each function's environment as the stack configured it.

* ``StreamPump`` reads the table stream with ``get_records`` and hands batches, in Lambda's event
  format, to the consumer. It describes the stream on every poll and follows new shards (a child
  after its parent), and never hands over a sequence number twice. A reported batch item failure is
  retried from that record on, as an event source mapping with partial batch responses does; a
  record that still fails after ``max_retries`` goes alone to ``on_failure`` (bisecting isolates it
  the same way on AWS), and the records after it go on.
* ``QueuedInvocations`` invokes a function that an EventBridge rule targets (the notifier) with the events
  the moto layer queued for it, retrying a failed one as Lambda's asynchronous invocation does.
* ``ScheduleFirer`` finds schedules in a group whose ``at()`` time has come, invokes the target with
  the schedule's Input, and deletes the schedule when ``ActionAfterCompletion`` is DELETE. A failed
  invocation stays and is retried on the next call, up to the schedule's retry policy. It keeps the
  due times in order and fetches only new, changed and due schedules, so a tick costs the same
  with 10 schedules or 10,000.
"""

from __future__ import annotations

import heapq
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
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


FUNCTIONS = ("ConflictDetector", "ReminderSender", "ReminderScheduler", "EventPublisher", "Notifier")
# What a local stack is deployed with, unless the caller says otherwise: e-mail on, from an address moto's
# SES is told is verified.
LOCAL_PARAMETERS = {"SenderEmail": "appointments@example.com", "BusinessName": "Example Clinic"}


def deploy_into_moto(env: str, stack_name: str, parameters: dict[str, str] | None = None,
                     ) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Deploy to whatever moto boto3 points at, with these template ``parameters``; return the outputs and,
    per function, its environment."""
    import boto3

    import deploy

    parameters = {**LOCAL_PARAMETERS, **(parameters or {})}
    config = deploy.Config(env=env, stack_name=stack_name, parameters=parameters, poll_seconds=0.1)
    outputs = deploy.Deployer(config, out=lambda line: None).deploy()
    scheduler = boto3.client("scheduler")
    group = outputs["ReminderScheduleGroupName"]
    if group not in [g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]]:
        scheduler.create_schedule_group(Name=group)  # moto's CloudFormation skips AWS::Scheduler::ScheduleGroup
    created = create_what_moto_skips(env, parameters)
    lambdas = boto3.client("lambda")
    environments = {}
    for name in FUNCTIONS:
        function = f"{name}-{env}"
        variables = lambdas.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
        missing = {variable: created[ref] for variable, ref in template_refs(name).items()
                   if ref in created and not variables.get(variable)}
        if missing:  # as CloudFormation would have set them, had moto created the resources
            variables = {**variables, **missing}
            lambdas.update_function_configuration(FunctionName=function, Environment={"Variables": variables})
        environments[name] = {**variables, "FUNCTION_NAME": function}
    return outputs, environments


def template_refs(function: str) -> dict[str, str]:
    """The environment variables of a function in template.json that are a Ref to a resource: variable -> ID."""
    template = json.loads((Path(__file__).resolve().parent.parent / "template.json").read_text())
    variables = template["Resources"][f"{function}Function"]["Properties"]["Environment"]["Variables"]
    return {name: value["Ref"] for name, value in variables.items() if isinstance(value, dict) and "Ref" in value}


def create_what_moto_skips(env: str, parameters: dict[str, str]) -> dict[str, str]:
    """What moto's CloudFormation does not create (a Ref to it is empty there), created as the template says:
    the signing key (a generated secret), the SES configuration set and the sender identity, which moto's SES
    then treats as verified. Returns what a Ref to each gives: logical ID -> ARN or name."""
    import secrets

    import boto3

    template = json.loads((Path(__file__).resolve().parent.parent / "template.json").read_text())
    resources = template["Resources"]
    made = {}
    manager = boto3.client("secretsmanager")
    name = f"SigningKey-{env}"
    try:
        made["SigningKey"] = manager.describe_secret(SecretId=name)["ARN"]
    except manager.exceptions.ResourceNotFoundException:
        made["SigningKey"] = manager.create_secret(Name=name, SecretString=secrets.token_urlsafe(48))["ARN"]
    ses = boto3.client("sesv2")
    configuration = resources["EmailConfigurationSet"]["Properties"]
    set_name = configuration["Name"]["Fn::Sub"].replace("${EnvironmentSuffix}", env)
    if set_name not in ses.list_configuration_sets().get("ConfigurationSets", []):
        ses.create_configuration_set(ConfigurationSetName=set_name,
                                     SuppressionOptions=configuration["SuppressionOptions"])
    made["EmailConfigurationSet"] = set_name
    sender = parameters.get("SenderEmail", "")
    if sender:
        identities = [i["IdentityName"] for i in ses.list_email_identities().get("EmailIdentities", [])]
        if sender not in identities:
            ses.create_email_identity(EmailIdentity=sender, ConfigurationSetName=set_name)
        made["SenderIdentity"] = sender
    return made


LAMBDA_TARGET_QUEUE = "lambda-target-{function}"  # where the moto layer puts a rule's events for a function
LAMBDA_ASYNC_ATTEMPTS = 3  # Lambda's asynchronous invocation: the first attempt and 2 retries


def lambda_target_queue(sqs, function_name: str, dead_letter_arn: str, retry_after: int = 2) -> str:
    """The queue the moto layer hands a function's rule events to (``motoserver.lambda_targets_queued``), made
    to retry as Lambda's asynchronous invocation does: an event whose handling fails is received again after
    ``retry_after`` seconds, and after the last attempt goes to the function's dead-letter queue."""
    redrive = {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": str(LAMBDA_ASYNC_ATTEMPTS)}
    return sqs.create_queue(QueueName=LAMBDA_TARGET_QUEUE.format(function=function_name),
                            Attributes={"VisibilityTimeout": str(retry_after),
                                        "RedrivePolicy": json.dumps(redrive)})["QueueUrl"]


@dataclass
class QueuedInvocations:
    """Invokes a rule's Lambda target with the events queued for it (``lambda_target_queue``): an event is
    deleted once the handler returns; one it raises on stays, and is retried, then dead-lettered by SQS."""

    sqs: object  # a boto3 sqs client
    queue_url: str

    def deliver(self, handler: Callable[[dict, object], object], context: object = None) -> int:
        """Hand each queued event to ``handler``; return how many it handled."""
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=0).get("Messages", [])
        handled = 0
        for message in messages:
            try:
                handler(json.loads(message["Body"]), context)
            except Exception:  # noqa: S112 (Lambda would retry it: so does SQS, after the visibility timeout)
                continue
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            handled += 1
        return handled


AT = re.compile(r"at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)")
LISTING_SHARE = 0.02  # the group is listed again once 50 times as long as the last listing took has passed


def due_time(schedule: dict) -> datetime | None:
    """When a one-time schedule fires; None for one that is disabled or not ``at()``."""
    match = AT.fullmatch(schedule["ScheduleExpression"])
    if not match or schedule.get("State", "ENABLED") != "ENABLED":
        return None
    zone = ZoneInfo(schedule.get("ScheduleExpressionTimezone") or "UTC")
    return datetime.fromisoformat(match.group(1)).replace(tzinfo=zone)


@dataclass
class ScheduleFirer:
    """Fires due schedules, keeping the group's due times in a heap instead of reading every schedule.

    Listing the group says which schedules exist and when each was last modified; only a new or
    modified one is fetched (``GetSchedule``). Listing is spaced so that it takes at most
    ``listing_share`` of the time, and a schedule is fetched once more right before it fires, so a
    schedule moved or deleted since it was learned is never fired at its old time.
    """

    scheduler: object  # a boto3 scheduler client
    group: str
    invoke: Callable[[str, dict], object]  # (target ARN, payload) -> result; raises on failure
    on_failure: Callable[[dict, dict], None] = lambda schedule, payload: None
    listing_share: float = LISTING_SHARE
    _failures: dict[str, int] = field(default_factory=dict)
    _known: dict[str, tuple[object, datetime | None]] = field(default_factory=dict)  # (LastModificationDate, due)
    _queue: list[tuple[datetime, str]] = field(default_factory=list)  # a heap of (due, name); stale entries skipped
    _next_listing: float = 0.0

    def fire_due(self, now: datetime) -> list[str]:
        """Invoke every due schedule once; return the names of those that completed."""
        if time.monotonic() >= self._next_listing:
            self._learn()
        completed, retry = [], []
        while self._queue and self._queue[0][0] <= now:
            due, name = heapq.heappop(self._queue)
            if name not in self._known or self._known[name][1] != due:
                continue  # moved, fired or deleted since this entry was queued
            schedule = self._fetch(name)
            if schedule is None:
                continue
            if (due := due_time(schedule)) is None or due > now:
                self._index(name, schedule.get("LastModificationDate"), due)
                continue
            if self._fire(schedule, now):
                completed.append(name)
            else:
                retry.append((due, name))
        for entry in retry:
            heapq.heappush(self._queue, entry)
        return completed

    def _learn(self) -> None:
        began, listed = time.monotonic(), {}
        for page in self.scheduler.get_paginator("list_schedules").paginate(GroupName=self.group,
                                                                            PaginationConfig={"PageSize": 100}):
            listed.update((s["Name"], s.get("LastModificationDate")) for s in page["Schedules"])
        self._next_listing = time.monotonic() + (time.monotonic() - began) / self.listing_share
        for name in set(self._known) - set(listed):
            self._forget(name)
        for name, modified in listed.items():
            if name not in self._known or self._known[name][0] != modified:
                schedule = self._fetch(name)
                if schedule is not None:
                    self._index(name, modified, due_time(schedule))
        if len(self._queue) > 2 * len(self._known) + 100:  # drop the stale entries
            self._queue = [(due, name) for name, (_, due) in self._known.items() if due is not None]
            heapq.heapify(self._queue)

    def _fetch(self, name: str) -> dict | None:
        try:
            return self.scheduler.get_schedule(Name=name, GroupName=self.group)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            self._forget(name)
            return None

    def _index(self, name: str, modified: object, due: datetime | None) -> None:
        self._known[name] = (modified, due)
        if due is not None:
            heapq.heappush(self._queue, (due, name))

    def _forget(self, name: str) -> None:
        self._known.pop(name, None)
        self._failures.pop(name, None)

    def _fire(self, schedule: dict, now: datetime) -> bool:
        """Invoke the target; False if it failed and is to be retried."""
        target, name = schedule["Target"], schedule["Name"]
        payload = json.loads(target.get("Input") or "{}")
        try:
            self.invoke(target["Arn"], payload)
        except Exception:
            self._failures[name] = self._failures.get(name, 0) + 1
            if self._failures[name] <= target.get("RetryPolicy", {}).get("MaximumRetryAttempts", 185):
                return False
            self.on_failure(schedule, payload)
        self._failures.pop(name, None)
        if schedule.get("ActionAfterCompletion") == "DELETE":
            self.scheduler.delete_schedule(Name=name, GroupName=self.group)
            self._forget(name)
        else:  # a one-time schedule that is kept fires once; a later change is learned as a change
            self._known[name] = (self._known[name][0], None)
        return True
