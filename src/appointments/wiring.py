"""How entry points hold their dependencies: built from the environment on first use, or handed in."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from appointments.reminders import Reminders

T = TypeVar("T")


class Lazy(Generic[T]):
    """One dependency of a handler module. Building it lazily keeps imports free of AWS calls;
    ``use`` lets tests and the local stack hand in their own, without patching module globals."""

    def __init__(self, build: Callable[[], T]):
        self._build = build
        self._value: T | None = None

    def __call__(self) -> T:
        if self._value is None:
            self._value = self._build()
        return self._value

    def use(self, value: T) -> None:
        self._value = value


def reminder_delivery(table_name: str, topic_arn: str) -> Reminders:
    """The at-most-once reminder delivery, on the runtime's clients: the sender's, and the stream
    consumer's for a reminder due within a minute."""
    import boto3

    from appointments.reminders import ReminderPublisher, Reminders
    from appointments.store import AppointmentStore

    return Reminders(AppointmentStore(boto3.client("dynamodb"), table_name),
                     ReminderPublisher(boto3.client("sns"), topic_arn))
