"""Appointment events end to end on moto: booking -> table stream -> event_publisher -> bus -> rule -> SQS."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

import event_publisher
import republish_events
from appointments.adapters import EventBus
from appointments.appointment import MAX_DETAILS_BYTES, Appointment
from appointments.caller import Caller
from appointments.events import (
    APPOINTMENT_BOOKED,
    APPOINTMENT_CANCELLED,
    APPOINTMENT_CHANGED,
    APPOINTMENT_HELD,
    APPOINTMENT_OUTCOME_RECORDED,
    APPOINTMENT_RESCHEDULED,
    ENTRIES_PER_CALL,
    Change,
    appointment_event,
    calls_for,
)
from appointments.representations import appointment_json
from appointments.settings import PublisherSettings
from appointments.times import UTC, Interval
from appointments.wiring import build_publishing, build_services
from conftest import API_SETTINGS, ENV, TEMPLATE, Flaky, resolve
from local_aws import StreamPump
from proxy_events import LambdaContext
from republish_events import republish

BUS = resolve(TEMPLATE["Resources"]["AppointmentEventBus"]["Properties"]["Name"], ENV)
CONTEXT = LambdaContext("EventPublisher-test")


# -- what a change means ----------------------------------------------------------------------------

def appointment(version: int = 1, **changes) -> Appointment:
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    base = Appointment("a1", "alice", Interval(start, start + timedelta(hours=1)), created_at=start - timedelta(days=1),
                       updated_at=start - timedelta(days=1) + timedelta(minutes=version), version=version)
    return replace(base, **changes)


@pytest.mark.parametrize(("change", "detail_type"), [
    ({"interval": Interval(datetime(2026, 12, 2, 9, tzinfo=UTC), datetime(2026, 12, 2, 10, tzinfo=UTC))},
     APPOINTMENT_RESCHEDULED),
    ({"interval": Interval(datetime(2026, 12, 1, 9, tzinfo=UTC), datetime(2026, 12, 1, 11, tzinfo=UTC))},
     APPOINTMENT_RESCHEDULED),
    ({"details": {"title": "x"}}, APPOINTMENT_CHANGED),
    ({"reminders": (30,)}, APPOINTMENT_CHANGED),
    ({"participants": ("dr-smith",)}, APPOINTMENT_CHANGED),
    ({"time_zone": "Europe/Berlin"}, APPOINTMENT_CHANGED),
    ({"status": "cancelled"}, APPOINTMENT_CANCELLED),
    ({"outcome": "noShow"}, APPOINTMENT_OUTCOME_RECORDED),
])
def test_each_new_version_is_one_event_of_its_kind_with_the_previous_state(change, detail_type):
    old = appointment(1)
    new = appointment(2, **change)
    event = appointment_event(old, new)
    assert (event.detail_type, event.event_id) == (detail_type, "a1:2")
    assert event.detail() == {"eventId": "a1:2", "appointment": appointment_json(new),
                              "previous": appointment_json(old)}


def test_a_booking_has_no_previous_state_and_writes_that_keep_the_version_are_no_event():
    booked = appointment_event(None, appointment(1))
    assert (booked.detail_type, booked.detail()["previous"]) == (APPOINTMENT_BOOKED, None)
    assert appointment_event(appointment(3), appointment(3)) is None  # the reminder ledger's own writes
    assert appointment_event(appointment(3), None) is None


def test_events_go_ten_to_a_call_in_stream_order_and_never_two_of_one_appointment_in_a_call():
    ids = [f"a{i % 13}" for i in range(40)]  # 40 changes of 13 appointments, interleaved
    changes = [Change(str(n), appointment_event(None, appointment(n + 1, appointment_id=a))) for n, a in enumerate(ids)]
    changes.insert(5, Change("ledger", None))
    calls = calls_for(changes)
    assert [i for call in calls for i in call] == [i for i, c in enumerate(changes) if c.event]  # in order, all
    for call in calls:
        assert len(call) <= ENTRIES_PER_CALL
        assert len({changes[i].event.appointment.appointment_id for i in call}) == len(call)
    assert len(calls) == 4  # 13 appointments, each repeating only after 13 changes: four full calls
    versions = [Change(str(v), appointment_event(None, appointment(v))) for v in (1, 2, 3)]
    assert calls_for(versions) == [[0], [1], [2]]  # one appointment's versions: one call each


# -- on moto ----------------------------------------------------------------------------------------------

class Bus:
    """The stack's bus as moto holds it, with a rule that sends every appointment event to a queue."""

    def __init__(self):
        self.events = boto3.client("events")
        self.events.create_event_bus(Name=BUS)
        self.sqs = boto3.client("sqs")
        self.queue = self.sqs.create_queue(QueueName="appointment-events")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.events.put_rule(Name="all-appointment-events", EventBusName=BUS,
                             EventPattern=json.dumps({"source": ["appointments"]}))
        self.events.put_targets(Rule="all-appointment-events", EventBusName=BUS, Targets=[{"Id": "q", "Arn": arn}])

    def received(self) -> list[dict]:
        events = []
        while messages := self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                events.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
        return events


