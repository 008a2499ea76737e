"""The report: the rows of results as a text table (printed) and a Markdown table, and docs/BENCHMARKS.md
from the template next to this module, which holds the prose (method and reading)."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from string import Template

from bench.config import FILL_CLIENTS, FILL_SAMPLE, RUNS, SECONDS
from bench.notifications import MESSAGE_ONLY

TEMPLATE = Path(__file__).with_name("report.md.template")

# The original design's booking, read from its code: 2 GSI queries, a put, a rule and a target per reminder, a metric.
SEED_CALLS = {"dynamodb:Query": 2, "dynamodb:PutItem": 1, "events:PutRule": 2, "events:PutTargets": 2,
              "cloudwatch:PutMetricData": 1}



def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return (f"{cpu or 'unknown CPU'}, {os.cpu_count()} cores; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}")


def fmt_calls(calls: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(calls.items())) or "none"


def report(calls, capacity, calendars, events, imports, zip_package, throughput, with_data, firer, *, messages,
           loads, pools, holds, series, limits) -> tuple[str, str]:
    rows = [("AWS calls per operation (synchronous path, counted by botocore hooks)", "", "")]
    for label, counted in calls.items():
        rows.append((f"  {label}", str(sum(counted.values())), fmt_calls(counted)))
    rows.append(("  original design, book (from its code)", str(sum(SEED_CALLS.values())), fmt_calls(SEED_CALLS)))
    rows.append(("Capacity units of one booking (computed from item sizes)", "", ""))
    by_key = {(r["where"], r["count"]): r for r in capacity}
    for row in capacity:
        rows.append((f"  {row['count']:,} appointments over the {row['where']}", units(row),
                     f"{row['same_day']} already on the booked day"))
    for where in ("past year", "coming year"):
        small, large = by_key[(where, 10)], by_key[(where, 10_000)]
        ratio = f"reads {large['reads'] / small['reads']:.2f}, writes {large['writes'] / small['writes']:.2f}"
        rows.append((f"  ratio 10,000 : 10 ({where})", ratio, "target ≤ 1.1"))
    rows.append(("A booking with participants (calls, and units computed from item sizes)", "", ""))
    for row in calendars["bookings"]:
        rows.append((f"  {row['participants']} participants", units(row), fmt_calls(row["calls"])))
    rows.append(("The agenda of a provider for one week (5 appointments in it)", "", ""))
    for row in calendars["agendas"]:
        rows.append((f"  {row['history']:,} appointments of history", f"{row['reads']:g} RRU", fmt_calls(row["calls"])))
    small, large = calendars["agendas"]
    rows.append(("  ratio 10,000 : 10", f"reads {large['reads'] / small['reads']:.2f}", "target ≤ 1.1"))
    [ruled] = calendars["ruled_booking"]
    rows.append(("A booking with a participant that has availability (buffers, daily cap)", "", ""))
    rows.append(("  1 participant with rules, new to the function", units(ruled),
                 f"{fmt_calls(ruled['calls'])}; handler CPU {ruled['cpu'] * 1000:.1f} ms"))
    [known] = calendars["ruled_known"]
    rows.append(("  the same participant again (its rules known)", units(known), fmt_calls(known["calls"])))
    rows.append(("Slot search, 30-minute slots (handler CPU, replayed, against that booking's in this run)", "", ""))
    for row in calendars["searches"]:
        rows.append((f"  {row['calendars']} calendar(s), {row['days']} days", f"{row['reads']:g} RRU",
                     f"{fmt_calls(row['calls'])}; {row['slots']} slots; CPU {row['cpu'] * 1000:.1f} ms = "
                     f"{row['cpu'] / ruled['cpu']:.1f} x a booking"))
    busy = calendars["busy_searches"]
    shape = busy[0]
    rows.append((f"Slot search of {shape['calendars']} calendars with rules ({shape['calendars'] - 1} named in with=), "
                 f"{shape['days']} days, {shape['step']}-minute step, {shape['duration']}-minute slots "
                 "(handler CPU, replayed)", "", ""))
    for row in busy:
        rows.append((f"  {row['case']} ({row['per_day']} appointments a day)", f"{row['cpu'] * 1000:.0f} ms CPU",
                     f"target < 500 ms; {row['cpu'] / ruled['cpu']:.0f} x a booking; {row['candidates']:,} candidates, "
                     f"{row['slots']:,} slots; {row['reads']:g} RRU; {fmt_calls(row['calls'])}"))
    rows.extend(pool_rows(pools))
    rows.extend(hold_rows(holds))
    rows.extend(series_rows(series, limits))
    rows.append(("Appointment events: publisher calls per stream record (PutEvents takes 10 entries)", "", ""))
    for row in events:
        count = sum(row["calls"].values())
        rows.append((f"  {row['case']}", f"{count / row['records']:.2f} calls per record",
                     f"{fmt_calls(row['calls'])} for {row['records']} records"))
    rows.extend(message_rows(messages))
    rows.append((f"Cold import from the Lambda zip, median of {RUNS} fresh processes", "", ""))
    for module, seconds in imports.items():
        ratio = seconds / imports["boto3"]
        target = {"conflict_detector": "; target ≤ 1.5"}.get(module, "")
        rows.append((f"  import {module}", f"{seconds * 1000:.0f} ms", f"{ratio:.2f} x bare import boto3{target}"))
    rows.append(("  the booking handler's import loads", ", ".join(loads) or "none of them",
                 f"of {', '.join(MESSAGE_ONLY)} (what only messages need)"))
    rows.append(("Lambda zip", f"{zip_package.size / 1024:.0f} KiB", f"sha256 {zip_package.sha256[:16]}…"))
    rows.append((f"Local throughput via make run, {SECONDS:g} s per row (moto-bound, not an AWS figure)", "", ""))
    for row in throughput:
        rows.append((f"  {row['clients']} concurrent clients",
                     f"{row['booked'] / row['seconds']:.1f} bookings/s",
                     f"{row['requests']} requests, p50 {row['p50'] * 1000:.0f} ms, p99 {row['p99'] * 1000:.0f} ms, "
                     f"{row['conflicts']} x 409, {row['errors']} x 5xx, double bookings {row['double_bookings']}"))
    rows.extend(data_rows(with_data, firer))
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    text = "\n".join(f"{a:<{width}}  {b:<{value_width}}  {c}".rstrip() for a, b, c in rows)
    markdown = "\n".join(["| measure | value | detail |", "|---|---|---|",
                          *(f"| {a.strip() if b or c else f'**{a}**'} | {b} | {c} |" for a, b, c in rows)])
    return text, markdown


Row = tuple[str, str, str]


def units(row: dict) -> str:
    return f"{row['reads']:g} RRU / {row['writes']:g} WRU"


def pool_rows(pools: dict) -> list[Row]:
    plain = pools["plain"]
    booking_cpu = plain["cpu"]
    rows: list[Row] = [("A pool booking (anyOf; calls, and units computed from item sizes)", "", "")]
    for row in pools["bookings"]:
        rows.append((f"  {row['members']} members", units(row), fmt_calls(row["calls"])))
    rows.append(("Pool slot search, GET /slots?anyOf=..., 30-minute slots (handler CPU, replayed, against a plain "
                 "booking's in this run)", "", ""))
    rows.append(("  a plain booking (the user's own calendar, no rules)", units(plain),
                 f"{fmt_calls(plain['calls'])}; handler CPU {booking_cpu * 1000:.1f} ms"))
    for row in pools["searches"]:
        rows.append((f"  {row['members']} members with rules, {row['days']} days", f"{row['reads']:g} RRU",
                     f"{fmt_calls(row['calls'])}; {row['slots']} slots, {row['choices']:.1f} members free in each; "
                     f"CPU {row['cpu'] * 1000:.1f} ms = {row['cpu'] / booking_cpu:.0f} x a booking"))
    return rows


def hold_rows(holds: list[dict]) -> list[Row]:
    rows: list[Row] = [("A hold and its confirmation (calls, and units computed from item sizes)", "", "")]
    rows += [(f"  {row['case']}", units(row), fmt_calls(row["calls"])) for row in holds]
    return rows


def series_rows(series: list[dict], limits: list[dict]) -> list[Row]:
    rows: list[Row] = [("A weekly series, POST /series (a user and one provider; units computed from item sizes)",
                        "", "")]
    for row in series:
        rows.append((f"  {row['occurrences']} occurrences", units(row),
                     f"{fmt_calls(row['calls'])}; {row['actions']} actions in the transaction"))
    rows.append(("The largest weekly series one transaction holds (100 actions; as the service computes it)", "", ""))
    for row in limits:
        rules = "every calendar with a daily cap (Europe/Berlin)" if row["capped"] else "no rules"
        refused = ("" if row["refusal_cpu"] is None else
                   f"; refusing {row['most']} took {row['refusal_cpu']:.2f} s CPU (moto's reads included)")
        rows.append((f"  {row['calendars']} calendar(s), {rules}", f"{row['largest']} occurrences",
                     f"{row['actions']} actions; the API takes at most {row['most']}{refused}"))
    return rows


def message_rows(messages: list[dict]) -> list[Row]:
    rows: list[Row] = [("Messages to a contact with e-mail and SMS (calls, and units computed from item sizes)",
                        "", "")]
    for row in messages:
        rows.append((f"  {row['case']}", f"{sum(row['calls'].values())} calls, {units(row)}",
                     fmt_calls(row["calls"])))
    return rows


def data_rows(with_data: list[dict], firer: dict) -> list[tuple[str, str, str]]:
    rows = [(f"make run with data: moto's memory and booking latency ({FILL_CLIENTS} clients, {FILL_SAMPLE} timed "
             "bookings per level, 30 minutes with 1 provider each)", "", "")]
    first = {}
    for row in with_data:
        base = first.setdefault(row["layout"], row)
        rows.append((f"  {row['level']:,} bookings, {row['layout']}",
                     f"{row['rss_mb']:.0f} MB", f"p50 {row['p50'] * 1000:.0f} ms, p99 {row['p99'] * 1000:.0f} ms; "
                     f"{row['p50'] / base['p50']:.2f} x and {row['p99'] / base['p99']:.2f} x the first level's; "
                     f"peak {row['peak_mb']:.0f} MB; not 201: {fmt_calls(row['failed'])}"))
    rows.append((f"The reminder firer with {firer['schedules']:,} schedules (one call per {firer['tick']:g} s tick)",
                 "", ""))
    idle = firer["idle"]
    rows.append(("  idle CPU, firer and moto", f"{idle['firer'] * 100:.1f} % + {idle['moto'] * 100:.1f} %",
                 "of one core"))
    rows.append(("  a schedule created 16 s before it is due", f"{firer['late']['ahead']:.1f} s late", ""))
    rows.append(("  a schedule created already due", f"{firer['late']['due']:.1f} s late",
                 "the group is listed again at most every 50 x the time a listing takes"))
    return rows


def document(markdown: str, *, stamp: str, seconds: float) -> str:
    """docs/BENCHMARKS.md: the template's prose around the results table."""
    return Template(TEMPLATE.read_text()).substitute(stamp=stamp, machine=machine(), seconds=f"{seconds:.0f}",
                                                     results=markdown)
