"""The in-process measurements, on the real template deployed into in-process moto: AWS calls per
operation, capacity units of bookings and agendas, the handler's CPU on bookings and slot searches,
pools, holds and series (and the largest series one transaction holds), the event publisher's calls per
stream record; and cold imports from the Lambda zip.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import subprocess
import sys
import time
from datetime import timedelta

from bench.capacity import capacity_units
from bench.config import ISO, NOW, RUNS
from bench.recording import AwsRecorder
from bench.stack import Harness
from proxy_events import LambdaContext


def slot(day: int, hour: int, minutes: int = 60) -> tuple[str, str]:
    start = NOW + timedelta(days=day, hours=hour)
    return start.strftime(ISO), (start + timedelta(minutes=minutes)).strftime(ISO)


def measure_calls(harness: Harness, recorder: AwsRecorder) -> dict[str, dict[str, int]]:
    import reminder_scheduler
    import reminder_sender

    results: dict[str, dict[str, int]] = {}

    def run(label: str, action) -> object:
        with recorder.measuring() as measured:
            outcome = action()
        results[label] = measured["calls"]
        return outcome

    start, end = slot(3, 9)
    body = {"userId": "calls", "startTime": start, "endTime": end}
    harness.drain_stream()
    status, booked = run("book", lambda: harness.http("POST", "/appointments", body))
    assert status == 201, booked
    run("book, conflicting (409)", lambda: harness.http("POST", "/appointments", body))
    keyed = {"userId": "calls", "startTime": slot(4, 9)[0], "endTime": slot(4, 9)[1]}
    run("book with Idempotency-Key", lambda: harness.http("POST", "/appointments", keyed,
                                                           headers={"Idempotency-Key": "k1"}))
    run("book, idempotent replay", lambda: harness.http("POST", "/appointments", keyed,
                                                         headers={"Idempotency-Key": "k1"}))
    records = harness.drain_stream()
    insert = [r for r in records if r["dynamodb"]["Keys"]["appointmentId"]["S"] == booked["appointmentId"]]
    context = LambdaContext("ReminderScheduler-bench")
    run("schedule 2 reminders (stream INSERT)", lambda: reminder_scheduler.handler({"Records": insert}, context))
    new_start, new_end = slot(5, 14)
    run("reschedule (PATCH)", lambda: harness.http("PATCH", f"/appointments/{booked['appointmentId']}",
                                                   {"startTime": new_start, "endTime": new_end}))
    run("list (GET /appointments)", lambda: harness.http("GET", "/appointments", query="userId=calls"))
    window = f"from={slot(0, 0)[0]}&to={slot(14, 0)[0]}"
    run("free/busy, 14 days", lambda: harness.http("GET", "/users/calls/busy", query=window))
    request = {"appointmentId": booked["appointmentId"], "userId": "calls", "minutesBefore": 60,
               "startTime": new_start, "reminderType": "1_hour"}
    run("send 1 reminder", lambda: reminder_sender.handler(request, LambdaContext("ReminderSender-bench")))
    run("send it again (duplicate delivery)",
        lambda: reminder_sender.handler(request, LambdaContext("ReminderSender-bench")))
    run("cancel (DELETE)", lambda: harness.http("DELETE", f"/appointments/{booked['appointmentId']}"))
    return results


def measure_capacity(harness: Harness, recorder: AwsRecorder, clock) -> list[dict]:
    """One booking's units when the user has 10 or 10,000 appointments, in the past year or the coming one."""
    from appointments.appointment import new_appointment
    from appointments.times import Interval
    from seeding import bulk_load

    tables = {harness.tables.table}  # the appointments table carries the GSI (projection ALL)
    rows = []
    for where in ("past year", "coming year"):
        for count in (10, 10_000):
            user = f"cap-{where[0]}-{count}"
            step = timedelta(days=365) / count
            origin = NOW - timedelta(days=365) if where == "past year" else NOW + timedelta(days=1)
            appointments = []
            for i in range(count):
                start = origin + step * i
                appointment = new_appointment({"userId": user, "startTime": start.strftime(ISO),
                                               "endTime": (start + timedelta(minutes=30)).strftime(ISO)},
                                              appointment_id=f"{user}-{i:05d}", now=start - timedelta(days=1))
                appointments.append(appointment)
            bulk_load(harness.tables, appointments)
            # A 15-minute booking on a free slot of a day inside the range (the seeded ones leave 22-minute gaps).
            day_start = NOW + timedelta(days=183 if where == "coming year" else 1, hours=12)
            same_day = [a.interval for a in appointments if a.interval.start.date() == day_start.date()]
            start = day_start
            while any(Interval(start, start + timedelta(minutes=15)).overlaps(t) for t in same_day):
                start += timedelta(minutes=1)
            body = {"userId": user, "startTime": start.strftime(ISO),
                    "endTime": (start + timedelta(minutes=15)).strftime(ISO)}
            with recorder.measuring() as measured:
                status, result = harness.http("POST", "/appointments", body)
            assert status == 201, result
            reads, writes = capacity_units(measured["exchanges"], tables)
            rows.append({"where": where, "count": count, "reads": reads, "writes": writes, "same_day": len(same_day),
                         "calls": measured["calls"]})
    return rows


