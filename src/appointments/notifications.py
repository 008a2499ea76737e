"""Messages to people: for one appointment and one kind, each recipient on each of its channels, exactly once.

The recipients are the contact of the appointment's ``userId`` and, where ``notifyAsParticipant`` is true,
the contacts of its participants (and ``assigned``). Contacts are read when the message is sent (one
consistent BatchGetItem), so an erased contact or a dropped channel gets nothing, even from a reminder
scheduled before. Each message is claimed in the ledger before it is sent and marked after; a duplicate
delivery finds it sent and sends nothing. Nothing is sent for an appointment that has ended.

A send that fails gives its claim back and the others are still tried; then ``NotSent`` is raised, so the
caller's retries (Lambda's, the stream's) try again, and only the messages not sent yet go out. A message
another sender holds a live claim on raises too (that sender may have died): a retry after the lease sends
it or finds it sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from appointments.appointment import Appointment
from appointments.channels import ChannelFailed
from appointments.contacts import Contact
from appointments.contacts_store import ContactsStore
from appointments.ledger import Claimed, MessageKey, MessageLedger
from appointments.manage_links import ManageLinks
from appointments.times import Interval, utc_now

CLAIM_LEASE = timedelta(seconds=30)  # shorter than Lambda's first async retry delay (about a minute)
SENT, SKIPPED, FAILED, DUPLICATE, IN_FLIGHT = "sent", "skipped", "failed", "duplicate", "in flight"


@dataclass(frozen=True)
class Delivery:
    """What became of one message. ``recipient`` is a calendar ID; an address never appears here."""

    kind: str
    channel: str
    recipient: str
    outcome: str
    reason: str = ""


class NotSent(Exception):
    """Some messages were not sent (a channel failed, or another sender holds them); retry the delivery."""

    def __init__(self, deliveries: list[Delivery]):
        failed = [d for d in deliveries if d.outcome in (FAILED, IN_FLIGHT)]
        super().__init__("; ".join(f"{d.kind} to {d.recipient} by {d.channel}: {d.reason or d.outcome}"
                                   for d in failed))
        self.deliveries = deliveries


def recipients_of(appointment: Appointment) -> list[str]:
    """The calendars whose contacts may hear of the appointment: its user first, then every other calendar
    it occupies (participants, and ``assigned`` once pools exist)."""
    calendars = [*appointment.calendars, getattr(appointment, "assigned", None)]
    return [c for c in dict.fromkeys(calendars) if c]


class Notifications:
    def __init__(self, contacts: ContactsStore, ledger: MessageLedger, channels: dict, business_name: str,
                 clock: Callable[[], datetime] = utc_now, links: ManageLinks | None = None):
        self.contacts = contacts
        self.ledger = ledger
        self.channels = channels  # channel name -> EmailChannel / SmsChannel
        self.business_name = business_name
        self.clock = clock
        self.links = links  # each message carries its recipient's manage link; None: messages carry none

    def send(self, kind: str, appointment: Appointment, key: str, *, previous: Interval | None = None,
             minutes_before: int | None = None, recipients: list[str] | None = None) -> list[Delivery]:
        """Send the ``kind`` message keyed ``key`` (``ledger.reminder_key`` or ``ledger.change_key``) to every
        recipient's channels; raises NotSent after trying them all if any was not sent."""
        if self.clock() >= appointment.interval.end:
            return []  # the appointment has ended: never a message about it
        recipients = recipients or recipients_of(appointment)
        found = self.contacts.of(recipients)
        deliveries = []
        for recipient in recipients:
            contact = found.get(recipient)
            if contact is None or (recipient != appointment.user_id and not contact.notify_as_participant):
                continue
            composed = []
            for channel in contact.channels:
                deliveries.append(self._deliver(kind, appointment, key, recipient, contact, channel, composed,
                                                previous=previous, minutes_before=minutes_before))
        if any(d.outcome in (FAILED, IN_FLIGHT) for d in deliveries):
            raise NotSent(deliveries)
        return deliveries

    def _deliver(self, kind: str, appointment: Appointment, key: str, recipient: str, contact: Contact,
                 channel: str, composed: list, **details) -> Delivery:
        sender = self.channels.get(channel)
        if sender is None or not sender.enabled:
            return Delivery(kind, channel, recipient, SKIPPED, f"{channel} is off")
        message_key = MessageKey(appointment.appointment_id, recipient, channel, kind, key)
        now = self.clock()
        claimed = self.ledger.claim(message_key, now, CLAIM_LEASE, appointment.interval.end)
        if claimed is Claimed.SENT:
            return Delivery(kind, channel, recipient, DUPLICATE, "already sent")
        if claimed is Claimed.IN_FLIGHT:
            return Delivery(kind, channel, recipient, IN_FLIGHT, "another sender holds it")
        if not composed:
            from appointments.messages import compose  # Babel and the texts load on this path only

            link = (self.links.link(appointment.appointment_id, recipient, appointment.interval.end)
                    if self.links else None)
            composed.append(compose(kind, appointment, contact, self.business_name, link=link, **details))
        try:
            sender.send(contact.address(channel), composed[0])
        except ChannelFailed as error:
            self.ledger.release(message_key, now)
            return Delivery(kind, channel, recipient, FAILED, error.code)
        self.ledger.mark_sent(message_key, self.clock())
        return Delivery(kind, channel, recipient, SENT)

