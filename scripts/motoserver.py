"""A moto server on loopback, made faithful enough for concurrency (DESIGN.md, "Local emulation").

Seven patches, applied in the process that runs moto:

* DynamoDB requests are serialised by one lock, as DynamoDB serialises writes per item. Without it
  moto lets two correct conditional writes both win. An optional latency is slept *before* the lock
  is taken, so that racing clients really overlap on a 2-core machine.
* moto's own stream delivery to event source mappings is replaced by a no-op. moto would try to run
  the Lambda in Docker and then drop the shard's buffered records; the no-op keeps them, and the
  caller pumps the stream with ``get_records`` into the real consumer instead.
* A cancelled ``TransactWriteItems`` is rolled back in place (``in_place_transactions``). moto backs
  every transaction up with a deep copy of each table, once per action, and puts the copies back on
  cancellation: that costs a copy of the whole table per action, and the copy carries a new stream
  shard object, so every reader of the stream reads the old one and never sees another record.
* Stream shard iterators expire 15 minutes after they are handed out, as DynamoDB Streams' do
  (``expiring_iterators``). moto keeps every iterator it ever made, about 1.7 KB for each
  ``GetRecords``: a poller twice a second grew the server by 300 MB a day.
* moto's CloudFormation refuses an ``AWS::ApiGateway::Method`` whose integration has no ``Uri`` and
  ``IntegrationHttpMethod``, which a MOCK integration (a CORS preflight) needs neither of on AWS; they
  are defaulted, and the template stays as AWS reads it (``mock_methods_without_a_target``).
* An EventBridge rule's Lambda targets are handed their events through SQS (``lambda_targets_queued``):
  moto cannot invoke a function and raises NotImplementedError for the whole ``PutEvents`` instead. Each
  matched event goes to the queue ``lambda-target-<function name>``, when it exists, for whoever runs the
  function (the local stack's stream process); the rule's other targets are served by moto as before.
* What moto's SES and SNS send to people can be appended to an outbox (``--outbox FILE``, one JSON line per
  e-mail or SMS), so that ``make run`` prints each one as it is sent and tests against the server read them.

Run as ``python scripts/motoserver.py --port 5000 [--latency-ms 50] [--journal FILE] [--outbox FILE]
[--ignore-sigint]``; it prints ``READY <url>`` once it serves and stops on SIGTERM or SIGINT (SIGTERM only
with ``--ignore-sigint``). ``--journal`` appends each DynamoDB write that succeeded, in lock order, so a
race test can tell what committed before what.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import warnings
from collections import deque

DYNAMODB_LOCK = threading.Lock()


WRITES = {"TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}


def in_place_transactions(transact_write_items):
    """moto's ``DynamoDBBackend.transact_write_items``, copying only the items it touches.

    While it runs, each table it names answers ``copy.deepcopy`` with itself (so moto's backup and
    restore of whole tables do nothing), and its stream records are held back. If it succeeds, the
    records are appended in order; if it fails in any way, the items its actions name are put back as
    they were and the records are dropped. Table objects, their stream shards, every other item and
    moto's errors (``TransactionCanceledException`` with its reasons, in order) stay as they are.
    It relies on the caller holding the DynamoDB lock, as every request to the server does.
    """

    def in_place(self, transact_items):  # type: ignore[no-untyped-def]
        tables, saved, held = {}, {}, []
        for action in transact_items:
            for operation in action.values():
                table = self.tables.get(operation.get("TableName")) if isinstance(operation, dict) else None
                if table is None:
                    continue  # moto reports the missing table itself
                tables[table.name] = table
                key = _item_key(table, operation)
                if key is not None:
                    saved.setdefault((table.name, key), _stored(table, key))
        for table in tables.values():
            table.__deepcopy__ = lambda memo, table=table: table
            if table.stream_shard is not None:
                table.stream_shard.add = lambda old, new, shard=table.stream_shard: held.append((shard, old, new))
        try:
            transact_write_items(self, transact_items)
        except Exception:
            for (name, key), before in saved.items():
                _restore(tables[name], key, before)
            raise
        finally:
            for table in tables.values():
                vars(table).pop("__deepcopy__", None)
                if table.stream_shard is not None:
                    vars(table.stream_shard).pop("add", None)
        for shard, old, new in held:
            shard.add(old, new)

    return in_place


def _item_key(table, operation: dict):  # type: ignore[no-untyped-def]
    """(hash, range) of the item an action names, as moto keys ``table.items``; None if it names none."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    attributes = operation.get("Item") if "Item" in operation else operation.get("Key")
    if not isinstance(attributes, dict) or table.hash_key_attr not in attributes:
        return None
    if table.has_range_key and table.range_key_attr not in attributes:
        return None
    range_value = DynamoType(attributes[table.range_key_attr]) if table.has_range_key else None
    return DynamoType(attributes[table.hash_key_attr]), range_value


