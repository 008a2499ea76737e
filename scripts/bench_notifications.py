"""The figures of messages to people (issue 20), apart from scripts/bench.py so that it can call ``measure``:

* the booking's synchronous AWS calls, with a contact set (unchanged: one BatchGetItem, one TransactWriteItems);
* the AWS calls and DynamoDB units of each message sent: a confirmation (the notifier, one event) and a
  reminder (the sender, one schedule), to a contact with e-mail and SMS, and of the same delivered again;
* cold imports from the Lambda zip against a bare ``import boto3``: the booking handler (target at most
  1.5 times) with Babel and the address libraries not loaded, the notifier and the sender.

Calls are counted with botocore's ``before-call`` hook on in-process moto; units are computed from the
sizes of the items written and read (DynamoDB: a write unit per 1 KB, a consistent read unit per 4 KB).
Run ``python scripts/bench_notifications.py``.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]
RUNS = 7
NOW = datetime(2027, 1, 1, tzinfo=UTC)


def item_bytes(item: dict) -> int:
    """DynamoDB's size of an item: each attribute's name and value (numbers taken at their digits, roughly)."""
    def size(value: dict) -> int:
        (kind, data), = value.items()
        if kind in ("S", "N", "B"):
            return len(str(data).encode())
        if kind in ("SS", "NS", "BS"):
            return sum(len(str(d).encode()) for d in data)
        if kind == "M":
            return 3 + sum(len(k.encode()) + size(v) + 1 for k, v in data.items())
        if kind == "L":
            return 3 + sum(size(v) + 1 for v in data)
        return 1
    return sum(len(name.encode()) + size(value) for name, value in item.items())


class Recorder:
    """Counts the calls of clients made from one boto3 session, and keeps the DynamoDB items they write or read."""

    def __init__(self):
        import boto3

        self.session = boto3.Session()
        self.calls: Counter = Counter()
        self.units = {"read": 0.0, "write": 0.0}
        self.session.events.register("before-call", self._count)
        self.session.events.register("after-call.dynamodb", self._units)
        self._params: list[dict] = []
        self.session.events.register("provide-client-params.dynamodb", lambda params, **_: self._params.append(params))

    def client(self, name: str):
        return self.session.client(name)

    def _count(self, model, **_):
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def _units(self, parsed, model, **_):
        params = self._params.pop(0) if self._params else {}
        if model.name == "UpdateItem":  # the item as written
            written = parsed.get("Attributes") or {**params.get("Key", {}), **{
                k: v for k, v in params.get("ExpressionAttributeValues", {}).items()}}
            self.units["write"] += max(1, math.ceil(item_bytes(written) / 1024))
        elif model.name == "BatchGetItem":
            for items in parsed.get("Responses", {}).values():
                self.units["read"] += sum(max(1, math.ceil(item_bytes(i) / 4096)) for i in items)
        elif model.name == "GetItem" and "Item" in parsed:
            self.units["read"] += max(1, math.ceil(item_bytes(parsed["Item"]) / 4096))

    @contextmanager
    def measuring(self, into: dict, label: str):
        self.calls.clear()
        self.units = {"read": 0.0, "write": 0.0}
        yield
        into[label] = {"calls": dict(sorted(self.calls.items())), "units": dict(self.units)}


def measure_messages() -> dict:
    """Calls and units of a booking, a confirmation and a reminder, on in-process moto wired as the stack."""
    from moto import mock_aws

    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
                       "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_SERVICE_NAME": "bench",
                       "POWERTOOLS_LOG_LEVEL": "ERROR"})
    for variable in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(variable, None)
    results: dict = {}
    with mock_aws():
        from motoserver import patch_moto

        patch_moto()
        import event_publisher
        import notifier
        import reminder_sender
        from appointments.adapters import ReminderRequest
        from appointments.caller import Caller
        from lambdas import StackSettings, wire
        from local_aws import QueuedInvocations, StreamPump, deploy_into_moto, lambda_target_queue
        from proxy_events import LambdaContext

        outputs, functions = deploy_into_moto("bench", "bench-notifications")
        recorder = Recorder()
        settings = StackSettings.from_environments(functions)
        wired = wire(settings, dynamodb=recorder.client("dynamodb"), scheduler=recorder.client("scheduler"),
                     sns=recorder.client("sns"), events=recorder.client("events"), ses=recorder.client("sesv2"),
                     secrets=recorder.client("secretsmanager"), clock=lambda: NOW)
        sqs = recorder.client("sqs")
        dead = sqs.get_queue_attributes(QueueUrl=outputs["NotificationDeadLetterQueueUrl"],
                                        AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queued = QueuedInvocations(sqs, lambda_target_queue(sqs, functions["Notifier"]["FUNCTION_NAME"], dead))
        import boto3

        stream = boto3.client("dynamodb").describe_table(TableName=settings.api.table_name)["Table"]["LatestStreamArn"]
        pump = StreamPump(boto3.client("dynamodbstreams"), stream)
        contact = {"name": "Alice", "email": "alice@example.com", "phone": "+4915112345678", "locale": "de",
                   "channels": ["email", "sms"]}
        wired.services.contacts.set("alice", contact, Caller())
        body = {"userId": "alice", "startTime": "2027-01-05T09:00:00Z", "endTime": "2027-01-05T10:00:00Z",
                "reminders": [60], "details": {"title": "Check-up", "location": "Room 4"}}
        wired.bookings.book({**body, "startTime": "2027-01-04T09:00:00Z", "endTime": "2027-01-04T10:00:00Z"},
                            Caller())  # warm: the first call of each client pays for its set-up
        with recorder.measuring(results, "book (a contact set)"):
            appointment, _ = wired.bookings.book(body, Caller())
        pump.deliver(event_publisher.handler, LambdaContext("EventPublisher-bench"))
        events: list[dict] = []
        queued.deliver(lambda event, context: events.append(event), None)
        [mine] = [e for e in events if e["detail"]["appointment"]["appointmentId"] == appointment.appointment_id]
        context = LambdaContext("Notifier-bench")
        with recorder.measuring(results, "confirmation, 2 messages (notifier, 1 event)"):
            notifier.handler(mine, context)
        with recorder.measuring(results, "the same event again (sends nothing)"):
            notifier.handler(mine, context)
        request = ReminderRequest(appointment.appointment_id, 60, "2027-01-05T09:00:00Z").to_input("alice")
        with recorder.measuring(results, "reminder: topic + 2 messages (sender, 1 schedule)"):
            reminder_sender.handler(request, LambdaContext("ReminderSender-bench"))
        with recorder.measuring(results, "the same schedule again (sends nothing)"):
            reminder_sender.handler(request, LambdaContext("ReminderSender-bench"))
    return results


COLD = ["boto3", "conflict_detector", "notifier", "reminder_sender"]


def measure_cold_imports(zip_path: Path, runs: int = RUNS) -> dict:
    """Median cold import of each module from the extracted zip, in fresh processes, without writing bytecode
    (Lambda's /var/task is read-only); and whether the booking handler's import loads Babel or the address
    libraries."""
    import random

    results = {}
    with tempfile.TemporaryDirectory() as task:
        zipfile.ZipFile(zip_path).extractall(task)
        env = {**os.environ, "PYTHONPATH": task, "PYTHONDONTWRITEBYTECODE": "1"}
        samples: dict[str, list[float]] = {m: [] for m in COLD}
        for _ in range(runs):
            for module in random.sample(COLD, len(COLD)):
                code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
                out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
                samples[module].append(float(out.stdout))
        results = {m: statistics.median(v) for m, v in samples.items()}
        probe = ("import sys, conflict_detector; print(sorted({m.split('.')[0] for m in sys.modules} & "
                 "{'babel', 'email_validator', 'phonenumbers', 'dns', 'idna'}))")
        loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
        results["booking handler loads"] = json.loads(loaded.stdout.replace("'", '"'))
    return results


def measure() -> dict:
    """Every figure, as a dict (for scripts/bench.py's report)."""
    import package

    built = package.build()
    return {"messages": measure_messages(), "cold imports": measure_cold_imports(built.path),
            "zip": {"bytes": built.size, "sha256": built.sha256}}


def main() -> None:
    figures = measure()
    print("| measure | value | detail |\n|---|---|---|")
    for label, measured in figures["messages"].items():
        calls = measured["calls"]
        units = measured["units"]
        detail = ", ".join(f"{name} {count}" for name, count in calls.items())
        shown = (f"{sum(calls.values())} calls" if label.startswith("book")  # make bench computes its units
                 else f"{sum(calls.values())} calls, {units['read']:.0f} RRU / {units['write']:.0f} WRU")
        print(f"| {label} | {shown} | {detail} |")
    imports = figures["cold imports"]
    for module in COLD:
        ratio = imports[module] / imports["boto3"]
        target = "; target <= 1.5" if module == "conflict_detector" else ""
        print(f"| import {module} | {imports[module] * 1000:.0f} ms | {ratio:.2f} x bare import boto3{target} |")
    print(f"| booking handler's import loads | {imports['booking handler loads'] or 'none of them'} "
          "| of babel, email_validator, phonenumbers, dns, idna |")
    print(f"| Lambda zip | {figures['zip']['bytes'] / 1024:.0f} KiB | sha256 {figures['zip']['sha256'][:16]}... |")


if __name__ == "__main__":
    main()
