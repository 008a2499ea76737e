"""The reminder ledger: which reminders were sent, on the appointment item, claimed before each send.

Built by the sender (and by the stream consumer, for a reminder due within a minute) with exactly
what their roles allow on AppointmentsTable: GetItem and UpdateItem.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from appointments.appointment import Appointment
from appointments.codecs import to_item
from appointments.store import Tables
from appointments.times import format_instant


class ReminderLedger:
    def __init__(self, tables: Tables):
        self.tables = tables
        self.dynamodb = tables.dynamodb

    def appointment(self, appointment_id: str) -> Appointment | None:
        return self.tables.appointment(appointment_id)

    def claim(self, appointment: Appointment, marker: str, now: datetime, lease: timedelta) -> bool:
        """Claim the right to send one reminder; False if it was sent, is being sent, or no longer applies.

        The claim is conditioned on the appointment still being scheduled at the same start, so a
        cancel or reschedule that lands after the sender's read still stops the reminder. A claim
        whose sender died expires after ``lease`` and may be taken again.
        """
        try:
            self.tables.call(
                self.dynamodb.update_item,
                TableName=self.tables.table,
                Key=to_item({"appointmentId": appointment.appointment_id}),
                UpdateExpression="SET reminderClaims.#marker = :now",
                ConditionExpression=("#status = :scheduled AND #start = :start AND NOT contains(remindersSent, :marker)"
                                     " AND (attribute_not_exists(reminderClaims.#marker) OR "
                                     "reminderClaims.#marker < :expired)"),
                ExpressionAttributeNames={"#marker": marker, "#status": "status", "#start": "startTime"},
                ExpressionAttributeValues=to_item({
                    ":now": int(now.timestamp()), ":expired": int((now - lease).timestamp()),
                    ":scheduled": "scheduled", ":start": format_instant(appointment.interval.start),
                    ":marker": marker}),
            )
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def mark_sent(self, appointment_id: str, marker: str) -> None:
        self.tables.call(
            self.dynamodb.update_item, TableName=self.tables.table, Key=to_item({"appointmentId": appointment_id}),
            UpdateExpression="ADD remindersSent :marker REMOVE reminderClaims.#marker",
            ExpressionAttributeNames={"#marker": marker},
            ExpressionAttributeValues={":marker": {"SS": [marker]}},
        )
