"""Calendars: providers and rooms occupied atomically with the customer (API.md, "Conflicts" and "Calendars")."""

from __future__ import annotations

import pytest

import conflict_detector
from appointments.wiring import build_services
from conftest import API_SETTINGS, Api, CountingCalls, booking


def book(api, user="alice", start="2026-12-01T09:00:00Z", end="2026-12-01T10:00:00Z", **extra):
    return api.post(body=booking(user=user, start=start, end=end, **extra))


def agenda(api, calendar: str, query: str = "", **kw):
    return api.get(f"/calendars/{calendar}/appointments",
                   query=f"from=2026-11-30T00:00:00Z&to=2026-12-10T00:00:00Z{query}", **kw)


# -- participants ----------------------------------------------------------------------------------

@pytest.mark.parametrize("participants", [
    [f"room-{i}" for i in range(9)],  # more than 8
    ["dr-smith", "dr-smith"],  # not distinct
    ["alice"],  # the user's own calendar
    ["dr smith"],  # a character no calendar ID has
    ["x" * 129],
    [""],
    "dr-smith",  # not a list
    [42],
])
def test_participants_outside_the_rules_get_400_and_nothing_is_stored(api, store, participants):
    response = book(api, participants=participants)
    assert (response.status, response.error, response.body.get("field")) == (400, "ValidationError", "participants")
    assert store.dynamodb.scan(TableName=store.table)["Items"] == []
    assert store.dynamodb.scan(TableName=store.calendar)["Items"] == []


def test_participants_are_kept_in_the_order_given(api):
    created = book(api, participants=["room-4", "dr-smith"]).body
    assert created["participants"] == ["room-4", "dr-smith"]
    assert api.get(f"/appointments/{created['appointmentId']}").body["participants"] == ["room-4", "dr-smith"]


def test_eight_participants_are_allowed(api):
    assert book(api, participants=[f"room-{i}" for i in range(8)]).status == 201


# -- conflicts across calendars ---------------------------------------------------------------------

def test_two_customers_cannot_book_one_provider_at_overlapping_times(api):
    first = book(api, participants=["dr-smith"]).body
    response = book(api, user="bob", start="2026-12-01T09:30:00Z", end="2026-12-01T10:30:00Z",
                    participants=["dr-smith"])
    assert (response.status, response.error) == (409, "Conflict")
    # another customer's booking shows only its calendar and times
    assert response.body["conflicts"] == [{"calendarId": "dr-smith", "startTime": first["startTime"],
                                           "endTime": first["endTime"]}]


def test_a_conflict_names_every_calendar_in_the_way_with_ids_only_for_the_users_own(api):
    mine = book(api, participants=["room-4"]).body
    theirs = book(api, user="bob", start="2026-12-01T09:30:00Z", end="2026-12-01T10:30:00Z",
                  participants=["dr-smith"]).body
    response = book(api, start="2026-12-01T09:45:00Z", end="2026-12-01T11:00:00Z", participants=["dr-smith", "room-4"])
    assert response.status == 409
    assert response.body["conflicts"] == [
        {"calendarId": "alice", "appointmentId": mine["appointmentId"], "startTime": mine["startTime"],
         "endTime": mine["endTime"]},
        {"calendarId": "dr-smith", "startTime": theirs["startTime"], "endTime": theirs["endTime"]},
        {"calendarId": "room-4", "appointmentId": mine["appointmentId"], "startTime": mine["startTime"],
         "endTime": mine["endTime"]},
    ]


def test_appointments_that_share_no_calendar_never_conflict(api):
    assert book(api, participants=["dr-smith", "room-4"]).status == 201
    assert book(api, user="bob", participants=["dr-jones", "room-5"]).status == 201


def test_back_to_back_appointments_of_a_provider_are_accepted(api):
    assert book(api, participants=["dr-smith"]).status == 201
    assert book(api, user="bob", start="2026-12-01T10:00:00Z", end="2026-12-01T11:00:00Z",
                participants=["dr-smith"]).status == 201


def test_a_participant_is_blocked_by_the_appointments_it_has_as_a_user(api):
    assert book(api, user="dr-smith").status == 201  # the doctor's own appointment, on their own calendar
    response = book(api, participants=["dr-smith"])
    assert (response.status, response.body["conflicts"][0]["calendarId"]) == (409, "dr-smith")