def _stored(table, key) -> tuple[bool, object]:  # type: ignore[no-untyped-def]
    hash_value, range_value = key
    if table.has_range_key:
        return hash_value in table.items, copy.deepcopy(table.items.get(hash_value, {}).get(range_value))
    return hash_value in table.items, copy.deepcopy(table.items.get(hash_value))


def _restore(table, key, before) -> None:  # type: ignore[no-untyped-def]
    (hash_value, range_value), (had_hash, item) = key, before
    if not table.has_range_key:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
        return
    if item is not None:
        table.items[hash_value][range_value] = item
        return
    bucket = table.items.get(hash_value)
    if bucket is not None:
        bucket.pop(range_value, None)
        if not bucket and not had_hash:  # moto's reads leave empty buckets; put back only what was there
            del table.items[hash_value]


ITERATOR_LIFETIME = 15 * 60.0  # seconds, as DynamoDB Streams documents for GetShardIterator


def expiring_iterators(init, get_records, lifetime: float = ITERATOR_LIFETIME, clock=time.monotonic):
    """Wrappers of moto's ``ShardIterator.__init__`` and ``DynamoDBStreamsBackend.get_records``: each
    iterator is dropped ``lifetime`` seconds after it was made, and an expired one is refused with
    ``ExpiredIteratorException``, as DynamoDB Streams does."""
    from moto.core.exceptions import JsonRESTError

    made: deque = deque()  # (when, iterator), oldest first
    lock = threading.Lock()  # stream requests do not take the DynamoDB lock

    def init_stamped(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        init(self, *args, **kwargs)
        with lock:
            made.append((clock(), self))

    def get_records_unexpired(self, iterator_arn, limit):  # type: ignore[no-untyped-def]
        now = clock()
        with lock:
            while made and now - made[0][0] >= lifetime:
                _, iterator = made.popleft()
                iterator.streams_backend.shard_iterators.pop(iterator.arn, None)
        if iterator_arn not in self.shard_iterators:
            raise JsonRESTError("ExpiredIteratorException", "The shard iterator has expired; get a new one.")
        return get_records(self, iterator_arn, limit)

    return init_stamped, get_records_unexpired


def lambda_targets_queued(send_to_targets):
    """A wrapper of moto's ``Rule.send_to_targets`` that serves a rule's Lambda targets itself: a matched event
    is sent, as a Lambda target would receive it, to the queue named after the function, if there is one."""
    from moto.events.models import parse_arn

    from local_aws import LAMBDA_TARGET_QUEUE

    def send(self, original_event, transform_input=True):  # type: ignore[no-untyped-def]
        functions = [t for t in self.targets if parse_arn(t["Arn"]).service == "lambda"]
        if not functions:
            return send_to_targets(self, original_event, transform_input)
        every = self.targets
        self.targets = [t for t in every if t not in functions]
        try:
            send_to_targets(self, original_event, transform_input)
        finally:
            self.targets = every
        if not self.event_pattern.matches_event(original_event):
            return None
        from moto.sqs import sqs_backends

        queues = sqs_backends[self.account_id][self.region_name]
        for target in functions:
            name = LAMBDA_TARGET_QUEUE.format(function=parse_arn(target["Arn"]).resource_id.split(":")[0])
            if name in queues.queues:
                self._send_to_sqs_queue(name, copy.deepcopy(original_event))
        return None

    return send


def outbox_writer(path: str):
    """The hooks that append each e-mail (SES v2 SendEmail, simple content) and SMS (SNS Publish to a phone
    number) moto accepted to ``path``: recipient, subject and text, one JSON object a line."""
    lock = threading.Lock()

    def write(entry: dict) -> None:
        with lock, open(path, "a") as out:
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def send_email(original):
        def sent(self):  # type: ignore[no-untyped-def]
            result = original(self)
            params = json.loads(self.body)
            simple = params.get("Content", {}).get("Simple", {})
            write({"channel": "email", "from": params.get("FromEmailAddress"),
                   "to": params.get("Destination", {}).get("ToAddresses", []),
                   "subject": simple.get("Subject", {}).get("Data"),
                   "text": simple.get("Body", {}).get("Text", {}).get("Data"),
                   "headers": {h["Name"]: h["Value"] for h in simple.get("Headers", [])},
                   "configurationSet": params.get("ConfigurationSetName")})
            return result
        return sent

    def publish(original):
        def published(self, message, arn, phone_number=None, *args, **kwargs):  # type: ignore[no-untyped-def]
            result = original(self, message, arn, phone_number, *args, **kwargs)
            if phone_number:
                write({"channel": "sms", "to": phone_number, "text": message})
            return result
        return published

    return send_email, publish


_patched = False


def mock_methods_without_a_target(create):
    """moto's CloudFormation reads every method's integration ``Uri`` and ``IntegrationHttpMethod``, which a
    MOCK integration (the CORS preflights) has no use for and the template does not give; default them."""
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, *args, **kwargs):
        integration = cloudformation_json["Properties"].get("Integration", {})
        if integration.get("Type") == "MOCK":
            integration.setdefault("Uri", "")
            integration.setdefault("IntegrationHttpMethod", "")
        return create.__func__(cls, resource_name, cloudformation_json, *args, **kwargs)
    return classmethod(create_from_cloudformation_json)


