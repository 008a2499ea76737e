"""Shared fixtures: moto tables built from template.json, the real handler behind proxy events, a clock."""

from __future__ import annotations

import os

# As the template sets them for every function; read by Powertools when the handlers are imported.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "appointments-test")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AppointmentScheduler")

import contextlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

import conflict_detector
from appointments.bookings import Bookings
from appointments.calendars import Calendars
from appointments.settings import ApiSettings
from appointments.store import Tables
from appointments.times import UTC, utc_now
from appointments.wiring import Lazy, Services, build_services
from lambdas import api_event, invoke_api
from local_env import LEADS_ELSEWHERE, fake_aws_environment, free_port, use_fake_aws

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = json.loads((ROOT / "template.json").read_text())
ENV = "test"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def pytest_collection_modifyitems(items):
    """schemathesis names each operation's test ``test[POST /appointments]`` but, under pytest 9, gives
    them all the one node ID of the function; pytest-xdist schedules by node ID and would run only one
    of them. Give each the ID its name says."""
    fuzzed = [item for item in items if type(item).__name__ == "SchemathesisFunction"]
    for item in fuzzed:
        if not item.nodeid.endswith("]"):
            item._id = item.parent.id.child(item.name)
    assert len({item.nodeid for item in fuzzed}) == len(fuzzed), "schemathesis tests share node IDs"


def resolve(value, env: str = ENV):
    """Resolve the Fn::Sub names the template uses for tables, topics and functions."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        return value["Fn::Sub"].replace("${EnvironmentSuffix}", env)
    return value


def table_name(logical_id: str, env: str = ENV) -> str:
    return resolve(TEMPLATE["Resources"][logical_id]["Properties"]["TableName"], env)


def create_table_from_template(client, logical_id: str, env: str = ENV) -> str:
    """Create a moto table exactly as the template declares it, so tests cannot drift from it."""
    props = TEMPLATE["Resources"][logical_id]["Properties"]
    request = {"TableName": resolve(props["TableName"], env), "AttributeDefinitions": props["AttributeDefinitions"],
               "KeySchema": props["KeySchema"], "BillingMode": props["BillingMode"]}
    if "GlobalSecondaryIndexes" in props:
        request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if "StreamSpecification" in props:
        request["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    client.create_table(**request)
    return request["TableName"]


class Flaky:
    """Wraps a real client (a fake, never a patch of boto3): the named operation first fails ``times``
    times with a ClientError, then passes through like every other operation."""

    def __init__(self, client, operation: str, times: int = 1, code: str = "ThrottlingException",
                 message: str = "injected"):
        self._client, self._operation, self._left, self._code, self._message = client, operation, times, code, message
        self.calls = 0

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if name != self._operation:
            return attribute

        def call(**kwargs):
            self.calls += 1
            if self._left > 0:
                self._left -= 1
                raise ClientError({"Error": {"Code": self._code, "Message": self._message}}, name)
            return attribute(**kwargs)
        return call


def fake_aws(monkeypatch, endpoint_url: str | None = None) -> None:
    """``local_env.use_fake_aws`` for one test: undone when the test ends."""
    for name in LEADS_ELSEWHERE:
        monkeypatch.delenv(name, raising=False)
    for name, value in fake_aws_environment(endpoint_url).items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def aws(monkeypatch):
    fake_aws(monkeypatch)
    with mock_aws():
        yield


SIGNING_KEY_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:SigningKey-test-AbCdEf"


@contextlib.contextmanager
def module_moto_store(cursor_key: str = "module", clock=None):
    """In-process moto with the template's two tables, for a module-scoped fixture (the ``aws``
    fixture is per test). Yields the services over them; restores the AWS environment afterwards."""
    with aws_environment_restored():
        use_fake_aws()
        with mock_aws():
            client = boto3.client("dynamodb")
            create_table_from_template(client, "AppointmentsTable")
            create_table_from_template(client, "CalendarTable")
            settings = ApiSettings(table_name("AppointmentsTable"), table_name("CalendarTable"), SIGNING_KEY_ARN)
            yield build_services(client, settings, signing_key=lambda: cursor_key, clock=clock or utc_now,
                                 sleep=lambda _: None)


@contextlib.contextmanager
def aws_environment_restored():
    """The ``AWS_`` variables of this process as they were before the block, whatever it set or removed (for
    module-scoped fixtures, which ``monkeypatch`` does not serve)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[key]
        os.environ.update(saved)


@pytest.fixture
def dynamodb(aws):
    client = boto3.client("dynamodb")
    create_table_from_template(client, "AppointmentsTable")
    create_table_from_template(client, "CalendarTable")
    return client


API_SETTINGS = ApiSettings(table_name("AppointmentsTable"), table_name("CalendarTable"), SIGNING_KEY_ARN)
SIGNING_KEY = "the test stack's signing key"  # what Secrets Manager would give for SIGNING_KEY_ARN


@pytest.fixture(autouse=True)
def fresh_dependencies():
    """Every test starts with handler modules that have built or been handed nothing."""
    Lazy.reset_all()
    yield
    Lazy.reset_all()