def test_cancel_frees_every_calendar(api):
    first = book(api, participants=["dr-smith", "room-4"]).body
    assert api.delete(f"/appointments/{first['appointmentId']}").status == 200
    assert book(api, user="bob", participants=["dr-smith"]).status == 201
    assert book(api, user="carol", participants=["room-4"]).status == 201
    assert book(api).status == 201


def test_adding_a_busy_participant_is_409_and_changes_nothing(api):
    book(api, user="bob", participants=["dr-smith"])
    mine = book(api).body
    path = f"/appointments/{mine['appointmentId']}"
    response = api.patch(path, {"participants": ["dr-smith"]})
    assert (response.status, response.body["conflicts"][0]["calendarId"]) == (409, "dr-smith")
    assert api.get(path).body == mine


def test_removing_a_participant_frees_its_calendar_and_adding_one_occupies_it(api):
    mine = book(api, participants=["dr-smith"]).body
    path = f"/appointments/{mine['appointmentId']}"
    changed = api.patch(path, {"participants": ["dr-jones"]})
    assert (changed.status, changed.body["participants"], changed.body["version"]) == (200, ["dr-jones"], 2)
    assert book(api, user="bob", participants=["dr-smith"]).status == 201
    assert book(api, user="carol", participants=["dr-jones"]).status == 409


def test_a_move_is_checked_on_every_calendar_it_occupies_and_frees_the_old_time(api):
    mine = book(api, participants=["dr-smith"]).body
    book(api, user="bob", start="2026-12-01T14:00:00Z", end="2026-12-01T15:00:00Z", participants=["dr-smith"])
    path = f"/appointments/{mine['appointmentId']}"
    clash = api.patch(path, {"startTime": "2026-12-01T14:30:00Z", "endTime": "2026-12-01T15:30:00Z"})
    assert (clash.status, clash.body["conflicts"][0]["calendarId"]) == (409, "dr-smith")
    assert api.patch(path, {"startTime": "2026-12-02T09:00:00Z", "endTime": "2026-12-02T10:00:00Z"}).status == 200
    assert book(api, user="carol", participants=["dr-smith"]).status == 201  # the old time is free


def test_a_booking_costs_one_consistent_read_and_one_transaction_whatever_the_participants(store, clock):
    for count in (0, 2, 8):
        counting = CountingCalls(store.dynamodb)
        conflict_detector.use(build_services(counting, API_SETTINGS, clock=clock))
        participants = [f"room-{count}-{i}" for i in range(count)]
        response = Api().post(body=booking(user=f"u{count}", start="2026-12-01T22:00:00Z", end="2026-12-02T02:00:00Z",
                                           participants=participants))
        assert response.status == 201
        assert [name for name, _ in counting.calls] == ["batch_get_item", "transact_write_items"]
        read, write = counting.calls[0][1], counting.calls[1][1]
        # per calendar (none has rules): its availability, and the two UTC days the appointment touches
        assert len(read["RequestItems"][store.calendar]["Keys"]) == (2 + 1) * (count + 1)
        assert read["RequestItems"][store.calendar]["ConsistentRead"] is True
        # the appointment, and per calendar the two buckets it enters and a check of its (absent) rules
        assert len(write["TransactItems"]) == 1 + (2 + 1) * (count + 1)


def read_keys(call) -> set[tuple[str, str]]:
    return {(k["userId"]["S"], k["day"]["S"]) for table in call[1]["RequestItems"].values()
            for k in table["Keys"] if "day" in k}


