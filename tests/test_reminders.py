"""Reminders end to end on moto: booking -> table stream -> schedules -> sender -> SNS -> SQS."""

from __future__ import annotations

import json
from datetime import datetime

import boto3
import pytest
from botocore.exceptions import ClientError

import reminder_scheduler
import reminder_sender
from appointments.adapters import ReminderRequest, schedule_name
from appointments.caller import Caller
from appointments.settings import NotifierSettings, PublisherSettings, SchedulerSettings, SenderSettings
from appointments.times import UTC
from appointments.wiring import build_delivery, build_scheduling
from conftest import API_SETTINGS, ENV, TEMPLATE, Clock, CountingCalls, Flaky, resolve
from lambdas import StackSettings, wire
from local_aws import ScheduleFirer, StreamPump
from proxy_events import LambdaContext

GROUP = resolve(TEMPLATE["Resources"]["ReminderScheduleGroup"]["Properties"]["Name"], ENV)
TOPIC = resolve(TEMPLATE["Resources"]["NotificationTopic"]["Properties"]["TopicName"], ENV)
DLQ = resolve(TEMPLATE["Resources"]["ReminderDeadLetterQueue"]["Properties"]["QueueName"], ENV)
SENDER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:ReminderSender-test"
ROLE_ARN = "arn:aws:iam::123456789012:role/ReminderSchedulerInvokeRole-test"
CONFIGURATION_SET, BUSINESS, SENDER = f"appointments-{ENV}", "Example Clinic", "appointments@example.com"


class System:
    """The three functions wired as the stack wires them, on moto resources named as the template names them."""

    def __init__(self, dynamodb, clock: Clock):
        self.clock = clock
        self.dynamodb = dynamodb
        self.scheduler = boto3.client("scheduler")
        self.scheduler.create_schedule_group(Name=GROUP)
        self.sqs = boto3.client("sqs")
        dlq_url = self.sqs.create_queue(QueueName=DLQ)["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.sns = boto3.client("sns")
        self.topic_arn = self.sns.create_topic(Name=TOPIC)["TopicArn"]
        self.ses = boto3.client("sesv2")
        self.ses.create_configuration_set(ConfigurationSetName=CONFIGURATION_SET)
        self.ses.create_email_identity(EmailIdentity=SENDER)  # moto's SES sends only from a verified identity
        channels = {"calendar_table_name": API_SETTINGS.calendar_table_name, "configuration_set": CONFIGURATION_SET,
                    "business_name": BUSINESS, "sender_email": SENDER}
        reminders = {"table_name": API_SETTINGS.table_name, "topic_arn": self.topic_arn, **channels}
        self.settings = StackSettings(
            API_SETTINGS, SchedulerSettings(schedule_group=GROUP, scheduler_role_arn=ROLE_ARN,
                                            reminder_function_arn=SENDER_ARN, dead_letter_queue_arn=dlq_arn,
                                            **reminders),
            SenderSettings(**reminders), PublisherSettings(f"AppointmentEvents-{ENV}"), NotifierSettings(**channels))
        wired = wire(self.settings, dynamodb=dynamodb, scheduler=self.scheduler, sns=self.sns,
                     events=boto3.client("events"), ses=self.ses, secrets=lambda: None, clock=clock,
                     sleep=lambda _: None)
        self.bookings, self.series, self.store = wired.bookings, wired.services.series, wired.services.tables
        stream_arn = dynamodb.describe_table(TableName=self.store.table)["Table"]["LatestStreamArn"]
        self.pump = StreamPump(boto3.client("dynamodbstreams"), stream_arn)
        self.firer = ScheduleFirer(self.scheduler, GROUP, lambda arn, payload: self.send(payload))

    def use_scheduler(self, client) -> None:
        reminder_scheduler.use(build_scheduling(client, self.dynamodb, self.sns, self.ses, self.settings.scheduling,
                                                clock=self.clock))

    def use_sns(self, client) -> None:
        reminder_sender.use(build_delivery(self.dynamodb, client, self.ses, self.settings.sending, clock=self.clock))

    def inbox(self, filter_user: str | None = None, policy: dict | None = None) -> str:
        policy = policy or ({"userId": [filter_user]} if filter_user else None)
        name = "inbox-" + ("".join(c for c in json.dumps(policy, sort_keys=True) if c.isalnum()) if policy else "all")
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {"FilterPolicy": json.dumps(policy)} if policy else {}
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)
        return url

    def messages(self, url: str) -> list[dict]:
        received = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in received]

    def book(self, start: str, end: str, user: str = "alice", **extra):
        appointment, _ = self.bookings.book({"userId": user, "startTime": start, "endTime": end, **extra}, Caller())
        return appointment

    def sync(self) -> int:
        return self.pump.deliver(reminder_scheduler.handler, LambdaContext("ReminderScheduler-test"))

    def send(self, payload: dict) -> dict:
        return reminder_sender.handler(payload, LambdaContext("ReminderSender-test"))

    def schedules(self) -> dict[str, dict]:
        names = [s["Name"] for s in self.scheduler.list_schedules(GroupName=GROUP)["Schedules"]]
        return {n: self.scheduler.get_schedule(Name=n, GroupName=GROUP) for n in names}