def measure_calendars(harness: Harness, recorder: AwsRecorder) -> dict[str, list[dict]]:
    """A booking with 0, 2 and 8 participants; the agenda of a provider with 10 or 10,000 appointments of history."""
    from appointments.appointment import new_appointment
    from seeding import bulk_load

    tables = {harness.tables.table}
    bookings = []
    for count in (0, 2, 8):
        body = {"userId": f"party-{count}", "participants": [f"room-{count}-{i}" for i in range(count)],
                "startTime": slot(20, 9)[0], "endTime": slot(20, 9)[1]}
        with recorder.measuring() as measured:
            status, result = harness.http("POST", "/appointments", body)
        assert status == 201, result
        reads, writes = capacity_units(measured["exchanges"], tables)
        bookings.append({"participants": count, "calls": measured["calls"], "reads": reads, "writes": writes})
    agendas = []
    for history in (10, 10_000):
        provider = f"dr-{history}"
        step = timedelta(days=365) / history
        past = [NOW - timedelta(days=365) + step * i for i in range(history)]
        week = [NOW + timedelta(days=2 + i, hours=9) for i in range(5)]  # the same five in either case
        bulk_load(harness.tables, (new_appointment(
            {"userId": f"patient-{provider}-{i}", "participants": [provider], "startTime": start.strftime(ISO),
             "endTime": (start + timedelta(minutes=30)).strftime(ISO)},
            appointment_id=f"{provider}-{i:05d}", now=start - timedelta(days=1))
            for i, start in enumerate(past + week)))
        window = f"from={NOW.strftime(ISO)}&to={(NOW + timedelta(days=7)).strftime(ISO)}"
        with recorder.measuring() as measured:
            status, result = harness.http("GET", f"/calendars/{provider}/appointments", query=window)
        assert status == 200, result
        assert len(result["appointments"]) == len(week), result
        reads, _ = capacity_units(measured["exchanges"], tables)
        agendas.append({"history": history, "calls": measured["calls"], "reads": reads,
                        "listed": len(result["appointments"])})
    return {"bookings": bookings, "agendas": agendas, **measure_rules(harness, recorder),
            "busy_searches": measure_busy_searches(harness, recorder)}


