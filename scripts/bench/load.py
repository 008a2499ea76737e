"""Load against `make run` as a subprocess: booking throughput under concurrency (with the double-booking
count), moto's memory and booking latency as the tables fill, and the reminder firer with many schedules.
These figures are bound by moto on this machine, not AWS figures.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.config import FILL_CLIENTS, FILL_LEVELS, FILL_SAMPLE, ISO, NOW, SCHEDULES
from local_env import fake_aws_environment, free_port

SCRIPTS = Path(__file__).resolve().parent.parent
PER_DAY = 48  # half-hour appointments that fill a provider's day


@contextmanager
def running_stack(workers: int = FILL_CLIENTS):
    """`make run` as a subprocess on free ports; yields (API port, moto port, moto server pid) once it is ready."""
    port, moto_port = free_port(), free_port()
    # run_local points itself at its own moto server (local_env), whatever this process's AWS variables say.
    env = {**os.environ, "PORT": str(port), "MOTO_PORT": str(moto_port), "WORKERS": str(workers)}
    stack = subprocess.Popen([sys.executable, str(SCRIPTS / "run_local.py")], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        deadline, moto_pid = time.monotonic() + 120, None
        for line in stack.stdout:
            if found := re.search(r"moto server pid (\d+)", line):  # printed with "ready on"
                moto_pid = int(found.group(1))
                break
            if time.monotonic() > deadline:
                raise RuntimeError("make run did not come up")
        if moto_pid is None:
            raise RuntimeError("make run stopped before it was ready")
        threading.Thread(target=lambda: [None for _ in stack.stdout], daemon=True).start()
        yield port, moto_port, moto_pid
    finally:
        stack.terminate()
        stack.wait(timeout=30)


def moto_client(name: str, moto_port: int):
    """A client of the moto server on ``moto_port``, whatever this process's AWS variables say."""
    import boto3

    fake = fake_aws_environment(f"http://127.0.0.1:{moto_port}")
    return boto3.client(name, endpoint_url=fake["AWS_ENDPOINT_URL"], region_name=fake["AWS_DEFAULT_REGION"],
                        aws_access_key_id=fake["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=fake["AWS_SECRET_ACCESS_KEY"])


def post_booking(port: int, body: dict, timeout: float) -> tuple[int, float]:
    """POST /appointments; (the status, the seconds it took). A reset or refused connection is a failed
    request, counted as 599."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/appointments", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (loopback)
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError:
        status = 599
    return status, time.perf_counter() - began


def measure_throughput(clients_list: list[int], seconds: float) -> list[dict]:
    with running_stack(int(os.environ.get("WORKERS", "4"))) as (port, moto_port, _):
        return [run_load(port, moto_port, n, seconds, round_number) for round_number, n in enumerate(clients_list)]


def run_load(port: int, moto_port: int, clients: int, seconds: float, round_number: int) -> dict:
    results: list[tuple[int, float]] = []
    lock = threading.Lock()
    day = 30 + round_number  # each round contends on its own day
    barrier = threading.Barrier(clients)

    def client(index: int) -> None:
        contended = clients > 1 and index % 2 == 0  # a lone client measures uncontended bookings
        user = f"hot-{clients}" if contended else f"cold-{clients}-{index}"
        barrier.wait()
        stop = time.monotonic() + seconds
        n = 0
        while time.monotonic() < stop:
            if contended:  # one-hour slots starting within the same hour: every pair overlaps
                start = NOW + timedelta(days=day, hours=10, minutes=random.randrange(60))
            else:
                start = NOW + timedelta(days=day, hours=n % 20) + timedelta(days=n // 20)
            n += 1
            answer = post_booking(port, {"userId": user, "startTime": start.strftime(ISO),
                                         "endTime": (start + timedelta(hours=1)).strftime(ISO), "reminders": []}, 60)
            with lock:
                results.append(answer)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    elapsed = time.perf_counter() - began
    statuses = Counter(status for status, _ in results)
    latencies = sorted(latency for _, latency in results)
    return {"clients": clients, "seconds": elapsed, "requests": len(results), "booked": statuses[201],
            "conflicts": statuses[409], "errors": sum(c for s, c in statuses.items() if s >= 500),
            "p50": statistics.median(latencies) if latencies else 0.0,
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0,
            "double_bookings": double_bookings(moto_port)}


def double_bookings(moto_port: int) -> int:
    """Pairs of overlapping scheduled appointments of one user, across the whole table."""
    dynamodb = moto_client("dynamodb", moto_port)
    intervals: dict[str, list[tuple[str, str]]] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName="AppointmentsTable-local"):
        for item in page["Items"]:
            if item["status"]["S"] == "scheduled":
                intervals.setdefault(item["userId"]["S"], []).append((item["startTime"]["S"], item["endTime"]["S"]))
    overlaps = 0
    for spans in intervals.values():
        spans.sort()
        overlaps += sum(1 for (_, end), (start, _) in itertools.pairwise(spans) if start < end)
    return overlaps


def proc_status(pid: int, field: str) -> int:
    """A /proc/<pid>/status figure in kB (VmRSS: resident now, VmHWM: the peak)."""
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith(field))
    return int(line.split()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fill_booking(layout: str, group: str, i: int, day0: datetime, providers: int | None = None) -> dict:
    """The i-th booking of a group: its own customer, with a provider whose day it helps fill (each
    provider in turn, or, with ``providers``, 48 for one provider before the next); on one day for
    every provider, or each provider's 48 spread over the year."""
    if providers:
        n, provider = divmod(i, providers)
    else:
        provider, n = divmod(i, PER_DAY)
    if layout == "one day":
        start = day0 + timedelta(minutes=30 * n)
    else:  # 7 and 365 are coprime: a provider's 48 appointments fall on 48 different days
        start = day0 + timedelta(days=(7 * n + provider) % 365, hours=8 + n % 10)
    return {"userId": f"customer-{group}-{i}", "participants": [f"provider-{group}-{provider}"],
            "startTime": start.strftime(ISO), "endTime": (start + timedelta(minutes=30)).strftime(ISO),
            "reminders": []}


def timed_bookings(port: int, bodies: list[dict]) -> tuple[list[float], Counter]:
    """Post ``bodies`` from FILL_CLIENTS threads; (each 201's latency, the other answers by status)."""
    pending, latencies, failed, lock = list(bodies), [], Counter(), threading.Lock()

    def client() -> None:
        while True:
            with lock:
                if not pending:
                    return
                body = pending.pop()
            status, seconds = post_booking(port, body, 120)
            with lock:
                if status == 201:
                    latencies.append(seconds)
                else:
                    failed[status] += 1

    threads = [threading.Thread(target=client) for _ in range(FILL_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return sorted(latencies), failed


def measure_with_data(levels: list[int] = FILL_LEVELS, sample: int = FILL_SAMPLE) -> list[dict]:
    """For each layout, a fresh `make run`: bring the tables to each level (bookings loaded in bulk, as
    ``seeding.bulk_load`` writes them), then time ``sample`` bookings through the HTTP API."""
    from appointments.appointment import new_appointment
    from appointments.store import Tables
    from seeding import bulk_load

    rows = []
    day0 = (datetime.now(UTC) + timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    for layout in ("one day", "a year"):
        with running_stack() as (port, moto_port, moto_pid):
            for _ in range(2 * FILL_CLIENTS):  # every function instance builds its clients before timing starts
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/appointments?userId=warm", timeout=60):
                    pass
            tables = Tables(moto_client("dynamodb", moto_port), "AppointmentsTable-local", "CalendarTable-local")
            count = 0
            for level in levels:
                # Groups of their own, so that a provider's bucket is written whole by one bulk load.
                bulk_load(tables, (new_appointment(fill_booking(layout, f"bulk{level}", i, day0),
                                                   appointment_id=f"bulk-{level}-{i}", now=datetime.now(UTC))
                                          for i in range(max(0, level - count))))
                count = max(count, level)
                # Taking turns among 2 providers per client, so that clients rarely race for one bucket.
                latencies, failed = timed_bookings(port, [fill_booking(layout, f"timed{level}", i, day0,
                                                                       providers=2 * FILL_CLIENTS)
                                                          for i in range(sample)])
                count += sample
                rows.append({"layout": layout, "level": level, "rss_mb": proc_status(moto_pid, "VmRSS") / 1024,
                             "peak_mb": proc_status(moto_pid, "VmHWM") / 1024, "failed": failed,
                             "p50": statistics.median(latencies), "p99": latencies[int(len(latencies) * 0.99) - 1]
                             if len(latencies) >= 100 else latencies[-1]})
    return rows


def measure_firer(firer_class=None, schedules: int = SCHEDULES, idle_seconds: float = 20, tick: float = 1.0) -> dict:
    """The schedule firer as make run's stream process runs it (one call a tick), against a moto server
    that holds ``schedules`` schedules a day away: its CPU and moto's while idle, and how late it fires
    a schedule created 15 s before it is due, and one created already due."""
    from local_aws import ScheduleFirer

    firer_class = firer_class or ScheduleFirer
    moto_port = free_port()
    moto = subprocess.Popen([sys.executable, str(SCRIPTS / "motoserver.py"), "--port", str(moto_port)],
                            stdout=subprocess.PIPE, text=True)
    stop, learned, fired, cpu = threading.Event(), threading.Event(), {}, [0.0]
    try:
        if not moto.stdout.readline().startswith("READY"):
            raise RuntimeError("the moto server did not start")
        scheduler = moto_client("scheduler", moto_port)
        scheduler.create_schedule_group(Name="bench")
        target = {"Arn": "arn:aws:lambda:us-east-1:123456789012:function:ReminderSender-local",
                  "RoleArn": "arn:aws:iam::123456789012:role/invoke"}

        def create(name: str, at: datetime) -> None:
            scheduler.create_schedule(Name=name, GroupName="bench", ScheduleExpression=f"at({at:%Y-%m-%dT%H:%M:%S})",
                                      FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion="DELETE",
                                      Target={**target, "Input": json.dumps({"name": name})})

        later = datetime.now(UTC) + timedelta(days=1)
        for n in range(schedules):
            create(f"later-{n}", later + timedelta(seconds=n))
        firer = firer_class(moto_client("scheduler", moto_port), "bench",
                            lambda arn, payload: fired.setdefault(payload["name"], datetime.now(UTC)))

        def loop() -> None:
            while not stop.is_set():
                began = time.thread_time()
                firer.fire_due(datetime.now(UTC))
                cpu[0] += time.thread_time() - began
                learned.set()
                stop.wait(tick)

        threading.Thread(target=loop, daemon=True).start()
        learned.wait(timeout=600)  # the first tick learns every schedule
        time.sleep(2 * tick)
        cpu[0], moto_before, began = 0.0, cpu_seconds(moto.pid), time.monotonic()
        time.sleep(idle_seconds)
        elapsed = time.monotonic() - began
        idle = {"firer": cpu[0] / elapsed, "moto": (cpu_seconds(moto.pid) - moto_before) / elapsed}
        soon = (datetime.now(UTC) + timedelta(seconds=16)).replace(microsecond=0)
        create("ahead", soon)
        now = datetime.now(UTC).replace(microsecond=0)
        create("due", now)
        deadline = time.monotonic() + 120
        while len(fired) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        late = {name: (fired[name] - at).total_seconds() if name in fired else math.inf
                for name, at in (("ahead", soon), ("due", now))}
        return {"schedules": schedules, "idle": idle, "late": late, "tick": tick}
    finally:
        stop.set()
        moto.terminate()
        moto.wait(timeout=10)