@pytest.fixture
def system(dynamodb, clock) -> System:
    return System(dynamodb, clock)


def test_booking_creates_one_schedule_per_reminder(system):
    appointment = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    system.sync()
    schedules = system.schedules()
    day, hour = schedule_name(appointment.appointment_id, 1440), schedule_name(appointment.appointment_id, 60)
    assert set(schedules) == {day, hour}
    assert schedules[day]["ScheduleExpression"] == "at(2026-11-30T09:00:00)"
    assert schedules[hour]["ScheduleExpression"] == "at(2026-12-01T08:00:00)"
    for schedule in schedules.values():
        assert len(schedule["Name"]) <= 64
        assert schedule["ScheduleExpressionTimezone"] == "UTC"
        assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert schedule["ActionAfterCompletion"] == "DELETE"
        target = schedule["Target"]
        assert (target["Arn"], target["RoleArn"]) == (SENDER_ARN, ROLE_ARN)
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600}
        assert target["DeadLetterConfig"]["Arn"].endswith(f":{DLQ}")
    assert json.loads(schedules[hour]["Target"]["Input"]) == {
        "appointmentId": appointment.appointment_id, "userId": "alice", "minutesBefore": 60,
        "startTime": "2026-12-01T09:00:00Z", "reminderType": "1_hour"}


def test_each_occurrence_of_a_series_gets_its_own_reminders_and_a_cancel_from_n_deletes_theirs(system):
    view, _ = system.series.book({"userId": "alice", "startTime": "2026-12-01T09:00:00Z",
                                  "endTime": "2026-12-01T10:00:00Z", "repeat": {"unit": "week", "count": 3}}, Caller())
    system.sync()
    schedules = system.schedules()
    assert set(schedules) == {schedule_name(o.appointment_id, m) for o in view.occurrences for m in (1440, 60)}
    third = view.occurrences[2]
    assert schedules[schedule_name(third.appointment_id, 60)]["ScheduleExpression"] == "at(2026-12-15T08:00:00)"
    system.series.cancel_from(view.record.series_id, 2, Caller())
    system.sync()
    assert set(system.schedules()) == {schedule_name(view.occurrences[0].appointment_id, m) for m in (1440, 60)}


@pytest.mark.parametrize(("start", "end", "offsets"), [
    ("2026-11-26T11:00:00Z", "2026-11-26T12:00:00Z", {60}),  # 23 h ahead: the 24 h reminder has passed
    ("2026-11-25T14:00:00Z", "2026-11-25T15:00:00Z", {60}),  # 2 h ahead
    ("2026-11-25T12:30:00Z", "2026-11-25T13:00:00Z", set()),  # 30 min ahead: both have passed
])
def test_bookings_close_to_their_start_get_only_future_reminders(system, start, end, offsets):
    appointment = system.book(start, end)
    system.sync()
    assert set(system.schedules()) == {schedule_name(appointment.appointment_id, m) for m in offsets}


def emitted(capsys, metric: str) -> float:
    """The sum of ``metric`` over the EMF blobs printed so far."""
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if f'"{metric}"' in line]
    return sum(sum(b[metric]) if isinstance(b[metric], list) else b[metric] for b in blobs)


