"""Messages to people (API.md, "Contacts and notifications"): every kind, every channel, exactly once.

On moto, wired as the stack wires it: bookings -> the table stream -> the event publisher -> the bus ->
the template's NotificationRule pattern (to a queue, as the moto layer hands a Lambda target its events)
-> the notifier; and schedules -> the sender. Sent e-mail is read from moto's SES backend, SMS from its
SNS backend, as a person would receive them.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto.backends import get_backend

import event_publisher
import notifier
import reminder_sender
from appointments.adapters import ReminderRequest
from appointments.appointment import Appointment
from appointments.caller import Caller
from appointments.contacts import Contact
from appointments.messages import compose
from appointments.notices import notice_of
from appointments.notifications import NotSent
from appointments.times import Interval
from appointments.wiring import build_delivery, build_notifications
from conftest import ENV, TEMPLATE, Flaky
from local_aws import QueuedInvocations, StreamPump, lambda_target_queue
from proxy_events import LambdaContext
from test_reminders import BUSINESS, SENDER, System

ACCOUNT, REGION = "123456789012", "us-east-1"
CONTEXT = LambdaContext("Notifier-test")
RULE = TEMPLATE["Resources"]["NotificationRule"]["Properties"]
ALICE = {"name": "Alice Example", "email": "alice@example.com", "phone": "+4915112345678", "locale": "de-DE",
         "timeZone": "Europe/Berlin", "channels": ["email", "sms"]}
PROVIDER = {"name": "Dr Smith", "email": "smith@clinic.example", "phone": "+33612345678", "locale": "fr",
            "channels": ["email", "sms"], "notifyAsParticipant": True}


class Recording:
    """Wraps a real client; keeps the keyword arguments of every call of ``operation`` (what was asked)."""

    def __init__(self, client, operation: str):
        self._client, self._operation, self.requests = client, operation, []

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if name != self._operation:
            return attribute

        def call(**kwargs):
            self.requests.append(kwargs)
            return attribute(**kwargs)
        return call


class People(System):
    """The reminder system, plus the event bus, the notification rule and the notifier."""

    def __init__(self, dynamodb, clock):
        super().__init__(dynamodb, clock)
        self.events = boto3.client("events")
        bus = self.settings.publishing.event_bus_name
        self.events.create_event_bus(Name=bus)
        dead = self.sqs.create_queue(QueueName="NotificationDLQ")["QueueUrl"]
        dead_arn = self.sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = lambda_target_queue(self.sqs, f"Notifier-{ENV}", dead_arn, retry_after=1)
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.events.put_rule(Name="notifications", EventBusName=bus, EventPattern=json.dumps(RULE["EventPattern"]))
        self.events.put_targets(Rule="notifications", EventBusName=bus, Targets=[{"Id": "notifier", "Arn": arn}])
        self.notices = QueuedInvocations(self.sqs, url)
        stream_arn = dynamodb.describe_table(TableName=self.store.table)["Table"]["LatestStreamArn"]
        self.event_pump = StreamPump(boto3.client("dynamodbstreams"), stream_arn)
        self.delivered: list[dict] = []  # every event the notifier was handed, for replays

    def contact(self, calendar: str, body: dict) -> Contact:
        return self.wired_contacts().set(calendar, body, Caller())

    def erase(self, calendar: str) -> None:
        self.wired_contacts().erase(calendar, Caller())

    def wired_contacts(self):
        import conflict_detector

        return conflict_detector.services().contacts

    def notify(self, handler=None) -> None:
        """Everything committed so far: events published, the rule's matches handed to the notifier."""
        self.sync()
        self.event_pump.deliver(event_publisher.handler, LambdaContext("EventPublisher-test"))

        def keep(event, context):
            self.delivered.append(event)
            return (handler or notifier.handler)(event, context)
        self.notices.deliver(keep, LambdaContext("Notifier-test"))

    def use_channels(self, ses=None, sns=None) -> None:
        ses, sns = ses or self.ses, sns or self.sns
        notifier.use(build_notifications(self.dynamodb, ses, sns, self.settings.notifying, clock=self.clock))
        reminder_sender.use(build_delivery(self.dynamodb, sns, ses, self.settings.sending, clock=self.clock))

    def remind(self, appointment: Appointment, minutes: int = 60) -> dict:
        start = f"{appointment.interval.start:%Y-%m-%dT%H:%M:%SZ}"
        request = ReminderRequest(appointment.appointment_id, minutes, start)
        return self.send(request.to_input(appointment.user_id))