class Counting:
    """The real events client; counts PutEvents calls and entries, and can fail some of them."""

    def __init__(self, client, fail_calls: set[int] = frozenset(), refuse: dict[int, set[int]] | None = None):
        self._client, self.fail_calls, self.refuse = client, fail_calls, refuse or {}
        self.calls: list[int] = []  # entries per call

    def __getattr__(self, name):
        return getattr(self._client, name)

    def put_events(self, Entries: list[dict]) -> dict:
        call = len(self.calls)
        self.calls.append(len(Entries))
        if call in self.fail_calls:
            raise ClientError({"Error": {"Code": "InternalException", "Message": "injected"}}, "PutEvents")
        refused = self.refuse.get(call, set())
        accepted = [e for i, e in enumerate(Entries) if i not in refused]
        results = iter(self._client.put_events(Entries=accepted)["Entries"] if accepted else [])
        entries = [{"ErrorCode": "ThrottlingException", "ErrorMessage": "injected"} if i in refused else next(results)
                   for i in range(len(Entries))]
        return {"FailedEntryCount": len(refused), "Entries": entries}


@pytest.fixture
def bus(dynamodb) -> Bus:
    return Bus()


@pytest.fixture
def stack(dynamodb, clock, bus):
    bookings = build_services(dynamodb, API_SETTINGS, clock=clock, sleep=lambda _: None).bookings
    stream_arn = dynamodb.describe_table(TableName=API_SETTINGS.table_name)["Table"]["LatestStreamArn"]
    return bookings, StreamPump(boto3.client("dynamodbstreams"), stream_arn)


def publish_with(client) -> None:
    event_publisher.use(build_publishing(client, PublisherSettings(BUS)))


def book(bookings, user: str, day: int = 1, **extra) -> Appointment:
    body = {"userId": user, "startTime": f"2026-12-{day:02d}T09:00:00Z", "endTime": f"2026-12-{day:02d}T10:00:00Z"}
    return bookings.book({**body, **extra}, Caller())[0]