@pytest.fixture
def store(services) -> Tables:
    """The two tables the service reads and writes, with its client (``store.dynamodb``)."""
    return services.tables


class Clock:
    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def services(dynamodb, clock) -> Services:
    return build_services(dynamodb, API_SETTINGS, signing_key=lambda: SIGNING_KEY, clock=clock, sleep=lambda _: None)


@pytest.fixture
def bookings(services) -> Bookings:
    return services.bookings


@pytest.fixture
def calendars(services) -> Calendars:
    return services.calendars


@dataclass
class ApiResponse:
    status: int
    headers: dict
    body: dict | str | None  # JSON, or the text of a text/* answer (iCalendar)

    @property
    def error(self) -> str | None:
        return self.body.get("error")


class Api:
    """Calls conflict_detector.handler with the proxy events API Gateway would send for each route."""

    def __init__(self, claims: dict | None = None):
        self.claims = claims

    def request(self, method: str, path: str, body=None, *, query: str = "", headers: dict | None = None,
                raw: str | bytes | None = None) -> ApiResponse:
        result = invoke_api(api_event(method, path, body, raw=raw, query=query, headers=headers, claims=self.claims),
                            "ConflictDetector-test")
        headers = {k: v[-1] for k, v in (result.get("multiValueHeaders") or {}).items()}
        headers.update(result.get("headers") or {})
        text = result["body"] or ""
        is_text = headers.get("Content-Type", "").startswith("text/")
        return ApiResponse(result["statusCode"], headers, text if is_text else json.loads(text or "null"))

    def post(self, path="/appointments", body=None, **kw) -> ApiResponse:
        return self.request("POST", path, body, **kw)

    def get(self, path: str, **kw) -> ApiResponse:
        return self.request("GET", path, **kw)

    def patch(self, path: str, body=None, **kw) -> ApiResponse:
        return self.request("PATCH", path, body, **kw)

    def delete(self, path: str, **kw) -> ApiResponse:
        return self.request("DELETE", path, **kw)


@pytest.fixture
def api(services) -> Api:
    conflict_detector.use(services)
    return Api()


def emf_blobs(output: str) -> list[dict]:
    """The Embedded Metric Format blobs a handler printed (one JSON object a line, with an ``_aws`` key)."""
    return [json.loads(line) for line in output.splitlines() if '"_aws"' in line]


def emitted_metrics(output: str) -> list[str]:
    """The names of every metric in the EMF blobs printed, once per blob that carries it."""
    return [m["Name"] for blob in emf_blobs(output) for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]


class CountingCalls:
    """Wraps a real client and records every operation called on it, with its arguments, in order."""

    def __init__(self, client):
        self._client, self.calls = client, []

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if callable(attribute) and not name.startswith(("get_paginator", "exceptions", "meta")):
            def call(**kwargs):
                self.calls.append((name, kwargs))
                return attribute(**kwargs)
            return call
        return attribute


class CancelledTransactions:
    """Wraps a real client: every TransactWriteItems is cancelled with ``reasons`` (one code per item), as
    DynamoDB cancels one; everything else passes through."""

    def __init__(self, client, *reasons: str):
        self._client, self.reasons, self.transactions = client, reasons, 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def transact_write_items(self, **_):
        self.transactions += 1
        response = {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                    "CancellationReasons": [{"Code": code} for code in self.reasons]}
        raise self._client.exceptions.TransactionCanceledException(response, "TransactWriteItems")


@pytest.fixture
def as_user(services):
    """``as_user(sub, groups)``: the API as a Cognito user pool authorizer would pass that caller to it."""
    conflict_detector.use(services)
    return lambda sub, groups=None: Api(claims={"sub": sub, **({"cognito:groups": groups} if groups else {})})


def booking(user="alice", start="2026-12-01T09:00:00Z", end="2026-12-01T10:00:00Z", **extra) -> dict:
    return {"userId": user, "startTime": start, "endTime": end, **extra}


# -- a moto server in its own process, as local mode and the race tests use -----------------------

@dataclass
class MotoServer:
    url: str
    process: subprocess.Popen

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s: werkzeug's shutdown waits for requests in flight, which on a
        loaded 2-core machine can take longer; what is torn down here is never under test."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_moto_server(latency_ms: float = 0, journal: Path | None = None) -> MotoServer:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "motoserver.py"), "--port", str(port),
                                "--latency-ms", str(latency_ms), *(["--journal", str(journal)] if journal else [])],
                               stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    line = process.stdout.readline()
    if not line.startswith("READY") or time.monotonic() > deadline:
        process.kill()
        raise RuntimeError(f"moto server did not start: {line!r}")
    return MotoServer(line.split()[1], process)


@pytest.fixture
def moto_server_env(monkeypatch):
    """A function that starts a moto server and points boto3 (and child processes) at it."""
    servers: list[MotoServer] = []

    def start(latency_ms: float = 0) -> MotoServer:
        server = start_moto_server(latency_ms)
        servers.append(server)
        fake_aws(monkeypatch, server.url)
        return server

    yield start
    for server in servers:
        server.stop()