def emails() -> list:
    return list(get_backend("ses")[ACCOUNT][REGION].sent_messages)


def texts() -> list[tuple[str, str]]:
    return list(get_backend("sns")[ACCOUNT][REGION].sms_messages.values())


def to(address: str) -> list:
    return [m for m in emails() if address in m.destinations["ToAddresses"]]


@pytest.fixture
def people(dynamodb, clock) -> People:
    return People(dynamodb, clock)


# -- composing (pure) ------------------------------------------------------------------------------------

APPOINTMENT = Appointment("a1", "alice", Interval(datetime(2026, 12, 1, 9, tzinfo=UTC),
                                                  datetime(2026, 12, 1, 10, tzinfo=UTC)),
                          time_zone="America/New_York", details={"title": "Check-up", "location": "Room 4",
                                                                 "description": "Bring your card"})
EARLIER = Interval(datetime(2026, 11, 30, 9, tzinfo=UTC), datetime(2026, 11, 30, 10, tzinfo=UTC))
KINDS = [("confirmation", {}), ("rescheduled", {"previous": EARLIER}), ("cancelled", {}),
         ("reminder", {"minutes_before": 1440})]
EXPECTED = {  # (subject, a line of the text, the SMS) of each kind, for a contact in Berlin
    "en": [("Example Clinic: Check-up confirmed for Tuesday, December 1, 2026", "When: Tuesday, December 1, 2026, "
            "10:00\u202fAM (Central European Standard Time)",
            "Example Clinic: Check-up is confirmed for Dec 1, 2026, 10:00 AM (Central European Standard Time). "
            "Room 4."),
           ("Example Clinic: Check-up moved to Tuesday, December 1, 2026", "Previously: Monday, November 30, 2026, "
            "10:00\u202fAM (Central European Standard Time)", None),
           ("Example Clinic: Check-up on Tuesday, December 1, 2026 is cancelled",
            "Your appointment has been cancelled.",
            "Example Clinic: Check-up on Dec 1, 2026, 10:00 AM (Central European Standard Time) is cancelled."),
           ("Example Clinic: Check-up in 24 hours", "A reminder: your appointment starts in 24 hours.", None)],
    "de": [("Example Clinic: Check-up am Dienstag, 1. Dezember 2026 bestätigt",
            "Wann: Dienstag, 1. Dezember 2026, 10:00 (Mitteleuropäische Normalzeit)",
            "Example Clinic: Check-up ist bestätigt für 01.12.2026, 10:00 (Mitteleuropäische Normalzeit). Room 4."),
           ("Example Clinic: Check-up verschoben auf Dienstag, 1. Dezember 2026",
            "Bisher: Montag, 30. November 2026, 10:00 (Mitteleuropäische Normalzeit)", None),
           ("Example Clinic: Check-up am Dienstag, 1. Dezember 2026 abgesagt", "Ihr Termin wurde abgesagt.", None),
           ("Example Clinic: Check-up in 24 Stunden", "Zur Erinnerung: Ihr Termin beginnt in 24 Stunden.", None)],
    "fr": [("Example Clinic : Check-up confirmé pour le mardi 1 décembre 2026",
            "Quand : mardi 1 décembre 2026, 10:00 (heure normale d\u2019Europe centrale)", None),
           ("Example Clinic : Check-up déplacé au mardi 1 décembre 2026",
            "Auparavant : lundi 30 novembre 2026, 10:00 (heure normale d\u2019Europe centrale)", None),
           ("Example Clinic : Check-up du mardi 1 décembre 2026 annulé", "Votre rendez-vous a été annulé.", None),
           ("Example Clinic : Check-up dans 24\xa0heures", "Rappel : votre rendez-vous commence dans 24\xa0heures.",
            None)],
    "es": [("Example Clinic: Check-up confirmada para el martes, 1 de diciembre de 2026",
            "Cuándo: martes, 1 de diciembre de 2026, 10:00 (hora estándar de Europa central)", None),
           ("Example Clinic: Check-up cambiada al martes, 1 de diciembre de 2026",
            "Antes: lunes, 30 de noviembre de 2026, 10:00 (hora estándar de Europa central)", None),
           ("Example Clinic: Check-up del martes, 1 de diciembre de 2026 cancelada", "Su cita ha sido cancelada.",
            None),
           ("Example Clinic: Check-up en 24 horas", "Recordatorio: su cita empieza en 24 horas.", None)],
}


