"""Manage pages (API.md, "Manage links"): what one recipient's link shows, and what it may do.

First the link is checked (``ManageLinks``): a token that is not one, or that verifies for no calendar of the
appointment it names, is NotFound with the same words whatever was wrong, so nothing about any appointment
is revealed; a token past its expiry is LinkExpired. Then the view: the appointment as it is now, the
recipient's own contact (their name, language and zone; never anyone else's), and, on the customer's link
while the appointment can still move, the next times it could move to. Those come from
``Calendars.moves``: the same calendars, the same ``decide()`` as a PATCH.

A cancel is ``Bookings.cancel`` and a move ``Bookings.change`` with the new times, exactly as DELETE and PATCH
do them (the same decision, conflicts, rules, events and messages), acting as the appointment's user. A
provider's link (a participant's) only reads; once the appointment has started neither is possible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from appointments.appointment import Appointment, require_still_on
from appointments.caller import Caller
from appointments.contacts import Contact, resolve_locale
from appointments.errors import (
    AppointmentError,
    Forbidden,
    LinkExpired,
    NotCancellable,
    NotFound,
    ValidationError,
)
from appointments.manage_links import ManageLinks
from appointments.times import Interval, format_instant, parse_instant, utc_now

if TYPE_CHECKING:  # the page (manage_page) needs only the view, without the data layer
    from appointments.bookings import Bookings
    from appointments.calendars import Calendars
    from appointments.contacts_store import ContactsStore
    from appointments.store import Tables

MOVE_SEARCH = timedelta(days=14)  # how far ahead the page looks for times to move to
MOVES_OFFERED = 8
NOT_A_LINK = "This link is not valid; open it again from the message it came in, copied whole."
CANCELLED_NOW, MOVED_NOW = "cancelled", "moved"  # what a request did, for the page to say


def move_step(duration: timedelta) -> timedelta:
    """The spacing of the times offered: a quarter hour for short appointments, a half for those under an
    hour, else an hour."""
    minutes = 15 if duration < timedelta(minutes=30) else 30 if duration < timedelta(hours=1) else 60
    return timedelta(minutes=minutes)


def move_window(now: datetime, zone: ZoneInfo, step: timedelta) -> Interval:
    """From the first local time on the ``step`` grid (within the hour) after ``now``, for ``MOVE_SEARCH``."""
    local = now.astimezone(zone)
    hour = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    steps = -(-(now - hour) // step)  # ceiling
    start = hour + steps * step
    return Interval(start, start + MOVE_SEARCH)


@dataclass(frozen=True)
class ManageView:
    """One recipient's view of one appointment, now."""

    appointment: Appointment  # as of ``now``
    recipient: str  # the calendar the link was issued to
    contact: Contact | None  # the recipient's own contact, if they have one
    slots: tuple[Interval, ...]  # where it may move to (none on a participant's link, or once it cannot move)
    now: datetime
    done: str | None = None  # what this request did: CANCELLED_NOW or MOVED_NOW

    @property
    def customer(self) -> bool:
        """The link is the appointment's user's: it may cancel and move (a participant's only reads)."""
        return self.recipient == self.appointment.user_id

    @property
    def started(self) -> bool:
        return self.appointment.interval.start <= self.now

    @property
    def changeable(self) -> bool:
        return self.customer and self.appointment.occupies and not self.started

    @property
    def locale(self) -> str:
        return resolve_locale(self.contact.locale if self.contact else None)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo((self.contact.time_zone if self.contact else None) or self.appointment.time_zone)