def measure_rules(harness: Harness, recorder: AwsRecorder) -> dict[str, list[dict]]:
    """A booking with a participant that has availability, and slot searches for 1 and 3 calendars over
    7 and 31 days, with the handler's CPU time per request measured in the same run."""
    from appointments.rules_store import RulesStore

    tables = {harness.tables.table}
    for calendar in ("dr-rules", "room-rules", "nurse-rules"):
        RulesStore(harness.tables).put(calendar, office_hours(bufferAfter=10, maxPerDay=20))
    day = (NOW + timedelta(days=3)).strftime("%Y-%m-%d")
    body = {"userId": "ruled", "participants": ["dr-rules"], "startTime": f"{day}T09:00:00Z",
            "endTime": f"{day}T09:30:00Z"}

    with recorder.measuring() as measured:
        status, result = harness.http("POST", "/appointments", body)
    assert status == 201, result
    reads, writes = capacity_units(measured["exchanges"], tables)
    booking_body = {**body, "userId": "ruled-replay"}  # replayed answers: nothing is stored again
    booking = {"calls": measured["calls"], "reads": reads, "writes": writes,
               "cpu": harness.handler_cpu(measured["exchanges"], "POST", "/appointments", booking_body)}
    # The function now knows dr-rules has rules, and reads where they reach at once.
    again = {**body, "userId": "ruled-again", "startTime": f"{day}T10:00:00Z", "endTime": f"{day}T10:30:00Z"}
    with recorder.measuring() as measured:
        status, result = harness.http("POST", "/appointments", again)
    assert status == 201, result
    reads, writes = capacity_units(measured["exchanges"], tables)
    known = {"calls": measured["calls"], "reads": reads, "writes": writes}
    searches = []
    for calendars, days in ((1, 7), (3, 7), (1, 31), (3, 31)):
        window = f"from={NOW.strftime(ISO)}&to={(NOW + timedelta(days=days)).strftime(ISO)}&duration=30"
        search = window + ("&with=room-rules,nurse-rules" if calendars == 3 else "")
        with recorder.measuring() as measured:
            status, result = harness.http("GET", "/calendars/dr-rules/slots", query=search)
        assert status == 200, result
        reads, _ = capacity_units(measured["exchanges"], tables)
        searches.append({"calendars": calendars, "days": days, "calls": measured["calls"], "reads": reads,
                         "slots": len(result["slots"]),
                         "cpu": harness.handler_cpu(measured["exchanges"], "GET", "/calendars/dr-rules/slots",
                                                    query=search)})
    return {"ruled_booking": [booking], "ruled_known": [known], "searches": searches}


SEARCHED = 9  # the calendar searched and the 8 that ``with`` names
PER_DAY = 40  # appointments a day on a busy calendar
SEARCH = {"days": 31, "step": 5, "duration": 30}


def busy_day(calendars: list[str], day: int) -> list[dict]:
    """A busy calendar's day: 40 appointments of 20 minutes, one every 30 minutes from 00:00 to 19:30
    UTC, each occupying ``calendars`` (the first as its userId, the others as participants). The
    10-minute gaps take no 30-minute slot; the evening does."""
    starts = [NOW + timedelta(days=day, minutes=30 * n) for n in range(PER_DAY)]
    return [{"userId": calendars[0], "participants": calendars[1:], "startTime": start.strftime(ISO),
             "endTime": (start + timedelta(minutes=20)).strftime(ISO)} for start in starts]


