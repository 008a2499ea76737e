"""The local Scheduler stand-in keeps due times in order and reads only what is new, changed or due."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from local_aws import ScheduleFirer

GROUP = "reminders-test"
TARGET = {"Arn": "arn:aws:lambda:us-east-1:123456789012:function:ReminderSender-test",
          "RoleArn": "arn:aws:iam::123456789012:role/invoke", "Input": "{}"}
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
EVERY_CALL, FIRST_CALL_ONLY = math.inf, 1e-12  # listing_share: how often the group is listed again


class Counting:
    """A real scheduler client that counts GetSchedule calls."""

    def __init__(self, client):
        self._client, self.gets = client, 0

    def get_schedule(self, **kwargs):
        self.gets += 1
        return self._client.get_schedule(**kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


@pytest.fixture
def scheduler(aws):
    client = boto3.client("scheduler")
    client.create_schedule_group(Name=GROUP)
    return Counting(client)


def schedule(client, name: str, at: datetime, *, update: bool = False) -> None:
    (client.update_schedule if update else client.create_schedule)(
        Name=name, GroupName=GROUP, ScheduleExpression=f"at({at:%Y-%m-%dT%H:%M:%S})",
        ScheduleExpressionTimezone="UTC", FlexibleTimeWindow={"Mode": "OFF"}, Target=TARGET,
        ActionAfterCompletion="DELETE")


def firer(client, fired: list, listing_share: float) -> ScheduleFirer:
    return ScheduleFirer(client, GROUP, lambda arn, payload: fired.append(arn), listing_share=listing_share)


def test_a_tick_fetches_only_the_schedules_that_are_new_changed_or_due(scheduler):
    for n in range(50):
        schedule(scheduler, f"later-{n}", NOW + timedelta(days=1, minutes=n))
    fired: list = []
    ticks = firer(scheduler, fired, EVERY_CALL)

    ticks.fire_due(NOW)
    assert scheduler.gets == 50  # each learned once
    ticks.fire_due(NOW + timedelta(seconds=1))
    assert scheduler.gets == 50

    schedule(scheduler, "later-7", NOW + timedelta(days=2), update=True)
    schedule(scheduler, "soon", NOW + timedelta(seconds=30))
    ticks.fire_due(NOW + timedelta(seconds=2))
    assert scheduler.gets == 52
    assert ticks.fire_due(NOW + timedelta(seconds=30)) == ["soon"]
    assert scheduler.gets == 53  # read once more right before it fired
    assert len(fired) == 1
    assert len(scheduler.list_schedules(GroupName=GROUP)["Schedules"]) == 50


def test_a_schedule_moved_later_after_it_was_learned_fires_at_its_new_time_only(scheduler):
    schedule(scheduler, "moved", NOW + timedelta(minutes=1))
    fired: list = []
    ticks = firer(scheduler, fired, FIRST_CALL_ONLY)
    assert ticks.fire_due(NOW) == []
    schedule(scheduler, "moved", NOW + timedelta(minutes=5), update=True)  # as a reschedule does

    assert ticks.fire_due(NOW + timedelta(minutes=1)) == []
    assert ticks.fire_due(NOW + timedelta(minutes=4)) == []
    assert ticks.fire_due(NOW + timedelta(minutes=5)) == ["moved"]
    assert len(fired) == 1


def test_a_schedule_deleted_after_it_was_learned_is_never_fired(scheduler):
    schedule(scheduler, "withdrawn", NOW + timedelta(minutes=1))
    fired: list = []
    ticks = firer(scheduler, fired, FIRST_CALL_ONLY)
    assert ticks.fire_due(NOW) == []
    scheduler.delete_schedule(Name="withdrawn", GroupName=GROUP)  # as a cancellation does
    assert ticks.fire_due(NOW + timedelta(minutes=1)) == []
    assert fired == []


def test_a_failed_invocation_is_retried_on_the_next_tick_up_to_the_retry_policy(scheduler):
    schedule(scheduler, "flaky", NOW)
    calls: list = []

    def invoke(arn, payload):
        calls.append(arn)
        if len(calls) < 3:
            raise RuntimeError("the function failed")

    ticks = ScheduleFirer(scheduler, GROUP, invoke, listing_share=FIRST_CALL_ONLY)
    assert [ticks.fire_due(NOW + timedelta(seconds=s)) for s in range(4)] == [[], [], ["flaky"], []]
    assert len(calls) == 3
