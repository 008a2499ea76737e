"""Throttling and transaction conflicts answer 503 with Retry-After after a bounded retry, never 500.

DynamoDB's refusals are injected with a botocore event hook on the real (moto) client: a
``before-call`` handler that answers instead of the service, so the store meets exactly what
DynamoDB would send, and everything else goes through to moto.
"""

from __future__ import annotations

import json

import pytest
from botocore.awsrequest import AWSResponse

from conftest import booking

RULES = {"timeZone": "UTC"}


class Refusals:
    """Answers the next ``times`` calls of one operation with a refusal, then lets calls through."""

    def __init__(self, client, operation: str, parsed: dict, times: int = 1, status: int = 400):
        self.parsed, self.left, self.status, self.calls = parsed, times, status, 0
        client.meta.events.register(f"before-call.dynamodb.{operation}", self)

    def __call__(self, **_):
        self.calls += 1
        if self.left <= 0:
            return None
        self.left -= 1
        return AWSResponse("https://dynamodb.local", self.status, {}, None), self.parsed


def error(code: str, **extra) -> dict:
    return {"Error": {"Code": code, "Message": "injected"}, **extra}


def cancelled(*reasons: str) -> dict:
    return error("TransactionCanceledException",
                 CancellationReasons=[{"Code": r, "Message": "injected"} for r in reasons])


def asked(hook_arguments: dict) -> dict:
    """The RequestItems of the BatchGetItem a before-call hook sees (the request's JSON body)."""
    return json.loads(hook_arguments["params"]["body"])["RequestItems"]


def assert_unavailable(response) -> None:
    assert (response.status, response.body["error"]) == (503, "ServiceUnavailable"), response.body
    assert response.headers["Retry-After"].isdigit()
    assert response.body["message"]
    assert response.body["requestId"]


def stored(store) -> list:
    return [item for table in (store.table, store.calendar) for item in store.dynamodb.scan(TableName=table)["Items"]]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_availability_meeting_a_booking_transaction_is_retried_then_503(api, store, method):
    path = "/calendars/dr-smith/availability"
    api.request("PUT", path, RULES)
    before = stored(store)
    refusals = [Refusals(store.dynamodb, operation, error("TransactionConflictException"), times=100)
                for operation in ("UpdateItem", "DeleteItem")]  # whichever single-item write the change is
    assert_unavailable(api.request(method, path, RULES if method == "PUT" else None))
    assert 1 < sum(r.calls for r in refusals) <= 5
    assert stored(store) == before


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_transaction_conflict_that_clears_is_ridden_out(api, store, method):
    path = "/calendars/dr-smith/availability"
    api.request("PUT", path, RULES)
    for operation in ("UpdateItem", "DeleteItem"):
        Refusals(store.dynamodb, operation, error("TransactionConflictException"), times=2)
    assert api.request(method, path, RULES if method == "PUT" else None).status in (200, 204)
    assert (api.get(path).status == 200) == (method == "PUT")


@pytest.mark.parametrize("reason", ["ThrottlingError", "ProvisionedThroughputExceeded"])
def test_a_booking_whose_transaction_is_throttled_is_retried_then_503_and_stores_nothing(api, store, reason):
    refusals = Refusals(store.dynamodb, "TransactWriteItems", cancelled("None", reason, "None"), times=100)
    assert_unavailable(api.post(body=booking(participants=["dr-smith"])))
    assert 1 < refusals.calls <= 5
    assert stored(store) == []


def test_a_throttled_transaction_that_clears_books(api, store):
    Refusals(store.dynamodb, "TransactWriteItems", cancelled("ThrottlingError", "None"), times=1)
    assert api.post(body=booking()).status == 201


def test_a_conditional_failure_beside_throttling_is_a_race_and_read_again(api, store):
    api.post(body=booking())
    Refusals(store.dynamodb, "TransactWriteItems", cancelled("ConditionalCheckFailed", "ThrottlingError"), times=1)
    response = api.post(body=booking())
    assert (response.status, response.body["error"]) == (409, "Conflict")  # re-read, and decided on what is there


def test_unprocessed_keys_are_asked_again_a_bounded_number_of_times_then_503(api, store):
    def unprocessed(**kwargs):
        unprocessed.calls += 1
        return AWSResponse("https://dynamodb.local", 200, {}, None), {"Responses": {},
                                                                      "UnprocessedKeys": asked(kwargs)}
    unprocessed.calls = 0
    store.dynamodb.meta.events.register("before-call.dynamodb.BatchGetItem", unprocessed)
    assert_unavailable(api.post(body=booking()))
    assert 1 < unprocessed.calls <= 5
    assert stored(store) == []


def test_unprocessed_keys_that_clear_are_read(api, store):
    def once(**kwargs):
        if not once.done:
            once.done = True
            return AWSResponse("https://dynamodb.local", 200, {}, None), {
                "Responses": {}, "UnprocessedKeys": asked(kwargs)}
        return None
    once.done = False
    store.dynamodb.meta.events.register("before-call.dynamodb.BatchGetItem", once)
    assert api.post(body=booking()).status == 201
    assert api.post(body=booking()).status == 409


@pytest.mark.parametrize(("operation", "code"), [("GetItem", "ThrottlingException"),
                                                 ("GetItem", "ProvisionedThroughputExceededException"),
                                                 ("Query", "RequestLimitExceeded")])
def test_a_throttled_read_is_503_not_500(api, store, operation, code):
    created = api.post(body=booking()).body
    Refusals(store.dynamodb, operation, error(code), times=100)
    path = (f"/appointments/{created['appointmentId']}" if operation == "GetItem"
            else "/calendars/alice/busy")
    assert_unavailable(api.get(path, query="" if operation == "GetItem"
                               else "from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z"))


def test_an_item_dynamodb_cannot_hold_is_a_4xx_not_a_500(api, store):
    Refusals(store.dynamodb, "TransactWriteItems", error(
        "TransactionCanceledException", CancellationReasons=[
            {"Code": "None"},
            {"Code": "ValidationError", "Message": "Item size has exceeded the maximum allowed size"}]))
    response = api.post(body=booking())
    assert (response.status, response.body["error"]) == (400, "ValidationError"), response.body
    assert stored(store) == []
