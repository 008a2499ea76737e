"""Appointment events (API.md, "Appointment events"): what each committed change tells other systems.

``appointment_event`` turns a stream record's images into at most one event. ``EventPublishing``
publishes a stream batch's events in order, ten to a ``PutEvents`` call, and says from which record
the stream must retry when a call or an entry fails. Neither calls AWS; the bus is an adapter
(``adapters.EventBus``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from appointments.appointment import HELD, SCHEDULED, Appointment
from appointments.codecs import appointment_images
from appointments.representations import appointment_json

SOURCE = "appointments"
# The detail types (API.md, "Appointment events"); apart from the appointment's status names.
APPOINTMENT_BOOKED, APPOINTMENT_RESCHEDULED = "AppointmentBooked", "AppointmentRescheduled"
APPOINTMENT_CHANGED, APPOINTMENT_CANCELLED = "AppointmentChanged", "AppointmentCancelled"
APPOINTMENT_HELD, APPOINTMENT_OUTCOME_RECORDED = "AppointmentHeld", "AppointmentOutcomeRecorded"
ENTRIES_PER_CALL = 10  # PutEvents' limit


@dataclass(frozen=True)
class AppointmentEvent:
    detail_type: str
    appointment: Appointment
    previous: Appointment | None

    @property
    def event_id(self) -> str:
        """The same for every delivery of one version: consumers deduplicate on it."""
        return f"{self.appointment.appointment_id}:{self.appointment.version}"

    @property
    def time(self) -> datetime:
        """When the change was committed, so a republished event is identical to the first."""
        return self.appointment.updated_at

    def detail(self) -> dict:
        return {"eventId": self.event_id, "appointment": appointment_json(self.appointment),
                "previous": appointment_json(self.previous) if self.previous else None}


def appointment_event(old: Appointment | None, new: Appointment | None) -> AppointmentEvent | None:
    """The event a stream record stands for; None when the record is no new version of an appointment
    (a write that keeps the version, as the reminder ledger's were while it lived on the appointment item,
    is none; and appointments are never removed). A hold's expiry writes nothing, so it publishes nothing."""
    if new is None:
        return None
    if old is None:
        return AppointmentEvent(APPOINTMENT_HELD if new.status == HELD else APPOINTMENT_BOOKED, new, None)
    if new.version <= old.version:
        return None
    if not new.occupies:
        return AppointmentEvent(APPOINTMENT_CANCELLED, new, old)
    if (old.status, new.status) == (HELD, SCHEDULED):
        return AppointmentEvent(APPOINTMENT_BOOKED, new, old)
    if new.outcome != old.outcome:
        return AppointmentEvent(APPOINTMENT_OUTCOME_RECORDED, new, old)
    if new.interval != old.interval:
        return AppointmentEvent(APPOINTMENT_RESCHEDULED, new, old)
    return AppointmentEvent(APPOINTMENT_CHANGED, new, old)


# -- publishing a stream batch ---------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    """One stream record: its sequence number, and its event if it has one."""

    sequence_number: str
    event: AppointmentEvent | None


def change_of(record: dict) -> Change:
    """A table stream record's ``dynamodb`` part as a Change; raises KeyError, TypeError or ValueError
    when its images are not an appointment's."""
    return Change(record["SequenceNumber"], appointment_event(*appointment_images(record)))


class Bus(Protocol):
    def put(self, events: Sequence[AppointmentEvent]) -> list[int]:
        """Put the events in one call; return the indexes of the entries the bus refused. Raises when
        the call as a whole fails."""


@dataclass(frozen=True)
class Published:
    calls: int
    events: int
    retry_from: str | None = None  # the sequence number the stream must retry from
    reason: str | None = None


def calls_for(changes: Sequence[Change]) -> list[list[int]]:
    """The indexes of the changes with events, grouped into PutEvents calls in stream order: at most
    ten a call, and never two events of one appointment in a call, so that each version is put only
    after the one before it was accepted."""
    calls: list[list[int]] = []
    in_call: set[str] = set()
    for index, change in enumerate(changes):
        if change.event is None:
            continue
        appointment_id = change.event.appointment.appointment_id
        if not calls or len(calls[-1]) == ENTRIES_PER_CALL or appointment_id in in_call:
            calls.append([])
            in_call = set()
        calls[-1].append(index)
        in_call.add(appointment_id)
    return calls


class EventPublishing:
    """Publish a batch's events, call by call; stop at the first refusal. The stream then retries from
    the first change not known to be published, so nothing is lost and no appointment's versions are
    reordered; what was published after it is published again, with the same ``eventId``."""

    def __init__(self, bus: Bus):
        self.bus = bus

    def publish(self, changes: Sequence[Change]) -> Published:
        calls = published = 0
        for indexes in calls_for(changes):
            calls += 1
            try:
                refused = self.bus.put([changes[i].event for i in indexes])
            except Exception as error:  # the call failed as a whole: none of its entries is known to be in
                return Published(calls, published, changes[indexes[0]].sequence_number,
                                 f"PutEvents failed: {type(error).__name__}: {error}")
            if refused:
                first = indexes[min(refused)]
                return Published(calls, published + len(indexes) - len(refused), changes[first].sequence_number,
                                 f"the bus refused {len(refused)} of {len(indexes)} entries")
            published += len(indexes)
        return Published(calls, published)