@pytest.mark.parametrize("locale", sorted(EXPECTED))
@pytest.mark.parametrize("kind", range(4))
def test_every_kind_is_written_in_the_recipients_language_and_zone_with_the_business_name(locale, kind):
    name, details = KINDS[kind]
    message = compose(name, APPOINTMENT, Contact(name="Alice", locale=locale, time_zone="Europe/Berlin"),
                      "Example Clinic", **details)
    subject, line, sms = EXPECTED[locale][kind]
    assert (message.kind, message.locale, message.subject) == (name, locale, subject)
    assert line in message.text.splitlines()
    assert "Example Clinic" in message.text
    assert "Example Clinic" in message.sms
    assert "Example Clinic" in message.html
    if sms:
        assert message.sms == sms
    assert len(message.sms) <= 320


@pytest.mark.parametrize(("tag", "reads_as"), [("pt-BR", "en"), ("de-AT", "de"), ("fr-CA", "fr"), ("es-419", "es"),
                                               ("ja", "en"), ("en", "en")])
def test_a_tag_without_texts_reads_exactly_as_the_locale_it_falls_back_to(tag, reads_as):
    for name, details in KINDS:
        fallen = compose(name, APPOINTMENT, Contact(name="A", locale=tag, time_zone="Europe/Berlin"), "B", **details)
        plain = compose(name, APPOINTMENT, Contact(name="A", locale=reads_as, time_zone="Europe/Berlin"), "B",
                        **details)
        assert fallen == plain


def test_times_are_in_the_contacts_zone_else_the_appointments_with_the_zones_name():
    own = compose("confirmation", APPOINTMENT, Contact(time_zone="Asia/Tokyo"), "B")
    assert "When: Tuesday, December 1, 2026, 6:00\u202fPM (Japan Standard Time)" in own.text
    theirs = compose("confirmation", APPOINTMENT, Contact(), "B")  # the appointment's America/New_York
    assert "When: Tuesday, December 1, 2026, 4:00\u202fAM (Eastern Standard Time)" in theirs.text


def test_an_sms_stays_within_320_characters_and_details_cannot_break_a_line_of_the_subject():
    long = Appointment("a2", "alice", APPOINTMENT.interval, details={"title": "Check\nup " * 60,
                                                                     "location": "Room <4> & " * 80})
    for name, details in KINDS:
        message = compose(name, long, Contact(locale="de", time_zone="Europe/Berlin"), "Example Clinic", **details)
        assert len(message.sms) <= 320, message.sms
        assert "\n" not in message.subject
        assert len(message.subject) <= 200
        assert "<4>" not in message.html
        assert "&lt;4&gt; &amp;" in message.html  # escaped


def test_a_message_greets_only_its_recipient_and_without_a_name_greets_plainly():
    assert compose("confirmation", APPOINTMENT, Contact(name="Dr Smith"), "B").text.startswith("Hello Dr Smith,\n")
    assert compose("confirmation", APPOINTMENT, Contact(locale="es"), "B").text.startswith("Hola:\n")


@pytest.mark.parametrize(("detail_type", "previous_status", "kind"), [
    ("AppointmentBooked", None, "confirmation"), ("AppointmentRescheduled", "scheduled", "rescheduled"),
    ("AppointmentCancelled", "scheduled", "cancelled"), ("AppointmentCancelled", "held", None),
    ("AppointmentChanged", "scheduled", None), ("AppointmentHeld", None, None),
    ("AppointmentOutcomeRecorded", "scheduled", None)])
def test_which_events_send_which_notice(detail_type, previous_status, kind):
    shown = {"appointmentId": "a1", "userId": "alice", "startTime": "2026-12-01T09:00:00Z",
             "endTime": "2026-12-01T10:00:00Z", "participants": ["dr-smith"], "status": "scheduled", "version": 3,
             "assigned": "stylist-b"}
    previous = {**shown, "status": previous_status, "startTime": "2026-11-30T09:00:00Z",
                "endTime": "2026-11-30T10:00:00Z"} if previous_status else None
    notice = notice_of({"detail-type": detail_type, "detail": {"appointment": shown, "previous": previous}})
    assert (notice.kind if notice else None) == kind
    if notice:
        assert (notice.key, notice.recipients) == ("v3", ("alice", "dr-smith", "stylist-b"))
        assert (notice.previous is not None) == (kind == "rescheduled")


