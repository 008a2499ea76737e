"""A moto server on loopback, made faithful enough for concurrency (DESIGN.md, "Local emulation").

Two patches, applied in the process that runs moto:

* DynamoDB requests are serialised by one lock, as DynamoDB serialises writes per item. Without it
  moto lets two correct conditional writes both win. An optional latency is slept *before* the lock
  is taken, so that racing clients really overlap on a 2-core machine.
* moto's own stream delivery to event source mappings is replaced by a no-op. moto would try to run
  the Lambda in Docker and then drop the shard's buffered records; the no-op keeps them, and the
  caller pumps the stream with ``get_records`` into the real consumer instead.

Run as ``python scripts/motoserver.py --port 5000 [--latency-ms 50] [--journal FILE]``; it prints
``READY <url>`` once it serves and stops on SIGTERM or SIGINT. ``--journal`` appends each DynamoDB
write that succeeded, in lock order, so a race test can tell what committed before what.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import warnings

DYNAMODB_LOCK = threading.Lock()


WRITES = {"TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}


def patch_moto(latency_seconds: float = 0.0, journal: str | None = None) -> None:
    from moto.awslambda.models import LambdaBackend
    from moto.dynamodb.responses import DynamoHandler

    original_call_action = DynamoHandler.call_action

    def serialised_call_action(self):  # type: ignore[no-untyped-def]
        if latency_seconds:
            time.sleep(latency_seconds)
        with DYNAMODB_LOCK:
            result = original_call_action(self)
            if journal and self._get_action() in WRITES and result[0] == 200:
                with open(journal, "a") as out:  # the order writes took effect in, for race tests
                    request = self.body if isinstance(self.body, dict) else json.loads(self.body)
                    out.write(json.dumps({"action": self._get_action(), "request": request}) + "\n")
            return result

    def keep_stream_records(self, function_arn, items, source):  # type: ignore[no-untyped-def]
        return ""  # falsy: moto keeps the shard's records for get_records

    DynamoHandler.call_action = serialised_call_action
    LambdaBackend.send_dynamodb_items = keep_stream_records
    # Resources moto's CloudFormation skips are expected (DESIGN.md); local mode creates what matters.
    warnings.filterwarnings("ignore", message="Tried to parse .* not supported by moto")
    logging.getLogger("moto").setLevel(logging.ERROR)


def serve(host: str, port: int, latency_seconds: float, journal: str | None = None) -> None:
    from moto.server import ThreadedMotoServer

    patch_moto(latency_seconds, journal)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    # ThreadedMotoServer binds in its own thread and would hang on a taken port: check first.
    try:
        socket.create_server((host, port)).close()
    except OSError as error:
        sys.exit(f"motoserver: cannot listen on {host}:{port}: {error.strerror}")
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(f"READY http://{host}:{port}", flush=True)
    # Callers read only that line from a pipe; later output (moto prints) goes to stderr, so a
    # pipe nobody drains can never fill up and block the server.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    stop.wait()
    server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="simulated network latency slept before each DynamoDB request")
    parser.add_argument("--journal", help="append every DynamoDB write that succeeded, in the order it took effect")
    args = parser.parse_args()
    serve(args.host, args.port, args.latency_ms / 1000, args.journal)


if __name__ == "__main__":
    main()
