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
    from appointments.events import EventPublishing
    from appointments.reminders import Reminders, ReminderScheduling
    from appointments.series_bookings import SeriesBookings
    from appointments.settings import ApiSettings, PublisherSettings, SchedulerSettings
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
    """What the API function serves with: the commands and the reads, over the same tables."""

    bookings: Bookings
    calendars: Calendars
    series: SeriesBookings

    @property
    def tables(self) -> Tables:
        return self.calendars.tables


def build_services(dynamodb, settings: ApiSettings, *, clock: Clock = utc_now,
                   sleep: Callable[[float], None] = time.sleep, store_class=None) -> Services:
    from appointments.bookings import Bookings
    from appointments.calendars import Calendars
    from appointments.cursors import PageCursors
    from appointments.retries import Backoff
    from appointments.series_bookings import SeriesBookings
    from appointments.store import BookingStore, Tables

    tables = Tables(dynamodb, settings.table_name, settings.calendar_table_name, Backoff(sleep))
    store = (store_class or BookingStore)(tables)
    return Services(Bookings(store, clock=clock, sleep=sleep),
                    Calendars(tables, PageCursors(settings.stack_id), clock=clock, sleep=sleep),
                    SeriesBookings(store, clock=clock, sleep=sleep))


def build_delivery(dynamodb, sns, *, table_name: str, topic_arn: str, clock: Clock = utc_now) -> Reminders:
    """The at-most-once reminder delivery: the sender's, and the stream consumer's for a reminder due
    within a minute. Its ledger reaches AppointmentsTable only as their roles allow (GetItem, UpdateItem)."""
    from appointments.adapters import ReminderPublisher
    from appointments.ledger import ReminderLedger
    from appointments.reminders import Reminders
    from appointments.store import Tables

    return Reminders(ReminderLedger(Tables(dynamodb, table_name)), ReminderPublisher(sns, topic_arn), clock=clock)


def build_scheduling(scheduler, dynamodb, sns, settings: SchedulerSettings, *,
                     clock: Clock = utc_now) -> ReminderScheduling:
    from appointments.adapters import ReminderSchedules, ScheduleTarget
    from appointments.reminders import ReminderScheduling

    target = ScheduleTarget(settings.reminder_function_arn, settings.scheduler_role_arn,
                            settings.dead_letter_queue_arn)
    return ReminderScheduling(ReminderSchedules(scheduler, settings.schedule_group, target),
                              build_delivery(dynamodb, sns, table_name=settings.table_name,
                                             topic_arn=settings.topic_arn, clock=clock), clock=clock)


def build_publishing(events, settings: PublisherSettings) -> EventPublishing:
    from appointments.adapters import EventBus
    from appointments.events import EventPublishing

    return EventPublishing(EventBus(events, settings.event_bus_name))