# -- channels and kinds, end to end on moto ---------------------------------------------------------------

def test_a_booking_confirms_by_email_and_sms_with_text_html_unsubscribe_and_the_configuration_set(people):
    recording = Recording(people.ses, "send_email")
    people.use_channels(ses=recording)
    people.contact("alice", ALICE)
    people.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z", details={"title": "Check-up", "location": "Room 4"})
    people.notify()
    [email] = to("alice@example.com")
    assert email.subject == "Example Clinic: Check-up am Dienstag, 1. Dezember 2026 bestätigt"
    assert email.source == SENDER
    [request] = recording.requests
    simple = request["Content"]["Simple"]
    assert "Wann: Dienstag, 1. Dezember 2026, 10:00 (Mitteleuropäische Normalzeit)" in simple["Body"]["Text"]["Data"]
    assert simple["Body"]["Html"]["Data"].startswith("<!DOCTYPE html>")
    assert simple["Headers"] == [{"Name": "List-Unsubscribe", "Value": f"<mailto:{SENDER}?subject=unsubscribe>"}]
    assert request["ConfigurationSetName"] == people.settings.notifying.configuration_set
    assert texts() == [("+4915112345678", "Example Clinic: Check-up ist bestätigt für 01.12.2026, 10:00 "
                                          "(Mitteleuropäische Normalzeit). Room 4.")]


def test_sms_go_out_as_transactional_sms(people):
    recording = Recording(people.sns, "publish")
    people.use_channels(sns=recording)
    people.contact("alice", {**ALICE, "channels": ["sms"]})
    people.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    people.notify()
    [request] = recording.requests
    assert request["PhoneNumber"] == "+4915112345678"
    assert request["MessageAttributes"] == {"AWS.SNS.SMS.SMSType": {"DataType": "String",
                                                                    "StringValue": "Transactional"}}
    assert emails() == []


def test_a_move_sends_the_new_and_the_previous_time_a_cancel_says_so_and_an_edit_sends_nothing(people):
    people.contact("alice", {**ALICE, "locale": "en", "channels": ["email"]})
    booked = people.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    people.notify()
    people.bookings.change(booked.appointment_id, {"details": {"location": "Room 5"}, "reminders": [30]}, Caller())
    people.notify()
    assert len(to("alice@example.com")) == 1  # only the confirmation
    people.bookings.change(booked.appointment_id, {"startTime": "2026-12-02T09:00:00Z",
                                                   "endTime": "2026-12-02T10:00:00Z"}, Caller())
    people.notify()
    moved = to("alice@example.com")[-1]
    assert moved.subject == "Example Clinic: Appointment moved to Wednesday, December 2, 2026"
    people.bookings.cancel(booked.appointment_id, Caller())
    people.notify()
    subjects = [m.subject for m in to("alice@example.com")]
    assert subjects[-1] == "Example Clinic: Appointment on Wednesday, December 2, 2026 is cancelled"
    assert len(subjects) == 3


def test_a_hold_sends_nothing_until_it_is_confirmed_and_a_moved_or_released_one_never(people):
    people.contact("alice", {**ALICE, "locale": "en", "channels": ["email", "sms"]})
    confirmed = people.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z", hold=10)
    released = people.book("2026-12-02T09:00:00Z", "2026-12-02T10:00:00Z", hold=10)
    people.notify()
    people.bookings.change(released.appointment_id, {"startTime": "2026-12-03T09:00:00Z",
                                                     "endTime": "2026-12-03T10:00:00Z"}, Caller())
    people.bookings.cancel(released.appointment_id, Caller())
    people.notify()
    assert (to("alice@example.com"), texts()) == ([], [])
    people.bookings.confirm(confirmed.appointment_id, Caller())
    people.notify()
    [confirmation] = to("alice@example.com")
    assert confirmation.subject == "Example Clinic: Appointment confirmed for Tuesday, December 1, 2026"
    assert len(texts()) == 1


