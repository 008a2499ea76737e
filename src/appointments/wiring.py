"""How entry points get their dependencies: built on first use from the environment, or handed in.

The ``build_*`` functions are the one place where the object graph is put together from clients,
settings and a clock; the handlers call them with the runtime's boto3 clients, and tests, the local
stack and the benchmark with their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from appointments.times import utc_now

if TYPE_CHECKING:
    from appointments.bookings import Bookings
    from appointments.calendars import Calendars
    from appointments.contact_book import ContactBook
    from appointments.events import EventPublishing
    from appointments.manage import ManagePages
    from appointments.notifications import Notifications
    from appointments.reminders import Reminders, ReminderScheduling
    from appointments.series_bookings import SeriesBookings
    from appointments.settings import (
        ApiSettings,
        MessageSettings,
        PublisherSettings,
        SchedulerSettings,
        SenderSettings,
    )
    from appointments.store import Tables

T = TypeVar("T")
Clock = Callable[[], datetime]


class Lazy(Generic[T]):
    """One dependency of a handler module. Building it lazily keeps imports free of AWS calls;
    ``use`` lets tests and the local stack hand in their own, without patching module globals."""

    everyone: ClassVar[list[Lazy]] = []

    def __init__(self, build: Callable[[], T]):
        self._build = build
        self._value: T | None = None
        Lazy.everyone.append(self)

    def __call__(self) -> T:
        if self._value is None:
            self._value = self._build()
        return self._value

    def use(self, value: T) -> None:
        self._value = value

    @classmethod
    def reset_all(cls) -> None:
        """Forget every built or handed-in dependency (between tests)."""
        for lazy in cls.everyone:
            lazy._value = None


def aws_client(service: str):
    """A boto3 client for a handler: botocore's standard retry mode with a short budget, so a throttled
    call gives up within about a second and the caller answers 503 instead of timing out."""
    import boto3
    from botocore.config import Config

    return boto3.client(service, config=Config(retries={"mode": "standard", "max_attempts": 3}))


@dataclass(frozen=True)
class Services:
    """What the API function serves with: the commands, the reads and the contacts, over the same tables."""

    bookings: Bookings
    calendars: Calendars
    series: SeriesBookings
    contacts: ContactBook
    manage: ManagePages  # the pages behind manage links

    @property
    def tables(self) -> Tables:
        return self.calendars.tables


def build_services(dynamodb, settings: ApiSettings, *, signing_key: Callable[[], str] | None = None,
                   clock: Clock = utc_now, sleep: Callable[[float], None] = time.sleep, store_class=None) -> Services:
    """``signing_key`` gives the secret page tokens and manage links are keyed with (each derives its own key);
    by default it is read, on first use, from Secrets Manager (``settings.signing_key_arn``) with a client made
    then."""
    from appointments.bookings import Bookings
    from appointments.calendars import Calendars
    from appointments.contact_book import ContactBook
    from appointments.contacts_store import ContactsStore
    from appointments.cursors import PageCursors
    from appointments.manage import ManagePages
    from appointments.manage_links import ManageLinks
    from appointments.retries import Backoff
    from appointments.series_bookings import SeriesBookings
    from appointments.signing_key import SigningKey
    from appointments.store import BookingStore, Tables

    if signing_key is None:
        signing_key = SigningKey(lambda: aws_client("secretsmanager"), settings.signing_key_arn)
    tables = Tables(dynamodb, settings.table_name, settings.calendar_table_name, Backoff(sleep))
    store = (store_class or BookingStore)(tables)
    bookings = Bookings(store, clock=clock, sleep=sleep)
    calendars = Calendars(tables, PageCursors(signing_key), clock=clock, sleep=sleep)
    return Services(bookings, calendars, SeriesBookings(store, clock=clock, sleep=sleep),
                    ContactBook(tables, clock=clock, sleep=sleep),
                    ManagePages(tables, ContactsStore(tables), ManageLinks(signing_key), bookings, calendars,
                                clock=clock))


def build_notifications(dynamodb, sesv2, sns, settings: MessageSettings, *,
                        clock: Clock = utc_now, signing_key: Callable[[], str] | None = None) -> Notifications:
    """Messages to people: contacts and the message ledger in CalendarTable, e-mail from the sender identity
    (none: e-mail is off), SMS through SNS, each with its recipient's manage link when the settings name the
    stage URL and the signing key (``signing_key`` gives it; by default it is read from Secrets Manager, once,
    when the first link is made)."""
    from appointments.channels import EMAIL_CHANNEL, SMS_CHANNEL, EmailChannel, SmsChannel
    from appointments.contacts_store import ContactsStore
    from appointments.ledger import MessageLedger
    from appointments.manage_links import ManageLinks
    from appointments.notifications import Notifications
    from appointments.signing_key import SigningKey
    from appointments.store import Tables

    tables = Tables(dynamodb, "", settings.calendar_table_name)
    channels = {EMAIL_CHANNEL: EmailChannel(sesv2, settings.sender_email, settings.configuration_set),
                SMS_CHANNEL: SmsChannel(sns)}
    links = None
    if settings.manage_base_url and (signing_key or settings.signing_key_arn):
        links = ManageLinks(signing_key or SigningKey(lambda: aws_client("secretsmanager"), settings.signing_key_arn),
                            settings.manage_base_url)
    return Notifications(ContactsStore(tables), MessageLedger(tables), channels, settings.business_name, clock=clock,
                         links=links)


def build_delivery(dynamodb, sns, sesv2, settings: SenderSettings, *,
                   clock: Clock = utc_now, signing_key: Callable[[], str] | None = None) -> Reminders:
    """The at-most-once reminder delivery: the sender's, and the stream consumer's for a reminder due within a
    minute. It reads AppointmentsTable (GetItem) and writes only CalendarTable (the message ledger)."""
    from appointments.adapters import ReminderPublisher
    from appointments.ledger import MessageLedger
    from appointments.reminders import Reminders
    from appointments.store import Tables

    tables = Tables(dynamodb, settings.table_name, settings.calendar_table_name)
    return Reminders(tables, MessageLedger(tables), ReminderPublisher(sns, settings.topic_arn),
                     build_notifications(dynamodb, sesv2, sns, settings, clock=clock, signing_key=signing_key),
                     clock=clock)


def build_scheduling(scheduler, dynamodb, sns, sesv2, settings: SchedulerSettings, *,
                     clock: Clock = utc_now, signing_key: Callable[[], str] | None = None) -> ReminderScheduling:
    from appointments.adapters import ReminderSchedules, ScheduleTarget
    from appointments.reminders import ReminderScheduling

    target = ScheduleTarget(settings.reminder_function_arn, settings.scheduler_role_arn,
                            settings.dead_letter_queue_arn)
    return ReminderScheduling(ReminderSchedules(scheduler, settings.schedule_group, target),
                              build_delivery(dynamodb, sns, sesv2, settings, clock=clock, signing_key=signing_key),
                              clock=clock)


def build_publishing(events, settings: PublisherSettings) -> EventPublishing:
    from appointments.adapters import EventBus
    from appointments.events import EventPublishing

    return EventPublishing(EventBus(events, settings.event_bus_name))