def test_rules_a_booking_did_not_expect_are_read_again_where_they_reach_and_then_known(store, clock):
    """A provider in New York with a buffer and a daily cap. A booking at 00:30Z on 2026-12-01 is 19:30 on
    2026-11-30 there: the cap counts that local date, which began on the UTC day before, and the buffer
    reaches back into it too. The first booking (this instance has not seen the rules) reads the day it
    touches, learns the rules, and reads where they reach before deciding; the next ones read there at once."""
    from appointments.availability import parse_availability
    from appointments.rules_store import RulesStore

    always = {d: [{"start": "00:00", "end": "24:00"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    RulesStore(store).put("dr-ny", parse_availability({"timeZone": "America/New_York", "weekly": always,
                                                       "bufferBefore": 60, "maxPerDay": 2}))
    counting = CountingCalls(store.dynamodb)
    conflict_detector.use(build_services(counting, API_SETTINGS, clock=clock))
    first = Api().post(body=booking(start="2026-12-01T00:30:00Z", end="2026-12-01T01:00:00Z",
                                    participants=["dr-ny"]))
    assert first.status == 201
    reads = [call for call in counting.calls if call[0] == "batch_get_item"]
    assert [name for name, _ in counting.calls] == ["batch_get_item", "batch_get_item", "transact_write_items"]
    assert read_keys(reads[0]) == {("alice", "2026-12-01"), ("alice", "availability"), ("dr-ny", "2026-12-01"),
                                   ("dr-ny", "availability")}
    assert read_keys(reads[1]) - read_keys(reads[0]) == {("dr-ny", "2026-11-30")}
    counting.calls.clear()
    second = Api().post(body=booking(user="bob", start="2026-12-01T00:00:00Z", end="2026-12-01T00:20:00Z",
                                     participants=["dr-ny"]))
    assert second.error == "Conflict"  # the first one's buffer
    assert [name for name, _ in counting.calls] == ["batch_get_item"]
    third = Api().post(body=booking(user="carol", start="2026-11-30T23:00:00Z", end="2026-11-30T23:20:00Z",
                                    participants=["dr-ny"]))
    assert third.status == 201
    fourth = Api().post(body=booking(user="dave", start="2026-12-01T03:00:00Z", end="2026-12-01T03:20:00Z",
                                     participants=["dr-ny"]))
    assert (fourth.error, fourth.body["reason"]) == ("Unavailable", "dailyLimit")  # counted over both UTC days


class RulesAppearingBeforeTheCommit(CountingCalls):
    """Records every call; before the first transaction, stores ``rules`` for ``calendar`` as a concurrent
    request would, after the booking read the calendar without rules."""

    def __init__(self, client, store, calendar, rules):
        super().__init__(client)
        self.store, self.calendar, self.rules = store, calendar, rules

    def transact_write_items(self, **kwargs):
        from appointments.rules_store import RulesStore

        if self.rules is not None:
            RulesStore(self.store).put(self.calendar, self.rules)
            self.rules = None
        self.calls.append(("transact_write_items", kwargs))
        return self._client.transact_write_items(**kwargs)


def test_rules_that_appear_while_a_booking_is_decided_are_read_where_they_reach_before_it_commits(store, clock):
    """dr-ny has one appointment at 18:00 New York time on 2026-11-30 (23:00Z) and no rules. A booking at
    19:30 there (00:30Z the next UTC day) reads only the day it touches. Meanwhile a cap of one a day is
    stored: the commit loses on the rules item's absence, the retry finds the rules, reads the day their
    local date begins on, and refuses; without that read it would count no appointment and book a second."""
    from appointments.availability import parse_availability

    always = {d: [{"start": "00:00", "end": "24:00"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    conflict_detector.use(build_services(store.dynamodb, API_SETTINGS, clock=clock))
    assert Api().post(body=booking(user="carol", start="2026-11-30T23:00:00Z", end="2026-11-30T23:20:00Z",
                                   participants=["dr-ny"])).status == 201
    rules = parse_availability({"timeZone": "America/New_York", "weekly": always, "maxPerDay": 1})
    racing = RulesAppearingBeforeTheCommit(store.dynamodb, store, "dr-ny", rules)
    conflict_detector.use(build_services(racing, API_SETTINGS, clock=clock))
    second = Api().post(body=booking(start="2026-12-01T00:30:00Z", end="2026-12-01T01:00:00Z",
                                     participants=["dr-ny"]))
    assert (second.status, second.error, second.body.get("reason")) == (409, "Unavailable", "dailyLimit")
    assert [name for name, _ in racing.calls] == ["batch_get_item", "transact_write_items",
                                                  "batch_get_item", "batch_get_item"]
    reads = [call for call in racing.calls if call[0] == "batch_get_item"]
    assert ("dr-ny", "2026-11-30") not in read_keys(reads[0]) | read_keys(reads[1])
    assert ("dr-ny", "2026-11-30") in read_keys(reads[2])


# -- buckets written before calendars had owners --------------------------------------------------------

def test_bucket_entries_in_the_old_format_still_block_and_show_in_busy_and_agenda(api, store):
    created = book(api).body
    key = {"userId": {"S": "alice"}, "day": {"S": "2026-12-01"}}
    item = store.dynamodb.get_item(TableName=store.calendar, Key=key)["Item"]
    item["slots"] = {"M": {created["appointmentId"]: {"S": "2026-12-01T09:00:00Z/2026-12-01T10:00:00Z"}}}
    store.dynamodb.put_item(TableName=store.calendar, Item=item)  # as the code before calendars wrote it
    clash = book(api, start="2026-12-01T09:30:00Z", end="2026-12-01T10:30:00Z")
    assert clash.body["conflicts"] == [{"calendarId": "alice", "appointmentId": created["appointmentId"],
                                        "startTime": created["startTime"], "endTime": created["endTime"]}]
    busy = api.get("/calendars/alice/busy", query="from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z").body
    assert busy["busy"] == [{"start": created["startTime"], "end": created["endTime"]}]
    assert [a["appointmentId"] for a in agenda(api, "alice").body["appointments"]] == [created["appointmentId"]]
    assert api.delete(f"/appointments/{created['appointmentId']}").status == 200
    assert book(api, start="2026-12-01T09:30:00Z", end="2026-12-01T10:30:00Z").status == 201


# -- free/busy and agenda ----------------------------------------------------------------------------------

def test_calendar_busy_merges_the_appointments_occupying_it_in_the_window(api):
    book(api, participants=["room-4"])
    book(api, user="bob", start="2026-12-01T10:00:00Z", end="2026-12-01T11:00:00Z", participants=["room-4"])
    book(api, user="carol", start="2026-12-01T13:00:00Z", end="2026-12-01T14:00:00Z", participants=["room-5"])
    response = api.get("/calendars/room-4/busy", query="from=2026-12-01T09:30:00Z&to=2026-12-02T00:00:00Z")
    assert (response.status, response.body) == (200, {
        "calendarId": "room-4", "from": "2026-12-01T09:30:00Z", "to": "2026-12-02T00:00:00Z",
        "busy": [{"start": "2026-12-01T09:30:00Z", "end": "2026-12-01T11:00:00Z"}]})


@pytest.mark.parametrize(("query", "field"), [
    ("from=2026-12-01T00:00:00Z", "to"),
    ("from=2026-12-01T00:00:00Z&to=2027-01-02T00:00:00Z", "to"),
    ("from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z&limit=5", "limit"),
])
def test_bad_calendar_busy_queries_get_400(api, query, field):
    response = api.get("/calendars/room-4/busy", query=query)
    assert (response.status, response.body.get("field")) == (400, field)


def test_the_agenda_lists_what_occupies_the_calendar_by_start_as_user_or_participant(api):
    late = book(api, user="bob", start="2026-12-03T09:00:00Z", end="2026-12-03T10:00:00Z",
                participants=["dr-smith"]).body
    own = book(api, user="dr-smith", start="2026-12-02T09:00:00Z", end="2026-12-02T10:00:00Z").body
    long = book(api, start="2026-11-29T09:00:00Z", end="2026-12-01T09:30:00Z", participants=["dr-smith"]).body
    cancelled = book(api, user="carol", start="2026-12-04T09:00:00Z", end="2026-12-04T10:00:00Z",
                     participants=["dr-smith"]).body
    api.delete(f"/appointments/{cancelled['appointmentId']}")
    book(api, user="dave", participants=["dr-jones"])
    response = agenda(api, "dr-smith")
    assert response.status == 200
    assert [a["appointmentId"] for a in response.body["appointments"]] == [
        long["appointmentId"], own["appointmentId"], late["appointmentId"]]
    assert response.body["appointments"][2] == late
    assert response.body["nextToken"] is None


def test_the_agenda_pages_with_tokens_bound_to_its_calendar(api):
    ids = [book(api, user=f"u{day}", start=f"2026-12-0{day}T09:00:00Z", end=f"2026-12-0{day}T10:00:00Z",
                participants=["room-4"]).body["appointmentId"] for day in range(1, 6)]
    book(api, user="x", participants=["room-5"])
    seen, token = [], None
    while True:
        page = agenda(api, "room-4", "&limit=2" + (f"&nextToken={token}" if token else "")).body
        assert len(page["appointments"]) <= 2
        seen += [a["appointmentId"] for a in page["appointments"]]
        if not (token := page["nextToken"]):
            break
        other = agenda(api, "room-5", f"&limit=2&nextToken={token}")
        assert (other.status, other.body.get("field")) == (400, "nextToken")
    assert seen == ids


def test_a_user_list_token_is_not_an_agenda_token(api):
    for day in (1, 2):
        book(api, start=f"2026-12-0{day}T09:00:00Z", end=f"2026-12-0{day}T10:00:00Z")
    token = api.get("/appointments", query="userId=alice&limit=1").body["nextToken"]
    assert agenda(api, "alice", f"&limit=1&nextToken={token}").status == 400


# -- who may do what with Cognito ------------------------------------------------------------------------

def test_with_cognito_naming_a_participant_is_403_until_calendars_are_bookable(as_user, store):
    response = as_user("alice").post(body=booking(user="alice", participants=["dr-smith"]))
    assert (response.status, response.error) == (403, "Forbidden")
    assert store.dynamodb.scan(TableName=store.table)["Items"] == []


def test_with_cognito_adding_a_participant_is_403(as_user):
    alice = as_user("alice")
    created = alice.post(body=booking(user="alice")).body
    assert alice.patch(f"/appointments/{created['appointmentId']}", {"participants": ["dr-smith"]}).status == 403


def test_with_cognito_only_the_owner_reads_a_private_calendars_busy_times(as_user):
    window = "from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z"
    assert as_user("alice").get("/calendars/alice/busy", query=window).status == 200
    refused = as_user("bob").get("/calendars/alice/busy", query=window)
    assert (refused.status, refused.error) == (403, "Forbidden")


@pytest.mark.parametrize(("sub", "groups", "status"), [
    ("dr-smith", None, 200),  # the owner
    ("boss", "calendar-admins", 200),  # as API Gateway passes one group
    ("boss", "[staff calendar-admins]", 200),  # and several
    ("boss", "staff,calendar-admins", 200),
    ("mallory", None, 403),
    ("mallory", "staff", 403),
])
def test_with_cognito_the_agenda_is_the_owners_or_a_calendar_admins(as_user, sub, groups, status):
    assert agenda(as_user(sub, groups), "dr-smith").status == status


def test_under_iam_every_calendar_is_open(api):
    created = book(api, participants=["dr-smith"]).body
    assert [a["appointmentId"] for a in agenda(api, "dr-smith").body["appointments"]] == [created["appointmentId"]]
    busy = api.get("/calendars/dr-smith/busy", query="from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z").body
    assert busy["busy"] == [{"start": created["startTime"], "end": created["endTime"]}]


def test_calendar_ids_with_every_allowed_character_work_percent_encoded_in_the_path(api):
    calendar = "Dr.Smith_2+clinic@example.org:room-1"
    created = book(api, participants=[calendar]).body
    listed = agenda(api, "Dr.Smith_2%2Bclinic%40example.org%3Aroom-1")
    assert [a["appointmentId"] for a in listed.body["appointments"]] == [created["appointmentId"]]


def test_the_largest_booking_fits_one_read_and_one_transaction(api):
    """Nine calendars, seven days not aligned to midnight: 9 x (8 days + rules) = 81 keys without rules; rules
    reach at most a day either side (buffers, a cap's local date), 9 x (10 + 1) = 99."""
    response = book(api, start="2026-12-01T12:00:00Z", end="2026-12-08T12:00:00Z",
                    participants=[f"room-{i}" for i in range(8)])
    assert response.status == 201, response.body
    assert api.delete(f"/appointments/{response.body['appointmentId']}").status == 200