def test_a_reminder_due_within_a_minute_is_sent_at_once_and_only_once(system, capsys):
    inbox = system.inbox()
    appointment = system.book("2026-11-25T12:01:30Z", "2026-11-25T13:00:00Z", reminders=[1])  # due at 12:00:30
    records = system.pump.poll()
    context = LambdaContext("ReminderScheduler-test")
    for _ in range(2):  # the same batch delivered twice
        assert reminder_scheduler.handler({"Records": records}, context) == {"batchItemFailures": []}
    assert system.schedules() == {}  # never an at() schedule in the past
    [message] = system.messages(inbox)
    assert message["Subject"] == "Appointment Reminder - 1 Minute"
    assert message["MessageAttributes"]["appointmentId"]["Value"] == appointment.appointment_id
    assert emitted(capsys, "RemindersSentAtOnce") == 1  # the replay found it sent and sent nothing


def test_a_reminder_whose_appointment_started_before_the_record_was_processed_is_skipped_and_counted(system, capsys):
    inbox = system.inbox()
    system.book("2026-11-25T12:01:30Z", "2026-11-25T13:00:00Z", reminders=[1])
    system.clock.advance(minutes=5)  # the stream fell behind
    system.sync()
    assert (system.schedules(), system.messages(inbox)) == ({}, [])
    assert emitted(capsys, "RemindersSkippedLate") == 1


def test_custom_offsets_get_their_own_schedules(system):
    appointment = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z", reminders=[90, 15])
    system.sync()
    schedules = system.schedules()
    assert schedules[schedule_name(appointment.appointment_id, 90)]["ScheduleExpression"] == "at(2026-12-01T07:30:00)"
    assert schedules[schedule_name(appointment.appointment_id, 15)]["ScheduleExpression"] == "at(2026-12-01T08:45:00)"
    assert len(schedules) == 2


def test_cancel_deletes_the_schedules(system):
    appointment = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    system.sync()
    system.bookings.cancel(appointment.appointment_id, Caller())
    system.sync()
    assert system.schedules() == {}


def test_a_hold_schedules_nothing_until_it_is_confirmed_and_a_released_or_expired_one_never(system):
    confirmed = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z", hold=10)
    released = system.book("2026-12-02T09:00:00Z", "2026-12-02T10:00:00Z", hold=10)
    system.book("2026-12-03T09:00:00Z", "2026-12-03T10:00:00Z", hold=1)
    system.sync()
    assert system.schedules() == {}
    system.bookings.confirm(confirmed.appointment_id, Caller())
    system.bookings.cancel(released.appointment_id, Caller())
    system.clock.advance(minutes=2)
    system.sync()
    assert set(system.schedules()) == {schedule_name(confirmed.appointment_id, m) for m in (1440, 60)}


def test_reschedule_moves_the_schedules(system):
    appointment = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    system.sync()
    system.bookings.change(appointment.appointment_id, {"startTime": "2026-12-03T15:00:00Z",
                                                        "endTime": "2026-12-03T16:00:00Z"}, Caller())
    system.sync()
    schedules = system.schedules()
    hour = schedules[schedule_name(appointment.appointment_id, 60)]
    assert hour["ScheduleExpression"] == "at(2026-12-03T14:00:00)"
    assert json.loads(hour["Target"]["Input"])["startTime"] == "2026-12-03T15:00:00Z"
    assert schedules[schedule_name(appointment.appointment_id, 1440)]["ScheduleExpression"] == "at(2026-12-02T15:00:00)"


def test_changing_the_reminder_list_adds_and_removes_schedules(system):
    appointment = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    system.sync()
    system.bookings.change(appointment.appointment_id, {"reminders": [60, 30]}, Caller())
    system.sync()
    assert set(system.schedules()) == {schedule_name(appointment.appointment_id, m) for m in (60, 30)}


def test_editing_details_leaves_the_schedules_alone(system):
    appointment = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    system.sync()
    calls = Flaky(system.scheduler, "create_schedule", times=0)
    system.use_scheduler(calls)
    system.bookings.change(appointment.appointment_id, {"details": {"location": "Room 9"}}, Caller())
    system.sync()
    assert calls.calls == 0
    assert len(system.schedules()) == 2


def test_a_replayed_stream_batch_creates_no_duplicates(system):
    system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    records = system.pump.poll()
    context = LambdaContext("ReminderScheduler-test")
    for _ in range(2):
        assert reminder_scheduler.handler({"Records": records}, context) == {"batchItemFailures": []}
    assert len(system.schedules()) == 2