def patch_moto(latency_seconds: float = 0.0, journal: str | None = None, outbox: str | None = None) -> None:
    """Apply the seven patches, once per process (a second lock around the first would deadlock)."""
    global _patched
    if _patched:
        return
    _patched = True
    from moto.apigateway.models import Method
    from moto.awslambda.models import LambdaBackend
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
    from moto.events.models import Rule

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
    Method.create_from_cloudformation_json = mock_methods_without_a_target(Method.create_from_cloudformation_json)
    DynamoDBBackend.transact_write_items = in_place_transactions(DynamoDBBackend.transact_write_items)
    ShardIterator.__init__, DynamoDBStreamsBackend.get_records = expiring_iterators(
        ShardIterator.__init__, DynamoDBStreamsBackend.get_records)
    Rule.send_to_targets = lambda_targets_queued(Rule.send_to_targets)
    if outbox:
        from moto.sesv2.responses import SESV2Response
        from moto.sns.models import SNSBackend

        send_email, publish = outbox_writer(outbox)
        SESV2Response.send_email = send_email(SESV2Response.send_email)
        SNSBackend.publish = publish(SNSBackend.publish)
    # Resources moto's CloudFormation skips are expected (DESIGN.md); local mode creates what matters.
    warnings.filterwarnings("ignore", message="Tried to parse .* not supported by moto")
    logging.getLogger("moto").setLevel(logging.ERROR)


def serve(host: str, port: int, latency_seconds: float, journal: str | None = None,
          ignore_sigint: bool = False, outbox: str | None = None) -> None:
    from moto.server import ThreadedMotoServer

    patch_moto(latency_seconds, journal, outbox)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    # ThreadedMotoServer binds in its own thread and would hang on a taken port: check first.
    try:
        socket.create_server((host, port)).close()
    except OSError as error:
        sys.exit(f"motoserver: cannot listen on {host}:{port}: {error.strerror}")
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN if ignore_sigint else lambda *_: stop.set())
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
    parser.add_argument("--outbox", help="append every e-mail and SMS sent through moto's SES and SNS, a line each")
    parser.add_argument("--ignore-sigint", action="store_true",
                        help="stop on SIGTERM only: a parent that stops its other children first (make run; a "
                             "terminal's Ctrl-C reaches the whole process group) stops the server last")
    args = parser.parse_args()
    serve(args.host, args.port, args.latency_ms / 1000, args.journal, args.ignore_sigint, args.outbox)


if __name__ == "__main__":
    main()
