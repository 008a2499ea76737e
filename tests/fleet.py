"""A fleet of Lambda instances for race tests: one spawned process per instance, released by a barrier.

Each worker imports conflict_detector in its own interpreter (one instance serves one request at a
time, DESIGN.md), builds its clients against the moto server named by AWS_ENDPOINT_URL, and waits at
the barrier before every invocation so that all requests of a round are in flight together.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass

ROUND_TIMEOUT = 120


@dataclass(frozen=True)
class Invocation:
    method: str
    path: str
    body: dict | None = None
    headers: tuple[tuple[str, str], ...] = ()


def _worker(commands, results, barrier, store: str) -> None:
    import json

    import boto3

    import conflict_detector
    from appointments.settings import ApiSettings
    from appointments.wiring import build_services
    from lambdas import api_event, invoke_api

    conflict_detector.use(build_services(boto3.client("dynamodb"), ApiSettings.from_environment(),
                                         store_class=STORES[store]()))
    while (invocation := commands.get()) is not None:
        event = api_event(invocation.method, invocation.path, invocation.body, headers=dict(invocation.headers))
        barrier.wait(timeout=ROUND_TIMEOUT)
        result = invoke_api(event, "ConflictDetector-race")
        results.put((result["statusCode"], json.loads(result["body"])))


class Fleet:
    def __init__(self, size: int, store: str = "correct"):
        context = multiprocessing.get_context("spawn")
        self.barrier = context.Barrier(size)
        self.results = context.Queue()
        self.queues = [context.Queue() for _ in range(size)]
        self.processes = [context.Process(target=_worker, args=(q, self.results, self.barrier, store), daemon=True)
                          for q in self.queues]
        for process in self.processes:
            process.start()

    def round(self, invocations: list[Invocation]) -> list[tuple[int, dict]]:
        """Run one invocation per worker, all released together; return (status, body) per invocation."""
        assert len(invocations) == len(self.queues)
        for queue, invocation in zip(self.queues, invocations, strict=True):
            queue.put(invocation)
        return [self.results.get(timeout=ROUND_TIMEOUT) for _ in invocations]

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def close(self) -> None:
        for queue in self.queues:
            queue.put(None)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


def unconditioned(write: dict) -> dict:
    for operation in write.values():
        for name in ("ConditionExpression", "ExpressionAttributeNames", "ExpressionAttributeValues"):
            operation.pop(name, None)
    return write


def correct_store_class():
    from appointments.store import BookingStore

    return BookingStore


def racy_store_class():
    from appointments.store import BookingStore

    class RacyStore(BookingStore):
        """Deliberately broken: bucket writes carry no version condition (check-then-write)."""

        def _bucket_write(self, bucket, entries):
            return unconditioned(super()._bucket_write(bucket, entries))

    return RacyStore


def racy_participants_store_class():
    from appointments.store import BookingStore

    class RacyParticipantsStore(BookingStore):
        """Deliberately broken: only the user's own buckets are conditioned, the participants' are not."""

        def commit(self, commit):
            self.user = commit.appointment.user_id
            return super().commit(commit)

        def _bucket_write(self, bucket, entries):
            write = super()._bucket_write(bucket, entries)
            return write if bucket.calendar_id == self.user else unconditioned(write)

    return RacyParticipantsStore


def racy_rules_store_class():
    from dataclasses import replace

    from appointments.store import BookingStore

    class RacyRulesStore(BookingStore):
        """Deliberately broken: a booking does not condition-check the availability rules it read."""

        def commit(self, commit):
            return super().commit(replace(commit, rules={}))

    return RacyRulesStore


def racy_updates_store_class():
    from appointments.store import BookingStore

    class RacyUpdatesStore(BookingStore):
        """Deliberately broken: an appointment's update is not conditioned on the version read."""

        def _appointment_write(self, new, previous, at=None):
            write = super()._appointment_write(new, previous, at)
            if "Update" in write:
                write["Update"].pop("ConditionExpression")
                write["Update"]["ExpressionAttributeNames"].pop("#version")
                write["Update"]["ExpressionAttributeValues"].pop(":expected")
            return write

    return RacyUpdatesStore


def racy_series_store_class():
    from dataclasses import replace

    from appointments.store import BookingStore

    class RacySeriesStore(BookingStore):
        """Deliberately broken: a series' occurrences are committed in separate transactions, one each (with
        the buckets its entry is in and no earlier one wrote), instead of all in one."""

        def commit(self, commit):
            if len(commit.appointments) == 1:
                return super().commit(commit)
            written = set()
            for number, (new, previous) in enumerate(commit.appointments):
                mine = tuple((bucket, entries) for bucket, entries in commit.buckets
                             if (bucket.calendar_id, bucket.day) not in written
                             and entries is not None and new.appointment_id in entries)
                written |= {(bucket.calendar_id, bucket.day) for bucket, _ in mine}
                super().commit(replace(commit, appointments=((new, previous),), buckets=mine,
                                       rules=commit.rules if number == 0 else {},
                                       series=commit.series if number == 0 else None))
            return None

    return RacySeriesStore


def racy_holds_store_class():
    from appointments.store import BookingStore

    class RacyHoldsStore(BookingStore):
        """Deliberately broken: the user's holds item is written without the version it was read at."""

        def _holds_write(self, user_id, version, holds):
            return unconditioned(super()._holds_write(user_id, version, holds))

    return RacyHoldsStore


def racy_reach_store_class():
    from appointments import decision
    from appointments.store import BookingStore

    # Deliberately broken: a booking decides on a read that misses buckets the rules it found reach (the
    # other UTC day of a daily cap's local date), instead of reading them first.
    decision.unread = lambda decided, snapshot: set()
    return BookingStore


STORES = {"correct": correct_store_class, "racy": racy_store_class, "racy-updates": racy_updates_store_class,
          "racy-participants": racy_participants_store_class, "racy-rules": racy_rules_store_class,
          "racy-series": racy_series_store_class, "racy-holds": racy_holds_store_class,
          "racy-reach": racy_reach_store_class}