def test_a_scheduler_failure_is_retried_and_no_reminder_is_lost(system):
    appointment = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    flaky = Flaky(system.scheduler, "create_schedule", times=1)
    system.use_scheduler(flaky)
    records = system.pump.poll()
    result = reminder_scheduler.handler({"Records": records}, LambdaContext("ReminderScheduler-test"))
    assert result == {"batchItemFailures": [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]}
    system.pump._pending = records  # as the event source mapping re-delivers from the failed record
    system.sync()
    assert set(system.schedules()) == {schedule_name(appointment.appointment_id, m) for m in (1440, 60)}


def test_the_pump_retries_a_failed_record_then_dead_letters_it(system):
    system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    dead: list[list[dict]] = []
    system.pump.max_retries, system.pump.on_failure = 2, dead.append
    system.use_scheduler(Flaky(system.scheduler, "create_schedule", times=100))
    for _ in range(3):
        assert system.sync() == 0
    assert len(dead) == 1
    assert dead[0][0]["eventName"] == "INSERT"


def test_a_record_that_always_fails_is_dead_lettered_alone_and_never_stops_the_others(system):
    system.store.dynamodb.put_item(TableName=system.store.table, Item={  # an item no handler can read
        "appointmentId": {"S": "poison"}, "userId": {"S": "mallory"}, "status": {"S": "scheduled"}})
    before = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z", user="bob")
    dead: list[list[dict]] = []
    system.pump.max_retries, system.pump.on_failure = 2, dead.append
    for _ in range(4):
        system.sync()
    after = system.book("2026-12-02T09:00:00Z", "2026-12-02T10:00:00Z", user="carol")
    system.sync()
    assert [[r["dynamodb"]["Keys"]["appointmentId"]["S"] for r in records] for records in dead] == [["poison"]]
    assert set(system.schedules()) == {schedule_name(a.appointment_id, m) for a in (before, after) for m in (1440, 60)}
    assert system.pump._pending == []


# -- the sender ------------------------------------------------------------------------------------

def request_for(appointment, minutes: int = 60) -> dict:
    return ReminderRequest(appointment.appointment_id, minutes, "2026-12-01T09:00:00Z").to_input(appointment.user_id)


def test_a_reminder_reaches_a_subscriber_filtered_on_user_id_with_subject_text_and_attributes(system):
    alice_inbox = system.inbox(filter_user="alice")
    alice = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z", timeZone="Europe/Berlin",
                        details={"location": "Room 4", "description": "Check-up"})
    bob = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z", user="bob")
    assert system.send(request_for(alice, 1440))["outcome"] == "sent"
    assert system.send(request_for(bob, 1440))["outcome"] == "sent"
    [message] = system.messages(alice_inbox)
    assert message["Subject"] == "Appointment Reminder - 24 Hour"
    assert message["Message"] == ("Reminder: your appointment starts in 24 hours, on Tuesday 01 December 2026 at "
                                  "10:00 CET (Europe/Berlin).\nLocation: Room 4\nDescription: Check-up")
    assert {k: v["Value"] for k, v in message["MessageAttributes"].items()} == {
        "userId": "alice", "appointmentId": alice.appointment_id, "reminderType": "24_hour", "calendars": '["alice"]'}
    assert message["MessageAttributes"]["calendars"]["Type"] == "String.Array"


def test_a_provider_gets_the_reminders_of_its_appointments_with_a_calendars_filter_policy(system):
    provider_inbox = system.inbox(policy={"calendars": ["dr-smith"]})
    with_provider = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z", participants=["dr-smith", "room-4"])
    elsewhere = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z", user="bob", participants=["dr-jones"])
    for appointment in (with_provider, elsewhere):
        assert system.send(request_for(appointment, 1440))["outcome"] == "sent"
    [message] = system.messages(provider_inbox)
    assert message["MessageAttributes"]["appointmentId"]["Value"] == with_provider.appointment_id
    assert json.loads(message["MessageAttributes"]["calendars"]["Value"]) == ["alice", "dr-smith", "room-4"]


def test_a_duplicate_delivery_publishes_exactly_once(system):
    inbox = system.inbox()
    appointment = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    outcomes = [system.send(request_for(appointment))["outcome"] for _ in range(3)]
    assert outcomes == ["sent", "skipped: already sent or being sent", "skipped: already sent or being sent"]
    assert len(system.messages(inbox)) == 1


WRITES = {"put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item"}


