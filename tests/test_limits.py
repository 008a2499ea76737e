"""Limits that protect a calendar (API.md): numbers, lists, ASCII digits, and the 5-minute minimum.

Each test here reproduces a defect of the second hardening round: before its fix it answered 500,
404 or 400 where API.md says otherwise, or accepted what fills a bucket past DynamoDB's item limit.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from appointments.times import format_instant, parse_stored_instant
from conftest import booking

WINDOW = "from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z"


def assert_error(response, status: int, code: str, field: str | None = None) -> None:
    assert (response.status, response.body["error"]) == (status, code), response.body
    assert response.body["message"]
    if field:
        assert response.body.get("field") == field, response.body


# -- numbers are 1-9 ASCII digits; lists have no empty items ---------------------------------------------------

HUGE = "9" * 5000


@pytest.mark.parametrize(("path", "query", "field"), [
    ("/appointments", f"userId=alice&limit={HUGE}", "limit"),
    ("/appointments", "userId=alice&limit=0000000001", "limit"),
    ("/calendars/dr-smith/appointments", f"{WINDOW}&limit={HUGE}", "limit"),
    ("/calendars/dr-smith/slots", f"{WINDOW}&duration={HUGE}", "duration"),
    ("/calendars/dr-smith/slots", f"{WINDOW}&duration=30&step={HUGE}", "step"),
    ("/calendars/dr-smith/slots", f"{WINDOW}&duration=\N{ARABIC-INDIC DIGIT THREE}0", "duration"),
])
def test_a_number_of_more_than_9_digits_is_400_not_500(api, path, query, field):
    assert_error(api.get(path, query=query), 400, "ValidationError", field)


def test_an_if_match_with_a_huge_version_is_412_not_500(api):
    path = "/calendars/dr-smith/availability"
    api.request("PUT", path, {"timeZone": "UTC"})
    response = api.request("PUT", path, {"timeZone": "UTC"}, headers={"If-Match": f'"{HUGE}"'})
    assert (response.status, response.body["currentVersion"]) == (412, 1)
    created = api.post(body=booking()).body
    assert api.delete(f"/appointments/{created['appointmentId']}", headers={"If-Match": f'"{HUGE}"'}).status == 412


@pytest.mark.parametrize("clock", ["0\N{ARABIC-INDIC DIGIT NINE}:0\N{ARABIC-INDIC DIGIT ZERO}",
                                   "\N{FULLWIDTH DIGIT ZERO}9:00", "09:0\N{DEVANAGARI DIGIT ZERO}"])
def test_opening_hours_take_ascii_digits_only(api, clock):
    body = {"timeZone": "UTC", "weekly": {"mon": [{"start": clock, "end": "17:00"}]}}
    assert_error(api.request("PUT", "/calendars/dr-smith/availability", body), 400, "ValidationError", "weekly")
    assert api.get("/calendars/dr-smith/availability").status == 404


def test_an_override_date_takes_ascii_digits_only(api):
    body = {"timeZone": "UTC", "overrides": {"2026-12-2\N{ARABIC-INDIC DIGIT FOUR}": []}}
    assert_error(api.request("PUT", "/calendars/dr-smith/availability", body), 400, "ValidationError", "overrides")


@pytest.mark.parametrize("others", ["a,,b", "a,", ",a", "", ","])
def test_a_with_list_with_an_empty_item_is_400(api, others):
    response = api.get("/calendars/dr-smith/slots", query=f"{WINDOW}&duration=30&with={others}")
    assert_error(response, 400, "ValidationError", "with")


# -- every appointment lasts at least 5 minutes, so a day's bucket stays small ------------------------------------

@pytest.mark.parametrize("end", ["2026-12-01T09:00:01Z", "2026-12-01T09:04:59Z"])
def test_an_appointment_shorter_than_5_minutes_is_refused(api, store, end):
    assert_error(api.post(body=booking(end=end)), 400, "ValidationError", "endTime")
    assert store.dynamodb.scan(TableName=store.calendar)["Items"] == []


def test_a_move_to_less_than_5_minutes_is_refused_and_changes_nothing(api):
    created = api.post(body=booking()).body
    path = f"/appointments/{created['appointmentId']}"
    assert_error(api.patch(path, {"endTime": "2026-12-01T09:04:00Z"}), 400, "ValidationError", "endTime")
    assert api.get(path).body == created


@pytest.mark.slow
def test_a_day_full_of_5_minute_appointments_from_the_longest_ids_still_books_lists_and_reads(api, store):
    provider = "p" * 128
    start = parse_stored_instant("2026-12-01T00:00:00Z")
    ids = []
    for n in range(288):
        begin = start + timedelta(minutes=5 * n)
        response = api.post(body=booking(user=f"{n:03d}" + "u" * 125, start=format_instant(begin),
                                         end=format_instant(begin + timedelta(minutes=5)), participants=[provider]))
        assert response.status == 201, response.body
        ids.append(response.body["appointmentId"])
    bucket = store.dynamodb.get_item(TableName=store.calendar, Key={"userId": {"S": provider},
                                                                     "day": {"S": "2026-12-01"}})["Item"]
    assert len(bucket["slots"]["M"]) == 288
    refused = api.post(body=booking(user="late", start="2026-12-01T12:00:00Z", end="2026-12-01T12:05:00Z",
                                    participants=[provider]))
    assert_error(refused, 409, "Conflict")
    busy = api.get(f"/calendars/{provider}/busy", query=WINDOW).body["busy"]
    assert busy == [{"start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z"}]
    agenda, token = [], None
    while True:
        page = api.get(f"/calendars/{provider}/appointments",
                       query=f"{WINDOW}&limit=100" + (f"&nextToken={token}" if token else "")).body
        agenda += [a["appointmentId"] for a in page["appointments"]]
        if not (token := page["nextToken"]):
            break
    assert agenda == ids
    moved = api.patch(f"/appointments/{ids[0]}", {"startTime": "2026-12-02T00:00:00Z",
                                                  "endTime": "2026-12-02T00:05:00Z"})
    assert moved.status == 200, moved.body