def test_each_change_is_published_once_as_its_detail_type_with_event_id_and_previous_times(stack, bus):
    bookings, pump = stack
    publish_with(boto3.client("events"))
    booked = book(bookings, "alice", details={"title": "Check-up"})
    caller = Caller()
    bookings.change(booked.appointment_id, {"details": {"title": "Check-up", "location": "Room 4"}}, caller)
    moved = bookings.change(booked.appointment_id, {"startTime": "2026-12-02T09:00:00Z",
                                                    "endTime": "2026-12-02T10:30:00Z"}, caller)
    cancelled = bookings.cancel(booked.appointment_id, caller)
    pump.deliver(event_publisher.handler, CONTEXT)

    events = bus.received()
    assert [(e["source"], e["detail-type"], e["detail"]["eventId"]) for e in events] == [
        ("appointments", APPOINTMENT_BOOKED, f"{booked.appointment_id}:1"),
        ("appointments", APPOINTMENT_CHANGED, f"{booked.appointment_id}:2"),
        ("appointments", APPOINTMENT_RESCHEDULED, f"{booked.appointment_id}:3"),
        ("appointments", APPOINTMENT_CANCELLED, f"{booked.appointment_id}:4")]
    by_type = {e["detail-type"]: e["detail"] for e in events}
    assert by_type[APPOINTMENT_BOOKED]["previous"] is None
    assert by_type[APPOINTMENT_BOOKED]["appointment"]["details"] == {"title": "Check-up"}
    assert by_type[APPOINTMENT_CHANGED]["previous"]["details"] == {"title": "Check-up"}
    rescheduled = by_type[APPOINTMENT_RESCHEDULED]
    assert rescheduled["appointment"] == appointment_json(moved)
    assert (rescheduled["previous"]["startTime"], rescheduled["previous"]["endTime"]) == (
        "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    assert by_type[APPOINTMENT_CANCELLED]["appointment"] == appointment_json(cancelled)
    assert by_type[APPOINTMENT_CANCELLED]["previous"]["status"] == "scheduled"
    assert events[0]["time"] == appointment_json(booked)["updatedAt"]


def test_a_hold_is_held_then_booked_when_confirmed_or_cancelled_when_released_and_an_expiry_publishes_nothing(
        stack, bus, clock):
    bookings, pump = stack
    publish_with(boto3.client("events"))
    confirmed = book(bookings, "alice", hold=10)
    bookings.confirm(confirmed.appointment_id, Caller())
    released = book(bookings, "alice", day=2, hold=10)
    bookings.cancel(released.appointment_id, Caller())
    expired = book(bookings, "alice", day=3, hold=1)
    clock.advance(minutes=2)
    assert bookings.cancel(expired.appointment_id, Caller()).status == "expired"  # nothing left to release
    pump.deliver(event_publisher.handler, CONTEXT)

    received = bus.received()
    events = [(e["detail-type"], e["detail"]["eventId"], e["detail"]["appointment"]["status"],
               (e["detail"]["previous"] or {}).get("status")) for e in received]
    assert events == [
        (APPOINTMENT_HELD, f"{confirmed.appointment_id}:1", "held", None),
        (APPOINTMENT_BOOKED, f"{confirmed.appointment_id}:2", "scheduled", "held"),
        (APPOINTMENT_HELD, f"{released.appointment_id}:1", "held", None),
        (APPOINTMENT_CANCELLED, f"{released.appointment_id}:2", "cancelled", "held"),
        (APPOINTMENT_HELD, f"{expired.appointment_id}:1", "held", None)]
    assert received[0]["detail"]["appointment"]["holdExpiresAt"] == "2026-11-25T12:10:00Z"


def test_an_outcome_recorded_and_cleared_is_published_each_time(stack, bus, clock):
    bookings, pump = stack
    publish_with(boto3.client("events"))
    booked = book(bookings, "alice")
    clock.advance(days=7)
    bookings.record_outcome(booked.appointment_id, {"outcome": "attended"}, Caller())
    bookings.record_outcome(booked.appointment_id, None, Caller())
    pump.deliver(event_publisher.handler, CONTEXT)
    assert [(e["detail-type"], e["detail"]["appointment"].get("outcome")) for e in bus.received()] == [
        (APPOINTMENT_BOOKED, None), (APPOINTMENT_OUTCOME_RECORDED, "attended"), (APPOINTMENT_OUTCOME_RECORDED, None)]


def test_the_same_stream_batch_delivered_twice_publishes_the_same_event_ids(stack, bus):
    bookings, pump = stack
    publish_with(boto3.client("events"))
    for user in ("alice", "bob", "carol"):
        book(bookings, user)
    batch = {"Records": pump.poll()}
    event_publisher.handler(batch, CONTEXT)
    first = bus.received()
    event_publisher.handler(batch, CONTEXT)  # Lambda delivers a batch again after a timeout or a crash
    second = bus.received()
    assert len(first) == 3
    assert [(e["detail"], e["detail-type"], e["time"]) for e in second] == [
        (e["detail"], e["detail-type"], e["time"]) for e in first]


def test_a_record_without_a_new_version_publishes_nothing(stack, bus, dynamodb):
    bookings, pump = stack
    publish_with(boto3.client("events"))
    booked = book(bookings, "alice")
    dynamodb.update_item(TableName=API_SETTINGS.table_name, Key={"appointmentId": {"S": booked.appointment_id}},
                         UpdateExpression="SET remindersSent = :s", ExpressionAttributeValues={":s": {"SS": ["60"]}})
    result = pump.deliver(event_publisher.handler, CONTEXT)
    assert result == 2  # both records were taken
    assert [e["detail"]["eventId"] for e in bus.received()] == [f"{booked.appointment_id}:1"]


@pytest.mark.parametrize("failures", [
    {"fail_calls": {0}},  # the first call fails as a whole
    {"fail_calls": {1, 2}},  # two in a row, mid-batch
    {"refuse": {0: {3}}},  # one entry of the first call is refused
    {"refuse": {1: {0, 9}, 3: {5}}},  # entries refused in two calls
])
def test_failed_put_events_are_retried_without_losing_or_reordering_an_appointments_events(stack, bus, failures):
    bookings, pump = stack
    client = Counting(boto3.client("events"), **failures)
    publish_with(client)
    caller = Caller()
    appointments = [book(bookings, f"user-{n}", day=1 + n % 5) for n in range(12)]
    for round_ in range(3):  # interleaved versions 2..4 of every appointment
        for a in appointments:
            bookings.change(a.appointment_id, {"details": {"round": str(round_)}}, caller)

    for _ in range(10):
        pump.deliver(event_publisher.handler, CONTEXT)
    events = bus.received()

    seen: dict[str, list[int]] = {}
    for event in events:
        appointment_id, version = event["detail"]["eventId"].split(":")
        if int(version) not in seen.setdefault(appointment_id, []):
            seen[appointment_id].append(int(version))  # first publication of each version
    assert seen == {a.appointment_id: [1, 2, 3, 4] for a in appointments}  # none lost, each in order
    injected = {*failures.get("fail_calls", ()), *failures.get("refuse", {})}
    assert max(injected) < len(client.calls)  # every injected failure really happened
    assert max(client.calls) <= ENTRIES_PER_CALL


def test_an_unreadable_record_is_retried_alone_after_the_ones_before_it_are_published(stack, bus):
    bookings, pump = stack
    publish_with(boto3.client("events"))
    book(bookings, "alice")
    book(bookings, "bob", day=2)
    records = pump.poll()
    broken = json.loads(json.dumps(records[1], default=str))
    del broken["dynamodb"]["NewImage"]["startTime"]
    result = event_publisher.handler({"Records": [records[0], broken]}, CONTEXT)
    assert result["batchItemFailures"] == [{"itemIdentifier": broken["dynamodb"]["SequenceNumber"]}]
    assert [e["detail"]["appointment"]["userId"] for e in bus.received()] == ["alice"]


def test_publishing_batches_up_to_ten_events_a_call(stack, bus):
    bookings, pump = stack
    client = Counting(boto3.client("events"))
    publish_with(client)
    for n in range(25):
        book(bookings, f"user-{n}")
    pump.deliver(event_publisher.handler, CONTEXT)
    assert client.calls == [10, 10, 5]
    assert len(bus.received()) == 25


def test_ten_of_the_largest_events_fit_in_one_put_events_request():
    """PutEvents takes at most 256 KB a request, counted as AWS does: Source, DetailType, Detail, and
    14 bytes for Time. The largest appointment: 4 KB of details, 8 participants of 128 characters."""
    details = {"description": "é" * ((MAX_DETAILS_BYTES - 40) // 2)}
    assert len(json.dumps(details, ensure_ascii=False).encode()) <= MAX_DETAILS_BYTES
    largest = appointment(2, user_id="u" * 128, participants=tuple(f"{n}" * 128 for n in range(8)), details=details,
                          reminders=(1, 2, 3, 4, 5), time_zone="America/Argentina/ComodRivadavia")
    event = appointment_event(replace(largest, version=1), largest)
    entry = EventBus(None, BUS).entry(event)
    size = len(entry["Source"]) + len(entry["DetailType"]) + len(entry["Detail"].encode()) + 14
    assert ENTRIES_PER_CALL * size <= 256 * 1024, size


# -- republishing a dead-lettered batch (scripts/republish_events.py) -----------------------------------

def dead_letter_queue(stack, records: list[dict], first: str | None = None, last: str | None = None) -> str:
    """A dead-letter queue holding the message an event source mapping sends for a failed batch."""
    _, pump = stack
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"AppointmentEventDLQ-{ENV}")["QueueUrl"]
    shard = boto3.client("dynamodbstreams").describe_stream(StreamArn=pump.stream_arn)["StreamDescription"]["Shards"][0]
    info = {"shardId": shard["ShardId"], "streamArn": pump.stream_arn, "batchSize": len(records),
            "startSequenceNumber": first or records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": last or records[-1]["dynamodb"]["SequenceNumber"]}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"requestContext": {"condition": "RetryAttemptsExhausted"},
                                                           "DDBStreamBatchInfo": info}))
    return url