def test_firing_a_reminder_writes_nothing_to_the_appointments_table_and_adds_no_stream_record(system):
    """The claim and the mark live in CalendarTable: no GSI write, nothing for the stream consumers to skip."""
    appointment = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    system.sync()
    counting = CountingCalls(system.dynamodb)
    reminder_sender.use(build_delivery(counting, system.sns, system.ses, system.settings.sending, clock=system.clock))
    assert system.send(request_for(appointment))["outcome"] == "sent"
    written = {kwargs.get("TableName") or str(kwargs) for name, kwargs in counting.calls if name in WRITES}
    assert written
    assert all(system.store.table not in table for table in written)
    assert system.sync() == 0


def test_the_sender_skips_a_cancelled_appointment(system):
    inbox = system.inbox()
    appointment = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    system.bookings.cancel(appointment.appointment_id, Caller())
    assert system.send(request_for(appointment))["outcome"] == "skipped: the appointment is cancelled"
    assert system.messages(inbox) == []


def test_the_sender_skips_a_reminder_made_stale_by_a_reschedule(system):
    inbox = system.inbox()
    appointment = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    system.bookings.change(appointment.appointment_id, {"startTime": "2026-12-01T11:00:00Z",
                                                        "endTime": "2026-12-01T12:00:00Z"}, Caller())
    assert system.send(request_for(appointment))["outcome"] == "skipped: stale, the appointment was rescheduled"
    assert system.messages(inbox) == []


def test_a_rescheduled_appointment_gets_its_reminder_again_at_the_new_time(system):
    inbox = system.inbox()
    appointment = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    assert system.send(request_for(appointment))["outcome"] == "sent"
    system.bookings.change(appointment.appointment_id, {"startTime": "2026-12-02T09:00:00Z",
                                                        "endTime": "2026-12-02T10:00:00Z"}, Caller())
    moved = ReminderRequest(appointment.appointment_id, 60, "2026-12-02T09:00:00Z").to_input("alice")
    assert system.send(moved)["outcome"] == "sent"
    assert len(system.messages(inbox)) == 2


def test_a_failed_publish_raises_then_a_retry_after_the_claim_lease_sends_once(system, capsys):
    inbox = system.inbox()
    appointment = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    flaky_sns = Flaky(system.sns, "publish", times=1, code="InternalError")
    system.use_sns(flaky_sns)
    with pytest.raises(ClientError):
        system.send(request_for(appointment))
    assert '"ReminderErrors"' in capsys.readouterr().out
    assert system.send(request_for(appointment))["outcome"] == "skipped: already sent or being sent"
    system.clock.advance(seconds=31)  # the failed sender's claim has expired
    assert system.send(request_for(appointment))["outcome"] == "sent"
    assert len(system.messages(inbox)) == 1


def test_the_sender_emits_reminders_sent_by_type(system, capsys):
    appointment = system.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    system.send(request_for(appointment, 1440))
    [blob] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"RemindersSent"' in line]
    assert blob["ReminderType"] == "24_hour"
    assert ["ReminderType", "service"] in blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] or \
        ["service", "ReminderType"] in blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"]


def test_dst_24_hour_reminder_fires_at_the_right_utc_instant(system):
    # Berlin moves to CEST on 2027-03-28; 09:00 local on the 29th is 07:00 UTC.
    appointment = system.book("2027-03-29T09:00:00", "2027-03-29T10:00:00", timeZone="Europe/Berlin")
    system.sync()
    schedule = system.schedules()[schedule_name(appointment.appointment_id, 1440)]
    assert schedule["ScheduleExpression"] == "at(2027-03-28T07:00:00)"


def test_due_schedules_fire_into_the_sender_and_are_deleted(system):
    inbox = system.inbox()
    appointment = system.book("2026-11-25T14:00:00Z", "2026-11-25T15:00:00Z", reminders=[60, 30])
    cancelled = system.book("2026-11-25T16:00:00Z", "2026-11-25T17:00:00Z", reminders=[60])
    system.sync()
    system.bookings.cancel(cancelled.appointment_id, Caller())
    system.sync()
    assert system.firer.fire_due(datetime(2026, 11, 25, 12, 59, tzinfo=UTC)) == []
    system.clock.now = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
    assert system.firer.fire_due(system.clock.now) == [schedule_name(appointment.appointment_id, 60)]
    system.clock.now = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    assert system.firer.fire_due(system.clock.now) == [schedule_name(appointment.appointment_id, 30)]
    subjects = [m["Subject"] for m in system.messages(inbox)]
    assert sorted(subjects) == ["Appointment Reminder - 1 Hour", "Appointment Reminder - 30 Minute"]
    assert system.schedules() == {}