def test_a_reminder_reaches_the_topic_and_each_channel_once_even_when_the_schedule_fires_twice(people):
    inbox = people.inbox()
    people.contact("alice", ALICE)
    booked = people.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z", reminders=[60])
    for _ in range(2):
        answer = people.remind(booked)
    assert answer["outcome"] == "skipped: already sent or being sent"
    assert len(people.messages(inbox)) == 1
    assert [m.subject for m in to("alice@example.com")] == ["Example Clinic: Termin in 1 Stunde"]
    assert [t for _, t in texts()] == ["Example Clinic: Erinnerung, Termin beginnt in 1 Stunde, 01.12.2026, 10:00 "
                                       "(Mitteleuropäische Normalzeit)."]


def test_the_same_stream_batch_and_the_same_bus_event_delivered_twice_send_once(people):
    people.contact("alice", ALICE)
    people.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    people.sync()
    records = people.event_pump.poll()
    for _ in range(2):  # the stream hands the publisher the same batch twice: two events, one eventId
        assert event_publisher.handler({"Records": records}, LambdaContext("EventPublisher-test")) == {
            "batchItemFailures": []}
    people.notices.deliver(lambda event, context: people.delivered.append(event) or notifier.handler(event, context),
                           CONTEXT)
    assert len(people.delivered) == 2
    notifier.handler(people.delivered[0], CONTEXT)  # and the bus delivers one a third time
    assert (len(to("alice@example.com")), len(texts())) == (1, 1)


def test_an_erased_contact_gets_nothing_more_not_even_a_reminder_scheduled_before(people):
    people.contact("alice", ALICE)
    booked = people.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    people.notify()
    people.erase("alice")
    assert people.remind(booked)["outcome"] == "sent"  # the topic still gets it
    people.bookings.cancel(booked.appointment_id, Caller())
    people.notify()
    assert (len(to("alice@example.com")), len(texts())) == (1, 1)  # the confirmation only


def test_a_dropped_channel_stops_and_a_changed_locale_applies_to_the_next_message(people):
    people.contact("alice", ALICE)
    booked = people.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    people.notify()
    people.contact("alice", {**ALICE, "locale": "fr", "channels": ["email"]})
    people.remind(booked)
    assert [m.subject for m in to("alice@example.com")][-1] == "Example Clinic : Rendez-vous dans 1\xa0heure"
    assert len(texts()) == 1  # the confirmation's SMS only


def test_providers_hear_only_when_they_ask_and_never_learn_the_customers_contact(people):
    people.contact("alice", ALICE)
    people.contact("dr-smith", PROVIDER)
    people.contact("room-4", {**PROVIDER, "email": "room@clinic.example", "notifyAsParticipant": False})
    people.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z", participants=["dr-smith", "room-4"],
                details={"title": "Check-up"})
    people.notify()
    [provider] = to("smith@clinic.example")
    assert provider.subject == "Example Clinic : Check-up confirmé pour le mardi 1 décembre 2026"
    assert to("room@clinic.example") == []
    for private in ("Alice", "alice@example.com", "+4915112345678", "alice"):
        assert private not in provider.body
        assert private not in provider.subject
    [(_, sms)] = [t for t in texts() if t[0] == "+33612345678"]
    assert "Alice" not in sms


def test_email_off_sends_no_email_counts_it_skipped_and_still_sends_sms(people, capsys):
    off = replace(people.settings.notifying, sender_email="")
    notifier.use(build_notifications(people.dynamodb, people.ses, people.sns, off, clock=people.clock))
    people.contact("alice", ALICE)
    people.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    capsys.readouterr()
    people.notify()
    assert (emails(), len(texts())) == ([], 1)
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"NotificationsSkipped"' in line]
    assert [(b["kind"], b["channel"]) for b in blobs] == [("confirmation", "email")]


def test_nothing_is_sent_for_an_appointment_that_has_ended_and_no_person_reminder_once_it_started(people):
    people.contact("alice", ALICE)
    booked = people.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    people.sync()
    people.event_pump.deliver(event_publisher.handler, LambdaContext("EventPublisher-test"))
    people.clock.now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # the notifier runs after the end
    people.notices.deliver(notifier.handler, LambdaContext("Notifier-test"))
    people.clock.now = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert people.remind(booked)["outcome"] == "sent"  # the topic, as ever
    assert (emails(), texts()) == ([], [])