def measure_busy_searches(harness: Harness, recorder: AwsRecorder) -> list[dict]:
    """Slot search over 9 calendars with rules (open 00:00-24:00 every day in Berlin, so every candidate
    is checked against rules), 31 days, a 5-minute step, 30-minute slots: once with all nine calendars
    holding 40 appointments a day, once with only the last one busy, so that every candidate is decided
    on all nine. The handler's CPU per request, replayed as for the other searches."""
    from appointments.appointment import new_appointment
    from appointments.availability import parse_availability, slot_candidates
    from appointments.rules_store import RulesStore
    from appointments.times import Interval
    from seeding import bulk_load

    always_open = parse_availability({"timeZone": "Europe/Berlin", "weekly": {
        d: [{"start": "00:00", "end": "24:00"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}})
    window = (f"from={NOW.strftime(ISO)}&to={(NOW + timedelta(days=SEARCH['days'])).strftime(ISO)}"
              f"&duration={SEARCH['duration']}&step={SEARCH['step']}")
    candidates = sum(1 for _ in slot_candidates(always_open, Interval(NOW, NOW + timedelta(days=SEARCH["days"])),
                                                timedelta(minutes=SEARCH["duration"]),
                                                timedelta(minutes=SEARCH["step"])))
    rows = []
    for case in ("all nine busy", "only the last busy"):
        calendars = [f"{case.split()[0]}-busy-{i}" for i in range(SEARCHED)]
        for calendar in calendars:
            RulesStore(harness.tables).put(calendar, always_open)
        busy = calendars if case == "all nine busy" else calendars[-1:]
        days = range(-1, SEARCH["days"] + 1)  # the window's days, and one either side that a search may read
        bulk_load(harness.tables, (new_appointment(body, appointment_id=f"{busy[0]}-{day}-{n:02d}",
                                                   now=NOW - timedelta(days=2))
                                   for day in days for n, body in enumerate(busy_day(busy, day))))
        path, query = f"/calendars/{calendars[0]}/slots", f"{window}&with={','.join(calendars[1:])}"
        with recorder.measuring() as measured:
            status, result = harness.http("GET", path, query=query)
        assert status == 200, result
        reads, _ = capacity_units(measured["exchanges"], {harness.tables.table})
        rows.append({"case": case, "calls": measured["calls"], "reads": reads, "slots": len(result["slots"]),
                     "cpu": harness.handler_cpu(measured["exchanges"], "GET", path, query=query, repeat=5),
                     **SEARCH, "calendars": SEARCHED, "per_day": PER_DAY, "candidates": candidates})
    return rows


# -- pools (anyOf), holds and series -------------------------------------------------------------------------

POOL_SIZES = (2, 5, 10)
POOL_MEMBERS, POOL_DAYS = 10, (7, 31)  # the pool whose slots are searched, and the windows


def office_hours(**extra) -> object:
    """Europe/Berlin rules open 09:00-12:00 and 13:00-17:00 every day, with ``extra`` fields (API.md names)."""
    from appointments.availability import parse_availability

    return parse_availability({"timeZone": "Europe/Berlin", **extra, "weekly": {
        d: [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]
        for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}})


def measure_pools(harness: Harness, recorder: AwsRecorder, sizes=POOL_SIZES, searched: int = POOL_MEMBERS,
                  windows=POOL_DAYS) -> dict[str, list[dict]]:
    """A pool booking (anyOf) of 2, 5 and 10 members (fresh calendars, without rules); and the slot search of
    a pool of 10 members with office hours, a 10-minute buffer and a daily cap, each busy one hour a day at
    its own time, for 30-minute slots over 7 and 31 days: calls, units, and the handler's CPU per request,
    replayed; and, to compare them with, the CPU of a plain booking (a user's own calendar, no rules) in
    this run."""
    from appointments.appointment import new_appointment
    from appointments.rules_store import RulesStore
    from seeding import bulk_load

    tables = {harness.tables.table}
    start, end = slot(21, 9)
    plain = {"userId": "plain-booker", "startTime": start, "endTime": end}
    with recorder.measuring() as measured:
        status, result = harness.http("POST", "/appointments", plain)
    assert status == 201, result
    reads, writes = capacity_units(measured["exchanges"], tables)
    booking = {"calls": measured["calls"], "reads": reads, "writes": writes,
               "cpu": harness.handler_cpu(measured["exchanges"], "POST", "/appointments",
                                          {**plain, "userId": "plain-replay"})}
    bookings = []
    for size in sizes:
        members = [f"pool-{size}-{i}" for i in range(size)]
        start, end = slot(21, 9)
        with recorder.measuring() as measured:
            status, result = harness.http("POST", "/appointments", {"userId": f"pooled-{size}", "anyOf": members,
                                                                    "startTime": start, "endTime": end})
        assert status == 201, result
        assert result["assigned"] in members, result
        reads, writes = capacity_units(measured["exchanges"], tables)
        bookings.append({"members": size, "calls": measured["calls"], "reads": reads, "writes": writes})
    members = [f"stylist-{searched}-{i}" for i in range(searched)]
    for member in members:
        RulesStore(harness.tables).put(member, office_hours(bufferAfter=10, maxPerDay=20))
    longest = max(windows)
    bulk_load(harness.tables, (new_appointment(
        {"userId": f"client-{member}-{day}", "participants": [member], "startTime": slot(day, 8 + i % 8)[0],
         "endTime": slot(day, 8 + i % 8)[1]}, appointment_id=f"{member}-{day}", now=NOW - timedelta(days=2))
        for i, member in enumerate(members) for day in range(-1, longest + 1)))
    searches = []
    for days in windows:
        search = (f"anyOf={','.join(members)}&from={NOW.strftime(ISO)}&to={(NOW + timedelta(days=days)).strftime(ISO)}"
                  "&duration=30")
        with recorder.measuring() as measured:
            status, result = harness.http("GET", "/slots", query=search)
        assert status == 200, result
        assert result["slots"], result
        reads, _ = capacity_units(measured["exchanges"], tables)
        searches.append({"members": len(members), "days": days, "calls": measured["calls"], "reads": reads,
                         "slots": len(result["slots"]),
                         "choices": sum(len(s["calendars"]) for s in result["slots"]) / len(result["slots"]),
                         "cpu": harness.handler_cpu(measured["exchanges"], "GET", "/slots", query=search)})
    return {"plain": booking, "bookings": bookings, "searches": searches}


def measure_holds(harness: Harness, recorder: AwsRecorder) -> list[dict]:
    """A 10-minute hold of a user's own calendar (as the plain booking above), and its confirmation."""
    tables = {harness.tables.table}
    start, end = slot(22, 9)
    rows = []
    with recorder.measuring() as measured:
        status, held = harness.http("POST", "/appointments", {"userId": "holder", "startTime": start, "endTime": end,
                                                              "hold": 10})
    assert status == 201, held
    assert held["status"] == "held", held
    reads, writes = capacity_units(measured["exchanges"], tables)
    rows.append({"case": "hold (POST /appointments, hold 10)", "calls": measured["calls"], "reads": reads,
                 "writes": writes})
    with recorder.measuring() as measured:
        status, confirmed = harness.http("POST", f"/appointments/{held['appointmentId']}/confirm")
    assert status == 200, confirmed
    assert confirmed["status"] == "scheduled", confirmed
    reads, writes = capacity_units(measured["exchanges"], tables)
    rows.append({"case": "confirm it (POST /appointments/{id}/confirm)", "calls": measured["calls"], "reads": reads,
                 "writes": writes})
    return rows


SERIES_COUNTS = (10, 24)
SERIES_CALENDARS = (1, 2, 3, 9)  # the user and participants


def weekly_series(user: str, participants: list[str], count: int) -> dict:
    """A weekly series of one-hour appointments at 10:00 in Berlin, from the coming week on."""
    return {"userId": user, "participants": participants, "timeZone": "Europe/Berlin",
            "startTime": slot(7, 9)[0], "endTime": slot(7, 9)[1],
            "repeat": {"every": 1, "unit": "week", "count": count}}


def transaction_actions(exchanges: list) -> int:
    [actions] = [len(params["TransactItems"]) for name, params, _ in exchanges if name == "TransactWriteItems"]
    return actions


def measure_series(harness: Harness, recorder: AwsRecorder, counts=SERIES_COUNTS) -> list[dict]:
    """``POST /series`` of 10 and 24 weekly occurrences of a user and one provider (fresh calendars)."""
    rows = []
    for count in counts:
        body = weekly_series(f"weekly-{count}", [f"physio-{count}"], count)
        with recorder.measuring() as measured:
            status, result = harness.http("POST", "/series", body)
        assert status == 201, result
        assert len(result["occurrences"]) == count, result
        reads, writes = capacity_units(measured["exchanges"], {harness.tables.table})
        rows.append({"occurrences": count, "calendars": 2, "calls": measured["calls"], "reads": reads,
                     "writes": writes, "actions": transaction_actions(measured["exchanges"])})
    return rows


def measure_series_limits(harness: Harness, recorder: AwsRecorder, calendar_counts=SERIES_CALENDARS) -> list[dict]:
    """The largest weekly series one transaction holds, for each number of calendars (the user and
    participants), without rules and with a daily cap in Berlin on every calendar (a cap counts a local
    date, which spans two UTC days' buckets). The service is asked: a series of the most occurrences the API
    takes is refused naming the largest count that fits (``series_bookings._fits``); one more than that must
    be refused too, and that count is then booked, and its transaction's actions counted. The first
    refusal's CPU in this process (the handler's, and moto's on the reads) is kept too."""
    from appointments.rules_store import RulesStore
    from appointments.series import MAX_OCCURRENCES

    rows = []
    for calendars in calendar_counts:
        for capped in (False, True):
            user = f"limit-{'capped' if capped else 'plain'}-{calendars}"
            participants = [f"{user}-p{i}" for i in range(calendars - 1)]
            for calendar in [user, *participants] if capped else ():
                RulesStore(harness.tables).put(calendar, office_hours(maxPerDay=20))
            largest, refusal = MAX_OCCURRENCES, None
            with recorder.measuring() as measured:
                started = time.process_time()
                status, answer = harness.http("POST", "/series", weekly_series(user, participants, largest))
                spent = time.process_time() - started
            if status == 400:
                refusal = spent  # the handler's own CPU, and moto's on its reads, in this process
                found = re.search(r"at most (\d+) occurrences fit", answer["message"])
                assert answer.get("field") == "repeat", answer
                assert found, answer
                largest = int(found.group(1))
                status, answer = harness.http("POST", "/series", weekly_series(user, participants, largest + 1))
                assert status == 400, answer
                assert answer.get("field") == "repeat", answer
                with recorder.measuring() as measured:
                    status, answer = harness.http("POST", "/series", weekly_series(user, participants, largest))
            assert status == 201, answer
            assert len(answer["occurrences"]) == largest, answer
            rows.append({"calendars": calendars, "capped": capped, "largest": largest, "most": MAX_OCCURRENCES,
                         "refusal_cpu": refusal,
                         "actions": transaction_actions(measured["exchanges"])})
    return rows


def measure_events(harness: Harness, recorder: AwsRecorder) -> list[dict]:
    """AWS calls of the event publisher per stream record: a batch of many appointments' changes, and a
    batch of one appointment's successive versions (which go one to a call, to keep their order)."""
    import boto3

    import event_publisher
    from local_aws import StreamPump

    # From now on: what earlier measurements wrote (tens of thousands of records) is not this batch.
    stream = StreamPump(boto3.client("dynamodbstreams"), harness.pump.stream_arn, starting_position="LATEST")
    stream.poll()

    def publish(case: str) -> dict:
        records = stream.poll()
        with recorder.measuring() as measured:
            result = event_publisher.handler({"Records": records}, LambdaContext("EventPublisher-bench"))
        assert not result["batchItemFailures"], result
        return {"case": f"{len(records)} {case}", "records": len(records), "calls": measured["calls"]}

    for n in range(40):
        start, end = slot(30 + n % 5, 8 + n // 5)
        status, booked = harness.http("POST", "/appointments", {"userId": f"events-{n}", "startTime": start,
                                                                "endTime": end})
        assert status == 201, booked
    many = publish("bookings of different appointments")
    start, end = slot(40, 9)
    status, one = harness.http("POST", "/appointments", {"userId": "events-one", "startTime": start, "endTime": end})
    for n in range(4):
        harness.http("PATCH", f"/appointments/{one['appointmentId']}", {"details": {"note": str(n)}})
    return [many, publish("versions of one appointment")]


# -- cold imports -------------------------------------------------------------------------------------------

COLD_IMPORTS = ["boto3", "conflict_detector", "event_publisher", "reminder_scheduler", "reminder_sender", "notifier",
                "appointments.calendar_files"]


def measure_cold_imports(zip_package, runs: int = RUNS) -> dict[str, float]:
    """Each module imported from the extracted Lambda zip (with its bytecode, as Lambda loads it), and the
    booking handler once more from the same sources without bytecode, to show what the bytecode saves.
    Nothing is written next to the code (PYTHONDONTWRITEBYTECODE), as on Lambda's read-only /var/task."""
    import tempfile
    import zipfile

    with tempfile.TemporaryDirectory() as task, tempfile.TemporaryDirectory() as bare:
        zipfile.ZipFile(zip_package.path).extractall(task)
        zipfile.ZipFile(zip_package.path).extractall(bare, [n for n in zipfile.ZipFile(zip_package.path).namelist()
                                                           if not n.endswith(".pyc")])
        runs_of = {m: task for m in COLD_IMPORTS} | {"conflict_detector (no bytecode)": bare}
        samples: dict[str, list[float]] = {m: [] for m in runs_of}
        for _ in range(runs):
            for label in random.sample(list(runs_of), len(runs_of)):  # interleaved, in a new order each round
                module = label.split(" ")[0]
                code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
                env = {**os.environ, "PYTHONPATH": runs_of[label], "PYTHONDONTWRITEBYTECODE": "1"}
                output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                        check=True)
                samples[label].append(float(output.stdout))
    return {m: statistics.median(v) for m, v in samples.items()}
