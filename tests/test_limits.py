"""Limits that protect a calendar (API.md): numbers, lists and ASCII digits.

Each test here reproduces a defect of the second hardening round: before its fix it answered 500,
404 or 400 where API.md says otherwise, or accepted what fills a bucket past DynamoDB's item limit.
"""

from __future__ import annotations

import pytest

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