def test_sent_messages_are_counted_by_kind_and_channel(people, capsys):
    people.contact("alice", ALICE)
    people.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    capsys.readouterr()
    people.notify()
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"NotificationsSent"' in line]
    assert sorted((b["kind"], b["channel"]) for b in blobs) == [("confirmation", "email"), ("confirmation", "sms")]
    assert all(["kind", "channel", "service"] in b["_aws"]["CloudWatchMetrics"][0]["Dimensions"] for b in blobs)


# -- faults ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("failing", ["ses", "sns"])
def test_a_channel_that_fails_once_is_retried_and_every_message_goes_out_once(people, capsys, failing):
    flaky = Flaky(getattr(people, failing), "send_email" if failing == "ses" else "publish", code="InternalFailure",
                  message="could not deliver to alice@example.com +4915112345678")
    people.use_channels(**{failing: flaky})
    people.contact("alice", ALICE)
    people.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    people.notify()  # the notifier raises: the event stays queued, to be retried
    assert len(emails()) + len(texts()) == 1  # the other channel went out
    output = capsys.readouterr().out
    assert "NotificationsFailed" in output
    for private in ("alice@example.com", "+4915112345678", "Alice Example"):
        assert private not in output
    deadline = time.monotonic() + 10  # SQS hands the event back once its visibility timeout (1 s) ends
    while len(emails()) + len(texts()) < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
        people.notices.deliver(notifier.handler, CONTEXT)
    assert (len(emails()), len(texts())) == (1, 1)
    people.notices.deliver(notifier.handler, CONTEXT)
    assert (len(emails()), len(texts())) == (1, 1)


