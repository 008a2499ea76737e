"""What a run measures with: the knobs (environment variables, as the README names them) and the
fixed clock of the in-process measurements."""

from __future__ import annotations

import os
from datetime import UTC, datetime

RUNS = int(os.environ.get("BENCH_RUNS", "7"))  # fresh processes per cold import
SECONDS = float(os.environ.get("BENCH_SECONDS", "8"))  # per throughput row
CLIENTS = [int(n) for n in os.environ.get("BENCH_CLIENTS", "1 8 32").split()]
FILL_LEVELS = [int(n) for n in os.environ.get("BENCH_FILL_LEVELS", "100 1000 5000").split()]
FILL_SAMPLE = int(os.environ.get("BENCH_FILL_SAMPLE", "200"))  # bookings timed at each level
FILL_CLIENTS = 4
SCHEDULES = int(os.environ.get("BENCH_SCHEDULES", "1100"))

ENV = "bench"
ISO = "%Y-%m-%dT%H:%M:%SZ"
NOW = datetime(2027, 1, 1, tzinfo=UTC)  # the in-process stack's clock