def left_in(url: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    return sum(int(v) for v in attributes["Attributes"].values())


class Queue:
    """The real SQS client, polled as SQS answers: a short poll (no WaitTimeSeconds) samples some of its servers,
    and the first ``short_polls_missing`` of them find none of the messages the queue holds; a long poll asks
    every server. moto keeps every message in one place, so its answer without waiting is a long poll's."""

    def __init__(self, client, short_polls_missing: int = 0):
        self._client, self.short_polls_missing = client, short_polls_missing

    def __getattr__(self, name):
        return getattr(self._client, name)

    def receive_message(self, **request) -> dict:
        if not request.get("WaitTimeSeconds"):
            if self.short_polls_missing:
                self.short_polls_missing -= 1
                return {}
            return self._client.receive_message(**request)
        return self._client.receive_message(**{**request, "WaitTimeSeconds": 0})


class EmptyPagesFirst:
    """The real streams client, whose shard answers ``empty`` empty GetRecords pages (with an iterator to go
    on from) before its records, as a DynamoDB stream may."""

    def __init__(self, client, empty: int):
        self._client, self.empty, self.calls = client, empty, 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def get_records(self, ShardIterator: str, **request) -> dict:
        self.calls += 1
        if self.calls <= self.empty:
            return {"Records": [], "NextShardIterator": ShardIterator}
        return self._client.get_records(ShardIterator=ShardIterator, **request)


def republish_from(stack, records: list[dict], streams=None, sqs=None, **options) -> tuple[bool, list[str], str]:
    """Dead-letter ``records`` as one batch, run the republisher; (done, what it said, the queue)."""
    url = dead_letter_queue(stack, records)
    said: list[str] = []
    done = republish(sqs or Queue(boto3.client("sqs")), streams or boto3.client("dynamodbstreams"),
                     build_publishing(boto3.client("events"), PublisherSettings(BUS)), url, said.append, **options)
    return done, said, url


def test_a_short_poll_that_finds_nothing_does_not_end_the_run(stack, bus):
    bookings, pump = stack
    booked = book(bookings, "alice")
    done, said, url = republish_from(stack, pump.poll(), sqs=Queue(boto3.client("sqs"), short_polls_missing=1))
    assert done, said
    assert left_in(url) == 0
    assert [e["detail"]["eventId"] for e in bus.received()] == [f"{booked.appointment_id}:1"]


def test_empty_stream_pages_before_the_records_are_followed_to_the_batch(stack, bus):
    bookings, pump = stack
    booked = [book(bookings, user, day=n + 1) for n, user in enumerate(("alice", "bob"))]
    streams = EmptyPagesFirst(boto3.client("dynamodbstreams"), empty=3)
    done, said, _ = republish_from(stack, pump.poll(), streams=streams)
    assert done, said
    assert streams.calls == 4
    assert [e["detail"]["eventId"] for e in bus.received()] == [f"{a.appointment_id}:1" for a in booked]


def test_a_shard_that_only_answers_empty_pages_is_given_up_after_a_bounded_number(stack, bus):
    bookings, pump = stack
    book(bookings, "alice")
    streams = EmptyPagesFirst(boto3.client("dynamodbstreams"), empty=10**6)
    pauses: list[float] = []
    done, said, url = republish_from(stack, pump.poll(), streams=streams, sleep=pauses.append)
    assert not done
    assert streams.calls == republish_events.MAX_PAGES
    assert "within 100 pages" in said[0]
    assert "left in the queue" in said[0]
    assert left_in(url) == 1
    assert bus.received() == []


def test_a_third_reader_backs_off_when_the_shard_is_busy_and_then_reads(stack, bus):
    bookings, pump = stack
    booked = book(bookings, "alice")
    streams = Flaky(boto3.client("dynamodbstreams"), "get_records", times=2, code="LimitExceededException")
    done, said, _ = republish_from(stack, pump.poll(), streams=streams)
    assert done, said
    assert streams.calls == 3
    assert [e["detail"]["eventId"] for e in bus.received()] == [f"{booked.appointment_id}:1"]


def test_a_shard_that_stays_busy_leaves_the_message_after_bounded_jittered_backoff(stack, bus):
    bookings, pump = stack
    book(bookings, "alice")
    streams = Flaky(boto3.client("dynamodbstreams"), "get_shard_iterator", times=10**6,
                    code="LimitExceededException")
    pauses: list[float] = []
    done, said, url = republish_from(stack, pump.poll(), streams=streams, sleep=pauses.append)
    assert not done
    assert len(pauses) == republish_events.THROTTLED_RETRIES
    assert all(0 <= p <= min(10.0, 0.2 * 2 ** n) for n, p in enumerate(pauses))
    assert "LimitExceededException" in said[0]
    assert left_in(url) == 1


def test_a_dead_lettered_batch_is_republished_from_the_stream_and_its_message_deleted(stack, bus):
    bookings, pump = stack
    booked = [book(bookings, user, day=n + 1) for n, user in enumerate(("alice", "bob", "carol"))]
    book(bookings, "dave", day=9)  # after the batch: not republished
    url = dead_letter_queue(stack, pump.poll()[:3])
    said = []
    done = republish(Queue(boto3.client("sqs")), boto3.client("dynamodbstreams"),
                     build_publishing(boto3.client("events"), PublisherSettings(BUS)), url, said.append)
    assert done, said
    assert [e["detail"]["eventId"] for e in bus.received()] == [f"{a.appointment_id}:1" for a in booked]
    assert left_in(url) == 0
    assert len(said) == 1
    assert "3 records, 3 events republished" in said[0]


@pytest.mark.parametrize("case", ["bus refuses", "records not in the stream"])
def test_a_batch_that_cannot_be_republished_stays_in_the_queue(stack, bus, case):
    bookings, pump = stack
    book(bookings, "alice")
    records = pump.poll()
    last = int(records[-1]["dynamodb"]["SequenceNumber"])
    elsewhere = {"first": str(last + 100), "last": str(last + 109)} if case == "records not in the stream" else {}
    url = dead_letter_queue(stack, records, **elsewhere)
    client = Counting(boto3.client("events"), fail_calls={0})
    said = []
    done = republish(Queue(boto3.client("sqs")), boto3.client("dynamodbstreams"),
                     build_publishing(client, PublisherSettings(BUS)), url, said.append,
                     sleep=lambda _: None)  # past the newest record, moto pages empty until the bound
    assert not done
    assert "left in the queue" in said[0]
    assert left_in(url) == 1
    assert bus.received() == []