def test_a_failed_send_raises_an_error_that_names_no_address(people):
    flaky = Flaky(people.ses, "send_email", code="MessageRejected", message="Email address is not verified: "
                                                                             "alice@example.com")
    people.use_channels(ses=flaky)
    people.contact("alice", ALICE)
    booked = people.book("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    with pytest.raises(NotSent) as raised:
        people.remind(booked)
    assert "alice@example.com" not in str(raised.value)
    assert "MessageRejected" in str(raised.value)
    assert raised.value.__suppress_context__ or raised.value.__context__ is None or \
        "alice@example.com" not in str(raised.value.__context__)
    assert people.remind(booked)["messages"] == [{"recipient": "alice", "channel": "email", "outcome": "sent"},
                                                 {"recipient": "alice", "channel": "sms", "outcome": "duplicate"}]


# -- personal data stays in the contact ---------------------------------------------------------------------

def test_contacts_never_appear_in_appointments_events_the_topic_calendar_files_or_logs(people, api, capsys):
    inbox = people.inbox()
    assert api.request("PUT", "/calendars/alice/contact", ALICE).status == 200
    booked = api.post(body={"userId": "alice", "startTime": "2026-12-01T09:00:00Z", "endTime": "2026-12-01T10:00:00Z",
                            "reminders": [60]}).body
    people.notify()
    appointment = people.store.appointment(booked["appointmentId"])
    people.remind(appointment)
    seen = [json.dumps(booked), api.get(f"/appointments/{booked['appointmentId']}", headers={
        "Accept": "text/calendar"}).body, json.dumps(people.delivered), json.dumps(people.messages(inbox)),
        capsys.readouterr().out + capsys.readouterr().err]
    assert len(to("alice@example.com")) == 2  # the confirmation and the reminder did go out
    for private in ("alice@example.com", "+4915112345678", "Alice Example"):
        for text in seen:
            assert private not in text


# -- the property: exactly the expected messages, each at most once -------------------------------------------

DAYS = [f"2026-12-{d:02d}" for d in range(1, 21)]
OPS = st.lists(st.one_of(
    st.tuples(st.just("book"), st.integers(0, 19)),
    st.tuples(st.just("move"), st.integers(0, 2), st.integers(0, 19)),
    st.tuples(st.just("cancel"), st.integers(0, 2)),
    st.tuples(st.just("contact"), st.sampled_from([(), ("email",), ("sms",), ("email", "sms")]),
              st.sampled_from(["en", "de", "es-MX"])),
    st.tuples(st.just("erase")),
    st.tuples(st.just("replay")),
    st.tuples(st.just("remind"), st.integers(0, 2)),
), min_size=1, max_size=12)


@pytest.fixture
def property_people(dynamodb, clock) -> People:
    return People(dynamodb, clock)


class Model:
    """What should be sent: every delivery (an event handed to the notifier, a schedule firing) sends, on each
    channel the contact names at that moment, the message of its kind and key, unless it was sent before."""

    def __init__(self, email: str, phone: str):
        self.email, self.phone = email, phone
        self.contact: dict | None = None
        self.done: set = set()
        self.expected: Counter = Counter()

    def deliver(self, kind: str, appointment: Appointment, key: str, **details) -> None:
        if self.contact is None:
            return
        composed = compose(kind, appointment, Contact(name="P", locale=self.contact["locale"]), BUSINESS, **details)
        for channel in self.contact["channels"]:
            if (appointment.appointment_id, channel, kind, key) in self.done:
                continue
            self.done.add((appointment.appointment_id, channel, kind, key))
            self.expected[("email", self.email, composed.html) if channel == "email"
                          else ("sms", self.phone, composed.sms)] += 1

    def event(self, event: dict) -> None:
        notice = notice_of(event)
        if notice is not None:
            self.deliver(notice.kind, notice.appointment, notice.key, previous=notice.previous)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_each_message_is_sent_at_most_once_and_exactly_the_expected_ones_are(property_people, ops):
    people = property_people
    people.runs = getattr(people, "runs", 0) + 1
    user = f"p{people.runs}"  # each example its own user and addresses
    people.delivered = []  # and its own events to replay
    model = Model(f"{user}@example.com", f"+491511234{people.runs:04d}")
    booked: list[Appointment] = []
    emails_before, texts_before = Counter((m.destinations["ToAddresses"][0], m.body) for m in emails()), \
        Counter(texts())

    def notify(event, context=CONTEXT):
        people.delivered.append(event)
        model.event(event)
        return notifier.handler(event, context)

    last_records: list[dict] = []
    for op in ops:
        if op[0] == "contact":
            model.contact = {"name": "P", "email": model.email, "phone": model.phone, "locale": op[2],
                             "channels": list(op[1])}
            people.contact(user, model.contact)
            continue
        if op[0] == "erase":
            model.contact = None
            people.erase(user)
            continue
        if op[0] == "replay":  # the stream hands the publisher its last batch again, and the bus repeats itself
            if last_records:
                event_publisher.handler({"Records": last_records}, LambdaContext("EventPublisher-test"))
            for event in people.delivered[-2:]:
                notify(event)
            people.notices.deliver(notify, CONTEXT)
            continue
        if op[0] == "remind":
            if op[1] < len(booked) and booked[op[1]].is_scheduled:
                appointment = booked[op[1]]
                for _ in range(2):  # the schedule fires twice
                    model.deliver("reminder", appointment, f"60@{appointment.interval.start:%Y-%m-%dT%H:%M:%SZ}",
                                  minutes_before=60)
                    people.remind(appointment)
            continue
        taken = {a.interval.start.date().isoformat() for a in booked if a.is_scheduled}
        if op[0] == "book":
            if DAYS[op[1]] in taken:
                continue
            booked.append(people.book(f"{DAYS[op[1]]}T09:00:00Z", f"{DAYS[op[1]]}T10:00:00Z", user=user,
                                      reminders=[60], details={"title": f"A{len(booked)}"}))
        elif op[0] == "move":
            if op[1] >= len(booked) or not booked[op[1]].is_scheduled or DAYS[op[2]] in taken:
                continue
            booked[op[1]] = people.bookings.change(booked[op[1]].appointment_id, {
                "startTime": f"{DAYS[op[2]]}T09:00:00Z", "endTime": f"{DAYS[op[2]]}T10:00:00Z"}, Caller())
        elif op[0] == "cancel":
            if op[1] >= len(booked) or not booked[op[1]].is_scheduled:
                continue
            booked[op[1]] = people.bookings.cancel(booked[op[1]].appointment_id, Caller())
        people.sync()
        last_records = people.event_pump.poll()
        event_publisher.handler({"Records": last_records}, LambdaContext("EventPublisher-test"))
        people.notices.deliver(notify, CONTEXT)
    got = Counter({("email", address, body): n for (address, body), n in
                   (Counter((m.destinations["ToAddresses"][0], m.body) for m in emails()) - emails_before).items()})
    got += Counter({("sms", number, text): n for (number, text), n in (Counter(texts()) - texts_before).items()})
    got = Counter({k: v for k, v in got.items() if k[1] in (model.email, model.phone)})
    assert all(n == 1 for n in got.values()), "a message was sent twice"
    assert got == model.expected
