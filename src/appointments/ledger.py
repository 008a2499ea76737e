"""The message ledger: which messages were sent, one item per message in CalendarTable, claimed before each send.

A message is one (appointment, recipient, channel, kind, key): the key is the reminder's offset and start
(``60@2026-12-01T09:00:00Z``) or the change's version (``v3``). Its item lives in the partition
``ledger#<appointmentId>`` (calendar IDs never hold ``#``, so no calendar's items are there), sort key
``<recipient>#<channel>#<kind>#<key>``; the SNS topic reminder is recipient ``*`` on channel ``topic``.

``claim`` is one conditional write before the send: it succeeds only if the message was never sent and
no other sender holds a live claim (a claim whose sender died expires after its lease). ``mark_sent``
settles it after the send; ``release`` gives a claim up after a failed send, so a retry need not wait for
the lease. Every item expires (TTL ``expiresAt``) a day after its appointment ends: no message is sent for
an appointment that has ended, so no claim is needed after that.

CalendarTable has no stream, so the ledger's writes wake no consumer and rewrite no index (it lived on
the appointment item before, where every claim and mark rewrote its index entry and emitted two stream
records). The claim is not conditioned on the appointment any more: the sender reads the appointment
consistently right before it claims, so a cancel or a move that commits before that read stops the
message, and one that commits between the read and the send is the same race any send has.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from appointments.codecs import to_item
from appointments.store import Tables

LEDGER_PARTITION = "ledger#"
TOPIC, ALL_SUBSCRIBERS = "topic", "*"  # the SNS topic reminder's channel and recipient
KEPT_AFTER_END = timedelta(days=1)


def reminder_key(minutes_before: int, start_time: str) -> str:
    return f"{minutes_before}@{start_time}"


def change_key(version: int) -> str:
    return f"v{version}"


@dataclass(frozen=True)
class MessageKey:
    """One message: at most one send per key, ever."""

    appointment_id: str
    recipient: str
    channel: str
    kind: str
    key: str

    def item_key(self) -> dict:
        return to_item({"userId": f"{LEDGER_PARTITION}{self.appointment_id}",
                        "day": f"{self.recipient}#{self.channel}#{self.kind}#{self.key}"})


class Claimed(Enum):
    CLAIMED = "claimed"  # this sender may send it now
    SENT = "sent"  # it was sent before
    IN_FLIGHT = "in flight"  # another sender holds a live claim (it may be sending it right now)


class MessageLedger:
    def __init__(self, tables: Tables):
        self.tables = tables
        self.dynamodb = tables.dynamodb

    def claim(self, message: MessageKey, now: datetime, lease: timedelta, ends: datetime) -> Claimed:
        """Claim the right to send one message, with a lease; the item expires a day after ``ends``."""
        try:
            self.tables.call(
                self.dynamodb.update_item, TableName=self.tables.calendar, Key=message.item_key(),
                UpdateExpression="SET #claimed = :now, #expires = :expires",
                ConditionExpression=("attribute_not_exists(#sent) AND "
                                     "(attribute_not_exists(#claimed) OR #claimed < :stale)"),
                ExpressionAttributeNames={"#claimed": "claimedAt", "#sent": "sentAt", "#expires": "expiresAt"},
                ExpressionAttributeValues=to_item({":now": int(now.timestamp()),
                                                   ":stale": int((now - lease).timestamp()),
                                                   ":expires": int((ends + KEPT_AFTER_END).timestamp())}),
                ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except self.dynamodb.exceptions.ConditionalCheckFailedException as error:
            held = error.response.get("Item", {})
            return Claimed.SENT if "sentAt" in held else Claimed.IN_FLIGHT
        return Claimed.CLAIMED

    def mark_sent(self, message: MessageKey, now: datetime) -> None:
        self.tables.call(self.dynamodb.update_item, TableName=self.tables.calendar, Key=message.item_key(),
                         UpdateExpression="SET #sent = :now REMOVE #claimed",
                         ExpressionAttributeNames={"#sent": "sentAt", "#claimed": "claimedAt"},
                         ExpressionAttributeValues=to_item({":now": int(now.timestamp())}))

    def release(self, message: MessageKey, claimed_at: datetime) -> None:
        """Give up this sender's claim after a failed send (only if it is still this one's)."""
        # Another sender's claim by now, or sent: nothing of ours to give up.
        with contextlib.suppress(self.dynamodb.exceptions.ConditionalCheckFailedException):
            self.tables.call(self.dynamodb.update_item, TableName=self.tables.calendar, Key=message.item_key(),
                             UpdateExpression="REMOVE #claimed",
                             ConditionExpression="#claimed = :mine AND attribute_not_exists(#sent)",
                             ExpressionAttributeNames={"#claimed": "claimedAt", "#sent": "sentAt"},
                             ExpressionAttributeValues=to_item({":mine": int(claimed_at.timestamp())}))
