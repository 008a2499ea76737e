"""Who is calling, and what the Cognito rules let them do (API.md, "Who may do what").

Under IAM (a trusted back end acting for users) or with no authorizer there is no subject, and every
rule allows everything. The handler builds the caller once from the authorizer's claims.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from appointments.appointment import Appointment, validate_calendar_id
from appointments.availability import Availability
from appointments.errors import Forbidden, ValidationError

CALENDAR_ADMINS = "calendar-admins"  # the Cognito group that may manage any calendar


def cognito_groups(claim: object) -> frozenset[str]:
    """The ``cognito:groups`` claim as API Gateway passes it: a list, ``"a,b"`` or ``"[a b]"``."""
    if isinstance(claim, list):
        return frozenset(str(group) for group in claim)
    if isinstance(claim, str):
        return frozenset(claim.strip("[]").replace(",", " ").split())
    return frozenset()


@dataclass(frozen=True)
class Caller:
    """Who is calling. ``subject`` is the Cognito ``sub``; None under IAM (a trusted back end) or no
    authorizer, where every rule below allows everything (API.md, "Who may do what")."""

    subject: str | None = None
    groups: frozenset[str] = frozenset()

    @classmethod
    def from_claims(cls, claims: Mapping[str, object] | None) -> Caller:
        """The caller a user pool authorizer's claims name; IAM and no authorizer carry none."""
        claims = claims or {}
        return cls(subject=claims.get("sub"), groups=cognito_groups(claims.get("cognito:groups")))

    def user_for(self, requested: object, field_name: str = "userId") -> str:
        if self.subject is None:
            if requested is None:
                raise ValidationError(f"{field_name} is required.", field_name)
            return validate_calendar_id(requested, field_name)
        if requested is not None and requested != self.subject:
            raise Forbidden(f"{field_name} must be your own user ID.")
        return self.subject

    def can_see(self, appointment: Appointment) -> bool:
        return self.subject is None or appointment.user_id == self.subject

    def manages(self, calendar_id: str) -> bool:
        """The calendar's owner, or a member of calendar-admins."""
        return self.subject is None or self.subject == calendar_id or CALENDAR_ADMINS in self.groups

    def records_outcome_of(self, appointment: Appointment) -> bool:
        """A calendar admin, or the owner of a participant's calendar or the assigned member's; not the customer
        for their own calendar."""
        return (self.subject is None or CALENDAR_ADMINS in self.groups
                or self.subject in (*appointment.participants, appointment.assigned))

    def may_name(self, participants: Iterable[str], rules: Mapping[str, Availability | None]) -> None:
        """Only a bookable calendar (one with availability) may be named as a participant."""
        if self.subject is None:
            return
        for calendar_id in participants:
            if rules.get(calendar_id) is None:
                raise Forbidden(f"{calendar_id} is not a bookable calendar; only calendars with availability "
                                "can be named as participants.")

    def may_read(self, calendar_id: str, what: str, bookable: bool = False) -> None:
        """A bookable calendar's busy times, slots and rules are open to every caller; a private one's only
        to its owner and calendar admins, as is every agenda."""
        if not (bookable or self.manages(calendar_id)):
            raise Forbidden(f"Only the owner of calendar {calendar_id} or a calendar admin may read its {what}.")

    def may_manage(self, calendar_id: str) -> None:
        if not self.manages(calendar_id):
            raise Forbidden(f"Only the owner of calendar {calendar_id} or a calendar admin may change its "
                            "availability.")
