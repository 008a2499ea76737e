"""Contacts (API.md, "Contacts and notifications"): every field rule, consent, versions and who may do what."""

from __future__ import annotations

from datetime import timedelta

import pytest

from appointments.contacts import LANGUAGE_TAG, Contact, parse_contact, resolve_locale
from appointments.errors import ValidationError
from conftest import NOW

FULL = {"name": "Alice Example", "email": "alice@example.com", "phone": "+4915112345678", "locale": "de-DE",
        "timeZone": "Europe/Berlin", "channels": ["email", "sms"], "notifyAsParticipant": False}


def refused(body: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        parse_contact(body, NOW)
    return caught.value.extra.get("field")


# -- field rules ---------------------------------------------------------------------------------------

def test_a_full_contact_parses_with_consent_for_each_channel_named():
    contact = parse_contact(FULL, NOW)
    assert (contact.name, contact.email, contact.phone, contact.locale, contact.time_zone) == (
        "Alice Example", "alice@example.com", "+4915112345678", "de-DE", "Europe/Berlin")
    assert contact.channels == ("email", "sms")
    assert contact.consent == {"email": NOW, "sms": NOW}


def test_everything_is_optional_and_defaults_are_english_no_channels_not_as_participant():
    assert parse_contact({}, NOW) == Contact()
    assert parse_contact({}, NOW).locale == "en"


@pytest.mark.parametrize("name", ["", "x" * 129, "Alice\nExample", "Tab\there", "bell\x07", "nul\x00",
                                  "line\u2028sep", "lone\ud800surrogate", 42, ["Alice"]])
def test_a_name_is_1_to_128_characters_without_control_characters(name):
    assert refused({"name": name}) == "name"


@pytest.mark.parametrize("name", ["A", "x" * 128, "Zoë O'Brien-Núñez", "李小龍"])
def test_names_of_any_script_and_length_up_to_128_are_kept(name):
    assert parse_contact({"name": name}, NOW).name == name


@pytest.mark.parametrize("email", [
    "alice", "alice@", "@example.com", "a@b@example.com", "alice@example", "al ice@example.com",
    '"alice"@example.com', "alice'@example.com", "a" * 65 + "@example.com", "alice@" + "e" * 250 + ".com",
    "alice@exa\x01mple.com", "alice..x@example.com", "alice@localhost.test", "alice@[192.0.2.1]", 7])
def test_an_email_address_needs_one_at_a_short_local_part_and_a_domain_with_a_dot(email):
    assert refused({"email": email}) == "email"


@pytest.mark.parametrize("email", ["alice@example.com", "Alice.Example+tag@mail.example.co.uk", "a@b.de",
                                   "x" * 64 + "@example.com"])
def test_an_email_address_is_stored_as_given(email):
    assert parse_contact({"email": email}, NOW).email == email


@pytest.mark.parametrize("phone", ["4915112345678", "+0915112345678", "+49 151 12345678", "+49-151-12345678",
                                   "+1234567", "+1234567890123456", "+12345678", "+\uff14\uff1915112345678",
                                   4915112345678, "+999123456789"])
def test_a_phone_is_e164_as_written_and_possible_for_its_country(phone):
    assert refused({"phone": phone}) == "phone"


@pytest.mark.parametrize("phone", ["+4915112345678", "+12025550123", "+33612345678", "+34612345678"])
def test_a_possible_e164_number_is_stored_as_given(phone):
    assert parse_contact({"phone": phone}, NOW).phone == phone


@pytest.mark.parametrize("tag", ["de", "de-AT", "pt-BR", "zh-Hant-TW", "sr-Latn-RS", "es-419", "en-US-x-clinic",
                                 "DE-at", "x-private", "sl-rozaj-biske", "de-CH-1901"])
def test_a_bcp47_tag_is_accepted_and_kept(tag):
    assert parse_contact({"locale": tag}, NOW).locale == tag


@pytest.mark.parametrize("tag", ["", "de_AT", "d", "deutschland-de", "de-", "-de", "de--AT", "123", "de-A",
                                 "en-US-", "a" * 65, "de AT", 5])
def test_a_malformed_tag_is_refused(tag):
    assert refused({"locale": tag}) == "locale"


def test_the_tag_grammar_is_the_whole_string():
    assert LANGUAGE_TAG.fullmatch("de-AT")
    assert not LANGUAGE_TAG.fullmatch("de-AT!")


@pytest.mark.parametrize("zone", ["Europe", "localtime", "posix/Europe/Berlin", "Mars/Olympus", "", 1])
def test_a_time_zone_follows_the_appointments_rules(zone):
    assert refused({"timeZone": zone}) == "timeZone"


@pytest.mark.parametrize(("body", "field"), [
    ({"channels": ["email"]}, "email"), ({"channels": ["sms"], "email": "a@example.com"}, "phone"),
    ({"channels": ["fax"]}, "channels"), ({"channels": "email", "email": "a@example.com"}, "channels"),
    ({"channels": ["email", "email"], "email": "a@example.com"}, "channels"),
    ({"notifyAsParticipant": "yes"}, "notifyAsParticipant"), ({"notifyAsParticipant": 1}, "notifyAsParticipant"),
    ({"consent": {"email": "2026-01-01T00:00:00Z"}}, "consent"), ({"version": 3}, "version"),
    ({"updatedAt": "2026-01-01T00:00:00Z"}, "updatedAt"), ({"mobile": "+4915112345678"}, "mobile")])
def test_channels_need_their_address_and_read_only_or_unknown_fields_are_refused(body, field):
    assert refused(body) == field


# -- consent -------------------------------------------------------------------------------------------

def test_consent_is_kept_while_a_channel_stays_named_to_the_same_address():
    first = parse_contact(FULL, NOW)
    later = NOW + timedelta(days=3)
    again = parse_contact({**FULL, "email": "ALICE@Example.COM", "name": "Alice"}, later, first)
    assert again.consent == {"email": NOW, "sms": NOW}  # the address compared case-insensitively


def test_a_channel_named_later_records_the_time_of_that_put():
    first = parse_contact({**FULL, "channels": ["email"]}, NOW)
    later = NOW + timedelta(days=1)
    assert parse_contact(FULL, later, first).consent == {"email": NOW, "sms": later}


def test_dropping_a_channel_drops_its_consent_and_naming_it_again_is_a_new_opt_in():
    first = parse_contact(FULL, NOW)
    dropped = parse_contact({**FULL, "channels": ["email"]}, NOW + timedelta(days=1), first)
    assert dropped.consent == {"email": NOW}
    back = NOW + timedelta(days=2)
    assert parse_contact(FULL, back, dropped).consent == {"email": NOW, "sms": back}


def test_a_new_address_is_a_new_opt_in():
    first = parse_contact(FULL, NOW)
    later = NOW + timedelta(days=1)
    moved = parse_contact({**FULL, "email": "alice@elsewhere.example", "phone": "+4915112345679"}, later, first)
    assert moved.consent == {"email": later, "sms": later}


@pytest.mark.parametrize(("tag", "resolved"), [("de-AT", "de"), ("pt-BR", "en"), ("fr", "fr"), ("ES-mx", "es"),
                                               ("en-GB", "en"), ("zh-Hant-TW", "en"), ("x-private", "en"),
                                               (None, "en")])
def test_a_tag_resolves_to_its_language_when_messages_exist_in_it_else_english(tag, resolved):
    assert resolve_locale(tag) == resolved


# -- the API ---------------------------------------------------------------------------------------------

PATH = "/calendars/alice/contact"


def test_put_then_get_returns_the_contact_with_consent_version_and_etag(api):
    put = api.request("PUT", PATH, FULL)
    assert (put.status, put.headers["ETag"]) == (200, '"1"'), put.body
    assert put.body == {**FULL, "consent": {"email": "2026-11-25T12:00:00Z", "sms": "2026-11-25T12:00:00Z"},
                        "version": 1, "updatedAt": "2026-11-25T12:00:00Z"}
    got = api.get(PATH)
    assert (got.status, got.body, got.headers["ETag"]) == (200, put.body, '"1"')
    assert api.get(PATH, headers={"If-None-Match": '"1"'}).status == 304


def test_a_calendar_without_a_contact_is_404_and_an_invalid_body_is_400_naming_the_field(api):
    assert (api.get(PATH).status, api.get(PATH).error) == (404, "NotFound")
    bad = api.request("PUT", PATH, {**FULL, "phone": "+12345678"})
    assert (bad.status, bad.error, bad.body["field"]) == (400, "ValidationError", "phone")
    assert api.request("PUT", "/calendars/bad%20id/contact", FULL).status == 400


def test_if_match_writes_only_the_version_named_and_if_none_match_star_only_a_new_contact(api):
    assert api.request("PUT", PATH, FULL, headers={"If-None-Match": "*"}).status == 200
    refused_again = api.request("PUT", PATH, FULL, headers={"If-None-Match": "*"})
    assert (refused_again.status, refused_again.body["currentVersion"]) == (412, 1)
    stale = api.request("PUT", PATH, FULL, headers={"If-Match": '"7"'})
    assert (stale.status, stale.error) == (412, "PreconditionFailed")
    assert api.request("PUT", PATH, {**FULL, "name": "A"}, headers={"If-Match": '"1"'}).body["version"] == 2


def test_erasure_deletes_everything_at_once_and_the_next_contact_continues_the_versions(api, store):
    api.request("PUT", PATH, FULL)
    api.request("PUT", PATH, FULL)
    assert api.delete(PATH).status == 204
    assert api.get(PATH).status == 404
    item = store.dynamodb.get_item(TableName=store.calendar, Key={"userId": {"S": "alice"}, "day": {"S": "contact"}})
    assert set(item["Item"]) == {"userId", "day", "version"}  # the tombstone: no name, address or consent
    assert api.delete(PATH).status == 204  # erasing again changes nothing
    assert api.request("PUT", PATH, FULL).body["version"] == 4


def test_consent_survives_a_put_that_keeps_the_channel_and_goes_with_it(api, clock):
    api.request("PUT", PATH, FULL)
    clock.advance(days=1)
    kept = api.request("PUT", PATH, {**FULL, "channels": ["sms"]}).body
    assert kept["consent"] == {"sms": "2026-11-25T12:00:00Z"}


def test_a_contact_is_the_owners_and_admins_only_even_on_a_bookable_calendar(as_user):
    weekly = {"mon": [{"start": "09:00", "end": "17:00"}]}
    owner, admin, other = as_user("dr-smith"), as_user("boss", ["calendar-admins"]), as_user("alice")
    assert owner.request("PUT", "/calendars/dr-smith/availability", {"timeZone": "UTC", "weekly": weekly}).status == 200
    assert owner.request("PUT", "/calendars/dr-smith/contact", FULL).status == 200
    for method, body in (("GET", None), ("PUT", FULL), ("DELETE", None)):
        answer = other.request(method, "/calendars/dr-smith/contact", body)
        assert (answer.status, answer.error) == (403, "Forbidden"), method
    assert admin.get("/calendars/dr-smith/contact").status == 200
    assert admin.delete("/calendars/dr-smith/contact").status == 204
