"""An in-process stack: the real template deployed into in-process moto, and the handlers wired to
clients whose calls a recorder counts."""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager

from bench.config import ENV
from bench.recording import AwsRecorder, Replayed
from local_env import use_fake_aws

# As the template sets them for every function; Powertools reads them when the handlers are imported.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "appointments-bench")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AppointmentScheduler")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


@contextmanager
def in_process_stack():
    """Yields the deployed stack's outputs and each function's environment."""
    from moto import mock_aws

    from motoserver import patch_moto

    patch_moto()  # the stream keeps its records for our pump, as in make run

    use_fake_aws()
    with mock_aws():
        from local_aws import deploy_into_moto

        yield deploy_into_moto(ENV, "bench")


class Harness:
    """The handlers, wired to clients whose calls the recorder counts."""

    def __init__(self, outputs: dict, functions: dict, recorder: AwsRecorder, clock):
        import boto3

        from lambdas import StackSettings, wire
        from local_aws import StreamPump

        self.outputs, self.functions = outputs, functions
        self.settings = StackSettings.from_environments(functions)
        self.clock = clock
        wired = wire(self.settings, dynamodb=recorder.client("dynamodb"), scheduler=recorder.client("scheduler"),
                     sns=recorder.client("sns"), events=recorder.client("events"), ses=recorder.client("sesv2"),
                     secrets=recorder.client("secretsmanager"), clock=clock)
        self.services, self.tables = wired.services, wired.services.tables
        stream_arn = boto3.client("dynamodb").describe_table(TableName=self.tables.table)["Table"]["LatestStreamArn"]
        self.pump = StreamPump(boto3.client("dynamodbstreams"), stream_arn)  # the mapping's calls are not ours

    def http(self, method: str, path: str, body: dict | None = None, query: str = "",
             headers: dict | None = None) -> tuple[int, dict]:
        from lambdas import api_event, invoke_api

        result = invoke_api(api_event(method, path, body, query=query, headers=headers), f"ConflictDetector-{ENV}")
        return result["statusCode"], json.loads(result["body"])

    def handler_cpu(self, exchanges: list, method: str, path: str, body: dict | None = None, query: str = "",
                    repeat: int = 20) -> float:
        """CPU seconds the API handler itself spends on one request: replayed against the DynamoDB answers
        recorded for it, so that moto's own work (in this process) is not counted. The fastest of ``repeat``
        runs: on a shared machine, other work only ever adds to a run's time."""
        import conflict_detector
        from appointments.wiring import build_services

        real, origins = self.services, self.settings.api.origins
        fastest = float("inf")
        try:
            for _ in range(repeat):
                replay = Replayed(exchanges, real.tables.dynamodb.exceptions)
                conflict_detector.use(build_services(replay, self.settings.api, clock=self.clock), origins)
                started = time.process_time()
                status, answer = self.http(method, path, body, query=query)
                fastest = min(fastest, time.process_time() - started)
                assert status < 300, answer  # the replay must reproduce the real request
        finally:
            conflict_detector.use(real, origins)
        return fastest

    def drain_stream(self) -> list[dict]:
        return self.pump.poll()