class ManagePages:
    def __init__(self, tables: Tables, contacts: ContactsStore, links: ManageLinks, bookings: Bookings,
                 calendars: Calendars, *, clock: Callable[[], datetime] = utc_now):
        self.tables = tables
        self.contacts = contacts
        self.links = links
        self.bookings = bookings
        self.calendars = calendars
        self.clock = clock

    def view(self, token: str) -> ManageView:
        appointment, recipient, contact = self._checked(token)
        return self._view(appointment, recipient, contact)

    def cancel(self, token: str) -> ManageView:
        """Cancel, as ``DELETE /appointments/{id}`` does (a cancelled one is returned as it is)."""
        appointment, recipient, contact = self._checked(token)
        page = self._view(appointment, recipient, contact, with_slots=False)
        try:
            self._may_act(page)
            if page.appointment.occupies and page.started:
                raise NotCancellable()
            cancelled = self.bookings.cancel(appointment.appointment_id, Caller(subject=appointment.user_id))
        except AppointmentError as error:
            error.shown_on = page
            raise
        done = CANCELLED_NOW if cancelled.version != appointment.version else None
        return self._view(cancelled, recipient, contact, done=done)

    def reschedule(self, token: str, start_of: Callable[[], str]) -> ManageView:
        """Move to the start ``start_of`` reads from the request (once the link is checked, so a link that is not
        valid is NotFound whatever the body), one of the times the page offers (or where it already is), with
        the same duration, as ``PATCH /appointments/{id}`` with the new times does."""
        appointment, recipient, contact = self._checked(token)
        page = self._view(appointment, recipient, contact, with_slots=False)
        try:
            self._may_act(page)
            require_still_on(page.appointment, "moved")
            if page.started:
                raise NotCancellable()
            page = self._view(appointment, recipient, contact)
            moved_to = parse_instant(start_of(), "startTime")
            if moved_to != appointment.interval.start and moved_to not in (s.start for s in page.slots):
                raise ValidationError("startTime is not one of the times this page offers now; pick one of them.",
                                      "startTime")
            duration = appointment.interval.end - appointment.interval.start
            moved = self.bookings.change(appointment.appointment_id,
                                         {"startTime": format_instant(moved_to),
                                          "endTime": format_instant(moved_to + duration)},
                                         Caller(subject=appointment.user_id))
        except AppointmentError as error:
            if error.status == 409 and page.changeable:  # the time was taken meanwhile: offer the times free now
                page = self._view(self.tables.appointment(appointment.appointment_id) or appointment, recipient,
                                  contact)
            error.shown_on = page
            raise
        done = MOVED_NOW if moved.version != appointment.version else None
        return self._view(moved, recipient, contact, done=done)

    # -- checks ----------------------------------------------------------------------------------------------

    def _checked(self, token: str) -> tuple[Appointment, str, Contact | None]:
        """The appointment a valid, unexpired token names, the calendar it was issued to, and that calendar's
        contact; NotFound (saying nothing more) or LinkExpired otherwise."""
        claim = ManageLinks.read(token)
        appointment = self.tables.appointment(claim.appointment_id) if claim else None
        recipient = self.links.recipient(claim, appointment.calendars) if appointment else None
        if recipient is None:
            raise NotFound(NOT_A_LINK)
        contact = self.contacts.get(recipient)
        now = self.clock()
        if now >= claim.expires_at:
            error = LinkExpired()
            error.shown_on = ManageView(appointment.as_of(now), recipient, contact, (), now)
            raise error
        return appointment, recipient, contact

    @staticmethod
    def _may_act(page: ManageView) -> None:
        if not page.customer:
            raise Forbidden("This link is a participant's: it shows the appointment, and only the customer's own "
                            "link can cancel or move it.")

    def _view(self, appointment: Appointment, recipient: str, contact: Contact | None, *, done: str | None = None,
              with_slots: bool = True) -> ManageView:
        now = self.clock()
        page = ManageView(appointment.as_of(now), recipient, contact, (), now, done)
        if not (with_slots and page.changeable):
            return page
        step = move_step(appointment.interval.end - appointment.interval.start)
        slots = self.calendars.moves(page.appointment, move_window(now, page.zone, step), step, MOVES_OFFERED)
        return ManageView(page.appointment, recipient, contact, tuple(slots), now, done)
