"""Calendar files (RFC 5545): what the API writes, read back by an independent parser (vobject)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import pytest
import vobject
from hypothesis import example, given, settings
from hypothesis import strategies as st

from appointments.appointment import Appointment
from appointments.calendar_files import calendar_file
from appointments.inputs import prefers_calendar
from appointments.times import Interval
from conftest import ROOT, booking

CALENDAR = {"Accept": "text/calendar"}


def booked(api, **extra) -> dict:
    response = api.post(body=booking(**extra))
    assert response.status == 201, response.body
    return response.body


def calendar_of(response) -> vobject.base.Component:
    assert response.status == 200, response.body
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    return vobject.readOne(response.body)


def only_event(response):
    events = calendar_of(response).vevent_list
    assert len(events) == 1
    return events[0]


def test_an_appointment_as_a_calendar_file_has_the_properties_api_md_lists(api):
    appointment = booked(api, reminders=[1440, 60, 5])
    response = api.get(f"/appointments/{appointment['appointmentId']}", headers=CALENDAR)
    calendar = calendar_of(response)
    event = calendar.vevent

    assert (response.headers["ETag"], response.headers["Vary"]) == ('"1-ics"', "Accept")
    assert calendar.version.value == "2.0"
    assert event.uid.value == f"{appointment['appointmentId']}@appointments"
    assert int(event.sequence.value) == appointment["version"] - 1 == 0
    assert event.dtstart.value == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert event.dtend.value == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert event.dtstamp.value == datetime.fromisoformat(appointment["updatedAt"])
    assert event.status.value == "CONFIRMED"
    assert event.summary.value == "Appointment"
    assert not {"location", "description"} & set(event.contents)
    alarms = event.valarm_list
    assert [(a.action.value, a.trigger.value) for a in alarms] == [
        ("DISPLAY", -timedelta(minutes=m)) for m in appointment["reminders"]]
    assert {"TRIGGER:-PT1440M", "TRIGGER:-PT60M", "TRIGGER:-PT5M"} <= set(response.body.split("\r\n"))


def test_details_round_trip_through_escaping_folding_and_utf_8(api):
    details = {"title": "Check-up; Dr. Müller, room 4",
               "location": "Praxis Süd, Straße 1; 2. OG\nHinterhaus",
               "description": "Bring: card, list; \\ and \"quotes\"\nZweite Zeile 🦷 " + "Überweisung, " * 20}
    appointment = booked(api, details=details)
    response = api.get(f"/appointments/{appointment['appointmentId']}", headers=CALENDAR)
    event = only_event(response)
    assert (event.summary.value, event.location.value, event.description.value) == (
        details["title"], details["location"], details["description"])

    raw = response.body.encode("utf-8")
    assert raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only, no bare LF
    lines = raw.split(b"\r\n")[:-1]
    assert max(len(line) for line in lines) <= 75  # octets, not characters
    for line in lines:
        line.decode("utf-8")  # no multi-octet character was cut by a fold
    assert sum(line.startswith(b" ") for line in lines) >= 3  # the long description was folded
    assert {b"\\;", b"\\,", b"\\n"} <= {raw[i:i + 2] for i in range(len(raw))}


def test_a_rescheduled_appointment_is_the_same_event_with_a_higher_sequence_and_cancel_is_cancelled(api):
    appointment = booked(api, details={"title": "Haircut"})
    path = f"/appointments/{appointment['appointmentId']}"
    first = only_event(api.get(path, headers=CALENDAR))
    patched = api.patch(path, {"startTime": "2026-12-02T09:00:00Z", "endTime": "2026-12-02T10:30:00Z"}).body
    moved = only_event(api.get(path, headers=CALENDAR))
    api.delete(path)
    cancelled = only_event(api.get(path, headers=CALENDAR))

    assert first.uid.value == moved.uid.value == cancelled.uid.value
    assert int(first.sequence.value) < int(moved.sequence.value) < int(cancelled.sequence.value)
    assert (moved.dtstart.value, moved.dtend.value) == (datetime(2026, 12, 2, 9, tzinfo=UTC),
                                                        datetime(2026, 12, 2, 10, 30, tzinfo=UTC))
    assert moved.dtstamp.value == datetime.fromisoformat(patched["updatedAt"])
    assert (first.status.value, moved.status.value, cancelled.status.value) == ("CONFIRMED", "CONFIRMED",
                                                                                "CANCELLED")


def test_if_none_match_answers_304_for_the_calendar_file_too(api):
    appointment = booked(api)
    path = f"/appointments/{appointment['appointmentId']}"
    response = api.get(path, headers={**CALENDAR, "If-None-Match": '"1-ics"'})
    assert (response.status, response.headers["ETag"]) == (304, '"1-ics"')


def test_a_calendar_agenda_is_one_file_with_an_event_per_appointment_and_a_link_to_the_next_page(api):
    for day in (1, 2, 3):
        booked(api, user=f"customer-{day}", participants=["dr-smith"],
               start=f"2026-12-0{day}T09:00:00Z", end=f"2026-12-0{day}T10:00:00Z")
    path = "/calendars/dr-smith/appointments"
    window = "from=2026-12-01T00:00:00Z&to=2026-12-08T00:00:00Z"
    first = api.get(path, query=f"{window}&limit=2", headers=CALENDAR)
    assert [e.dtstart.value.day for e in calendar_of(first).vevent_list] == [1, 2]

    link, rel = first.headers["Link"].split("; ")
    assert (rel, link[:2], link[-1]) == ('rel="next"', "<?", ">")
    next_query = dict(parse_qsl(link[2:-1]))
    assert set(next_query) == {"from", "to", "limit", "nextToken"}
    second = api.get(path, query=link[2:-1], headers=CALENDAR)
    assert [e.dtstart.value.day for e in calendar_of(second).vevent_list] == [3]
    assert "Link" not in second.headers

    assert api.get(path, query=window).body["appointments"][0]["userId"] == "customer-1"  # JSON by default


@pytest.mark.parametrize(("accept", "calendar"), [
    (None, False),
    ("", False),
    ("application/json", False),
    ("*/*", False),
    ("text/calendar", True),
    ("TEXT/Calendar; charset=utf-8", True),
    ("text/*", True),
    ("application/json, text/calendar", False),  # a tie: JSON
    ("application/json;q=0.5, text/calendar", True),
    ("text/calendar;q=0.9, application/json;q=0.8", True),
    ("text/calendar;q=0, */*", False),
    ("text/calendar;q=abc, application/json;q=0.1", False),  # a malformed weight drops its range
    ("text/calendar;q=2", False),
    ("image/png", False),  # neither: JSON is served rather than 406
])
def test_accept_chooses_the_calendar_file_only_when_it_is_preferred(accept, calendar):
    assert prefers_calendar(accept) is calendar


@pytest.mark.slow
def test_importing_the_api_handler_does_not_load_icalendar():
    code = "import sys, conflict_detector; print(sorted(m for m in sys.modules if m.split('.')[0] == 'icalendar'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                            cwd=ROOT / "src")
    assert result.stdout.strip() == "[]"


CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@settings(max_examples=150, deadline=None)
@given(title=st.text(max_size=300), location=st.text(max_size=100), description=st.text(max_size=600))
@example(title="\\N", location="C:\\New", description="a\\N\nb")  # the library reads a literal \\N as a break
def test_any_details_text_round_trips_as_rfc_5545_allows(title, location, description):
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    appointment = Appointment("a1", "alice", Interval(start, start + timedelta(hours=1)), created_at=start,
                              updated_at=start, details={"title": title, "location": location,
                                                         "description": description})
    raw = calendar_file([appointment]).encode("utf-8")
    lines = raw.split(b"\r\n")
    assert lines[-1] == b""
    assert all(len(line) <= 75 for line in lines)
    assert not CONTROLS.search(raw.decode().replace("\r\n", "").replace("\t", ""))
    event = vobject.readOne(raw.decode()).vevent

    def allowed(value: str) -> str:  # CR LF and CR are line breaks; other controls cannot be carried
        return CONTROLS.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))

    assert event.summary.value == (allowed(title) or "Appointment")
    assert (event.location.value if "location" in event.contents else "") == allowed(location)
    assert (event.description.value if "description" in event.contents else "") == allowed(description)


def test_any_accept_header_gets_one_of_the_two_representations_and_never_an_error(api):
    path = f"/appointments/{api.post(body=booking()).body['appointmentId']}"

    @settings(max_examples=100, deadline=None)
    @given(accept=st.text(max_size=200))
    def check(accept):
        response = api.get(path, headers={"Accept": accept})
        assert response.status == 200
        assert response.headers["Content-Type"] in ("application/json", "text/calendar; charset=utf-8")

    check()
