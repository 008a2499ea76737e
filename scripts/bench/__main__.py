"""Run every measurement in order, print the table and write docs/BENCHMARKS.md (see ``bench``)."""

from __future__ import annotations

import contextlib
import io
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS, ROOT = HERE.parent, HERE.parent.parent
# Run as `python scripts/bench`: the package is imported from scripts/, beside the modules it uses.
sys.path[:] = [str(SCRIPTS), str(ROOT / "src"), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

import package  # noqa: E402
from bench import load, measurements, notifications, report, scaling  # noqa: E402
from bench.config import CLIENTS, FILL_LEVELS, FILL_SAMPLE, NOW, RUNS, SCHEDULES, SECONDS  # noqa: E402
from bench.recording import AwsRecorder  # noqa: E402
from bench.stack import Harness, in_process_stack  # noqa: E402


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> int:
    def clock() -> datetime:
        return NOW

    started = time.perf_counter()
    progress("deploying the template into in-process moto ...")
    # The handlers' EMF metric lines go to stdout, as in Lambda; keep them out of the report.
    with in_process_stack() as (outputs, functions), contextlib.redirect_stdout(io.StringIO()):
        recorder = AwsRecorder()
        harness = Harness(outputs, functions, recorder, clock)
        progress("counting AWS calls ...")
        calls = measurements.measure_calls(harness, recorder)
        # Before the loads of 10,000 appointments: moto reads a long stream slowly.
        progress("counting the event publisher's calls per stream record ...")
        events = measurements.measure_events(harness, recorder)
        progress("counting the calls and units of messages to a contact ...")
        messages = notifications.measure_messages(harness, recorder)
        progress("computing capacity units at 10 and 10,000 appointments ...")
        capacity = measurements.measure_capacity(harness, recorder, clock)
        progress("measuring participants and agendas ...")
        calendars = measurements.measure_calendars(harness, recorder)
        progress("measuring pools, holds and series ...")
        pools = measurements.measure_pools(harness, recorder)
        holds = measurements.measure_holds(harness, recorder)
        series = measurements.measure_series(harness, recorder)
        progress("asking for the largest series one transaction holds ...")
        limits = measurements.measure_series_limits(harness, recorder)
    zip_package = package.build()
    progress(f"timing cold imports ({RUNS} runs) ...")
    imports = measurements.measure_cold_imports(zip_package)
    loads = notifications.booking_handler_loads(zip_package)
    progress(f"load against make run: {CLIENTS} clients, {SECONDS:g} s each ...")
    throughput = load.measure_throughput(CLIENTS, SECONDS)
    progress(f"make run with data: {FILL_LEVELS} bookings, {FILL_SAMPLE} timed at each level ...")
    with_data = load.measure_with_data()
    progress(f"the reminder firer with {SCHEDULES} schedules ...")
    firer = load.measure_firer()
    text, markdown = report.report(calls, capacity, calendars, events, imports, zip_package, throughput, with_data,
                                   firer, messages=messages, loads=loads, pools=pools, holds=holds, series=series,
                                   limits=limits)
    print("\n" + text)
    document = report.document(markdown, stamp=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                               seconds=time.perf_counter() - started)
    (ROOT / "docs" / "BENCHMARKS.md").write_text(document)
    scaling.write_series_table(limits)
    print(f"\nwrote docs/BENCHMARKS.md and the series table of docs/SCALING.md ({time.perf_counter() - started:.0f} s)")
    failures = [row for row in throughput if row["double_bookings"] or row["errors"]]
    failures += [row for row in with_data if row["failed"]]
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
