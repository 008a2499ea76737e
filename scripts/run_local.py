"""``make run``: the whole system on one machine, on moto, reachable with curl.

1. A moto server on 127.0.0.1:MOTO_PORT (DynamoDB serialised by a lock, see scripts/motoserver.py).
2. template.json deployed into it by scripts/deploy.py; the schedule group moto skips is created.
3. The API on http://127.0.0.1:PORT, served by werkzeug: routes come from the template, each request
   becomes a REST proxy event for the real handler. WORKERS processes each serve one request at a
   time, as Lambda instances do. Unknown routes get API Gateway's 403 answer; a crashed handler 502.
4. One stream process that pumps the table stream into both of its consumers (reminder scheduling
   and event publishing, each with its own position, retries and dead-letter queue), fires due
   schedules into reminder_sender, and invokes the notifier with the events the notification rule
   matched (queued by the moto layer, retried and dead-lettered as Lambda's asynchronous invocation
   does), with the environment each function has in the deployed stack.
5. An SQS inbox subscribed to the notification topic, and one that a rule on the event bus feeds;
   each reminder and each appointment event is printed as it arrives. Every e-mail and SMS that moto's
   SES and SNS accept is printed too (recipient, subject, first lines, and the e-mail's manage link on a
   line of its own), from the moto layer's outbox. The links lead to this gateway, which serves the manage pages.

Every child is supervised: a function instance or the stream process that dies is started again
(Lambda starts a new instance too; the stream consumer and the sender are idempotent, so replayed
records do no harm). A child that keeps dying, or the moto server stopping, stops the whole stack
with a message. Ctrl-C or SIGTERM stops everything within a few seconds, in order: no new
connection; requests being served finish (those still waiting for an instance get 503); the stream
process; the moto server last.

Environment: PORT (3000), MOTO_PORT (5000), WORKERS (2), TICK seconds (1), LOG_LEVEL (WARNING),
METRICS_DISABLED (true: no EMF blob on the terminal), and MOTO_LATENCY_MS (0): a network latency
moto sleeps before each DynamoDB request, so that racing requests really overlap on a small
machine (the end-to-end race test sets it).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "src")]

from appointments.settings import parse_origins  # noqa: E402
from gateway import serve, wsgi_app  # noqa: E402
from local_aws import (  # noqa: E402
    LOCAL_PARAMETERS,
    QueuedInvocations,
    ScheduleFirer,
    StreamPump,
    deploy_into_moto,
    lambda_target_queue,
)
from local_env import use_fake_aws  # noqa: E402
from proxy_events import LambdaContext, routes_from_template  # noqa: E402

STACK = "appointment-scheduler-local"
ENV = "local"
RESTARTS, RESTART_WINDOW = 5, 60.0  # a child that dies more often than this stops the stack
STOP_GRACE = 2.0  # seconds a child gets to stop before it is killed
DRAIN_GRACE = 5.0  # seconds the requests being served get to finish when the stack stops
SPAWN = multiprocessing.get_context("spawn")
MESSAGE_SENDERS = ("ReminderSender", "ReminderScheduler", "Notifier")  # the functions whose messages carry links


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def port_is_free(port: int) -> bool:
    try:
        socket.create_server(("127.0.0.1", port)).close()
        return True
    except OSError:
        return False


def stop_process(process) -> None:
    """SIGTERM, a short grace, then SIGKILL; never waits on anything a dead child could hold."""
    if process.is_alive():
        process.terminate()
        process.join(STOP_GRACE)
    if process.is_alive():
        process.kill()
        process.join(STOP_GRACE)


class StackStopped(Exception):
    """The stack cannot go on; the message says why."""


# -- Lambda instances in their own processes -----------------------------------------------------

def _api_instance(connection, environment: dict) -> None:
    os.environ.update(environment)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    from lambdas import invoke_api

    while True:
        try:
            event = connection.recv()
        except EOFError:
            return
        if event is None:
            return
        try:
            result = invoke_api(event, environment["FUNCTION_NAME"])
        except Exception as error:  # the Lambda runtime would report this; API Gateway answers 502
            log(f"{environment['FUNCTION_NAME']} crashed: {type(error).__name__}: {error}")
            result = {"crash": f"{type(error).__name__}: {error}"}
        connection.send(result)


def _stream_instance(environments: dict[str, dict], reminder_dlq: str, event_dlq: str, tick: float,
                     notifier_queue: str) -> None:
    """The two stream-to-consumer mappings, Scheduler for the reminder sender, and the notification rule's
    asynchronous invocations of the notifier.

    It stops on SIGTERM. Nothing is shared with the parent but the process itself, so a parent can
    always stop it, even after it was killed mid-tick.
    """
    stop = threading.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    import boto3

    scheduler_env, sender_env = environments["ReminderScheduler"], environments["ReminderSender"]
    publisher_env, notifier_env = environments["EventPublisher"], environments["Notifier"]
    os.environ.update({**scheduler_env, **sender_env, **publisher_env, **notifier_env})
    import event_publisher
    import notifier
    import reminder_scheduler
    import reminder_sender

    stream_arn = boto3.client("dynamodb").describe_table(TableName=sender_env["TABLE_NAME"])["Table"]["LatestStreamArn"]
    sqs = boto3.client("sqs")

    def dead_letter(queue_url: str, consumer: str):
        def send(records: list[dict]) -> None:
            sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"records": records}, default=str))
            for record in records:
                keys = record["dynamodb"].get("Keys", {})
                log(f"{consumer}: stream record {record['dynamodb']['SequenceNumber']} ({record['eventName']} "
                    f"{json.dumps(keys)}) failed every retry; sent to the dead-letter queue")
        return send

    def invoke(arn: str, payload: dict):
        if arn != scheduler_env["REMINDER_FUNCTION_ARN"]:
            raise RuntimeError(f"no local function for {arn}")
        return reminder_sender.handler(payload, LambdaContext(sender_env["FUNCTION_NAME"]))

    streams = boto3.client("dynamodbstreams")
    reminders = StreamPump(streams, stream_arn, on_failure=dead_letter(reminder_dlq, "reminder scheduler"))
    events = StreamPump(streams, stream_arn, on_failure=dead_letter(event_dlq, "event publisher"))
    firer = ScheduleFirer(boto3.client("scheduler"), scheduler_env["SCHEDULE_GROUP"], invoke,
                          on_failure=lambda schedule, payload: sqs.send_message(
                              QueueUrl=reminder_dlq, MessageBody=json.dumps(payload)))
    notices = QueuedInvocations(sqs, notifier_queue)
    steps = {"reminder stream pump": lambda: reminders.deliver(reminder_scheduler.handler,
                                                               LambdaContext(scheduler_env["FUNCTION_NAME"], 60)),
             "event stream pump": lambda: events.deliver(event_publisher.handler,
                                                         LambdaContext(publisher_env["FUNCTION_NAME"], 60)),
             "schedule firer": lambda: firer.fire_due(datetime.now(UTC)),
             "notifier": lambda: notices.deliver(notifier.handler, LambdaContext(notifier_env["FUNCTION_NAME"], 30))}
    while not stop.is_set():
        for name, step in steps.items():  # apart, so that one failing never stops the others
            try:
                step()
            except Exception as error:  # keep the loop alive; the next tick retries
                log(f"{name}: {type(error).__name__}: {error}")
        stop.wait(tick)


UNAVAILABLE = {"unavailable": "the stack is stopping"}  # the gateway answers 503


class InstancePool:
    """WORKERS API instances; each request borrows one, so an instance serves one request at a time.

    An instance found dead is replaced before it is used, as Lambda starts a new instance; one that
    dies during a request costs that request a 502. Once ``close`` begins, no instance is started:
    requests that wait for an instance are answered 503, and those being served get a few seconds
    to finish (503 if their instance is stopped under them).
    """

    def __init__(self, size: int, environment: dict):
        self.size, self.environment = size, environment
        self.idle: queue.Queue = queue.Queue()
        self.started: list = []
        self.closing = threading.Event()
        for _ in range(size):
            self.idle.put(self._start())

    def _start(self):
        parent, child = SPAWN.Pipe()
        process = SPAWN.Process(target=_api_instance, args=(child, self.environment), daemon=True)
        process.start()
        self.started.append(process)
        return parent, process

    def _replace(self, process, why: str):
        stop_process(process)
        connection, fresh = self._start()
        log(f"function instance {process.pid} {why} (exit code {process.exitcode}); started pid {fresh.pid}")
        return connection, fresh

    def invoke(self, event: dict) -> dict:
        while True:
            if self.closing.is_set():
                return UNAVAILABLE
            try:
                connection, process = self.idle.get(timeout=0.2)
                break
            except queue.Empty:
                continue
        if self.closing.is_set():
            self.idle.put((connection, process))
            return UNAVAILABLE
        if not process.is_alive():
            connection, process = self._replace(process, "had died")
        try:
            connection.send(event)
            result = connection.recv()
        except (EOFError, OSError):
            if self.closing.is_set():  # stopped under it: no new instance during a stop
                return UNAVAILABLE
            self.idle.put(self._replace(process, "died during a request"))
            return {"crash": "the function instance died"}
        self.idle.put((connection, process))
        return result

    def close(self, grace: float) -> None:
        """Let the requests being served finish within ``grace`` seconds, then stop every instance."""
        self.closing.set()
        deadline = time.monotonic() + grace
        while self.idle.qsize() < self.size and time.monotonic() < deadline:
            time.sleep(0.05)
        for process in self.started:
            if process.is_alive():
                process.terminate()
        for process in self.started:
            stop_process(process)


class Supervised:
    """A child process that is started again when it dies, unless it dies too often."""

    def __init__(self, name: str, target, args: tuple):
        self.name, self.target, self.args = name, target, args
        self.deaths: deque[float] = deque()
        self.process = self._spawn()

    def _spawn(self):
        process = SPAWN.Process(target=self.target, args=self.args, daemon=True, name=self.name)
        process.start()
        return process

    def check(self) -> None:
        if self.process.is_alive():
            return
        now = time.monotonic()
        self.deaths.append(now)
        while self.deaths and self.deaths[0] < now - RESTART_WINDOW:
            self.deaths.popleft()
        if len(self.deaths) > RESTARTS:
            raise StackStopped(f"the {self.name} died {len(self.deaths)} times in {RESTART_WINDOW:.0f} s "
                               f"(last exit code {self.process.exitcode}); stopping the stack")
        exit_code = self.process.exitcode
        self.process = self._spawn()
        log(f"the {self.name} exited (exit code {exit_code}); started it again as pid {self.process.pid}")

    def stop(self) -> None:
        stop_process(self.process)


# -- the inbox ---------------------------------------------------------------------------------------------

def print_inbox(sqs, queue_url: str, show, stop: threading.Event) -> None:
    """Print each message of an inbox queue as it arrives, with ``show``, and delete it."""
    while not stop.is_set():
        try:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        except Exception as error:
            if stop.is_set():
                return
            log(f"inbox: {error}")
            stop.wait(1)
            continue
        for message in messages.get("Messages", []):
            log(show(json.loads(message["Body"])))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def show_reminder(envelope: dict) -> str:
    attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
    text = envelope["Message"].replace("\n", "\n           ")
    return (f"REMINDER for {attributes.get('userId')} ({attributes.get('appointmentId')})\n"
            f"           {envelope.get('Subject')}\n           {text}")


MANAGE_LINK = re.compile(r"https?://\S+/manage/[A-Za-z0-9_-]+")


def show_message(entry: dict) -> str:
    """An e-mail or SMS as moto's SES or SNS accepted it: recipient, subject and the first lines, then its
    manage link on a line of its own, to open in a browser."""
    if entry["channel"] == "sms":
        return f"SMS to {entry['to']}\n           {entry['text']}"
    text = entry.get("text") or ""
    lines = [line for line in text.splitlines() if line.strip()][:4]
    body = "".join(f"\n           {line}" for line in lines)
    link = MANAGE_LINK.search(text)
    shown = f"\n           manage link: {link.group(0)}" if link else ""
    return f"EMAIL to {', '.join(entry['to'])}: {entry.get('subject')}{body}{shown}"


def print_outbox(path: Path, stop: threading.Event) -> None:
    """Print each e-mail and SMS the moto layer appends to its outbox, as it is sent."""
    position = 0
    while not stop.wait(0.5):
        try:
            with path.open() as outbox:
                outbox.seek(position)
                for line in iter(outbox.readline, ""):
                    if not line.endswith("\n"):
                        break  # half written: read it whole next time
                    position += len(line.encode())
                    log(show_message(json.loads(line)))
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as error:
            log(f"outbox: {error}")


def show_event(event: dict) -> str:
    detail = event["detail"]
    appointment, previous = detail["appointment"], detail["previous"]
    moved = (f", from {previous['startTime']}" if previous and previous["startTime"] != appointment["startTime"]
             else "")
    return (f"EVENT {event['detail-type']} {detail['eventId']}: {appointment['userId']} "
            f"{appointment['startTime']}-{appointment['endTime']} {appointment['status']}{moved}")


def inbox_queue(sqs, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def subscribe_inboxes(topic_arn: str, bus_name: str) -> tuple[object, str, str]:
    """An SQS inbox subscribed to the reminder topic, and one fed by a rule for every appointment event."""
    import boto3

    sqs = boto3.client("sqs")
    reminders, reminders_arn = inbox_queue(sqs, "local-reminder-inbox")
    boto3.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=reminders_arn)
    events, events_arn = inbox_queue(sqs, "local-event-inbox")
    bus = boto3.client("events")
    bus.put_rule(Name="local-event-inbox", EventBusName=bus_name, EventPattern=json.dumps({"source": ["appointments"]}))
    bus.put_targets(Rule="local-event-inbox", EventBusName=bus_name, Targets=[{"Id": "inbox", "Arn": events_arn}])
    return sqs, reminders, events


# -- putting it together -------------------------------------------------------------------------------------

def curl_examples(api: str) -> str:
    start = (datetime.now(UTC) + timedelta(minutes=3)).replace(microsecond=0)
    end = start + timedelta(minutes=30)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    return "\n".join([
        "Book (a reminder 1 minute before a start 3 minutes from now, so it arrives in about 2 minutes):",
        f"  curl -s -X POST {api}/appointments -H 'Content-Type: application/json' \\",
        f"    -d '{{\"userId\": \"alice\", \"startTime\": \"{start:{iso}}\", \"endTime\": \"{end:{iso}}\", "
        "\"reminders\": [1], \"details\": {\"location\": \"Room 4\"}}'",
        "Book with a provider and a room:",
        f"  curl -s -X POST {api}/appointments -H 'Content-Type: application/json' \\",
        f"    -d '{{\"userId\": \"alice\", \"startTime\": \"{start + timedelta(hours=1):{iso}}\", "
        f"\"endTime\": \"{end + timedelta(hours=1):{iso}}\", \"participants\": [\"dr-smith\", \"room-4\"]}}'",
        "Then bob is refused dr-smith at an overlapping time (409, without alice's appointment ID):",
        f"  curl -s -X POST {api}/appointments -H 'Content-Type: application/json' \\",
        f"    -d '{{\"userId\": \"bob\", \"startTime\": \"{start + timedelta(hours=1, minutes=15):{iso}}\", "
        f"\"endTime\": \"{end + timedelta(hours=1, minutes=15):{iso}}\", \"participants\": [\"dr-smith\"]}}'",
        "Give dr-smith opening hours (09:00-17:00 UTC every day, 10 minutes between appointments), then ask for slots:",
        f"  curl -s -X PUT {api}/calendars/dr-smith/availability -H 'Content-Type: application/json' \\",
        "    -d '{\"timeZone\": \"UTC\", \"bufferAfter\": 10, \"weekly\": {"
        + ", ".join(f'\"{d}\": [{{\"start\": \"09:00\", \"end\": \"17:00\"}}]'
                    for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")) + "}}'",
        f"  curl -s '{api}/calendars/dr-smith/slots?from={start:{iso}}&to={start + timedelta(days=2):{iso}}"
        "&duration=30&with=room-4'",
        "  (then book one of them as above, with its start and an end 30 minutes later)",
        "The provider's agenda:",
        f"  curl -s '{api}/calendars/dr-smith/appointments?from={start:{iso}}&to={start + timedelta(days=1):{iso}}'",
        "Give alice a contact (e-mail and SMS, in German, in Berlin time); her next booking prints its confirmation:",
        f"  curl -s -X PUT {api}/calendars/alice/contact -H 'Content-Type: application/json' \\",
        "    -d '{\"name\": \"Alice\", \"email\": \"alice@example.com\", \"phone\": \"+4915112345678\", "
        "\"locale\": \"de-DE\", \"timeZone\": \"Europe/Berlin\", \"channels\": [\"email\", \"sms\"]}'",
        "List:",
        f"  curl -s '{api}/appointments?userId=alice'",
        "One appointment as a calendar file (use the appointmentId from the booking):",
        f"  curl -s -H 'Accept: text/calendar' {api}/appointments/APPOINTMENT_ID",
        "Cancel:",
        f"  curl -s -X DELETE {api}/appointments/APPOINTMENT_ID",
    ])


def local_environment(moto_url: str) -> None:
    use_fake_aws(moto_url)
    os.environ.update({"POWERTOOLS_LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
                       "POWERTOOLS_METRICS_DISABLED": os.environ.get("METRICS_DISABLED", "true")})


class LocalStack:
    """Starts the parts in order, watches them, and stops whatever was started, each step bounded."""

    def __init__(self, port: int, moto_port: int, workers: int, tick: float, moto_latency_ms: float = 0.0):
        self.port, self.moto_port, self.workers, self.tick = port, moto_port, workers, tick
        self.moto_latency_ms = moto_latency_ms
        self.stopping = threading.Event()
        self.moto = self.pool = self.server = self.streams = None
        self.outbox = Path(tempfile.mkdtemp(prefix="appointments-outbox-")) / "outbox.jsonl"

    def start(self) -> None:
        moto_url = f"http://127.0.0.1:{self.moto_port}"
        local_environment(moto_url)
        # moto ignores SIGINT (Ctrl-C reaches the whole process group): it is stopped last, after every
        # process that calls it, so none of them prints a connection error on the way out.
        self.moto = subprocess.Popen([sys.executable, str(HERE / "motoserver.py"), "--port", str(self.moto_port),
                                      "--latency-ms", str(self.moto_latency_ms), "--outbox", str(self.outbox),
                                      "--ignore-sigint"],
                                     stdout=subprocess.PIPE, text=True)
        ready = self.moto.stdout.readline()
        if not ready.startswith("READY"):
            raise StackStopped(f"the moto server did not start ({ready.strip() or 'no output'})")
        log(f"moto server on {moto_url}; deploying template.json as stack {STACK} ...")
        origins = parse_origins(os.environ.get("ALLOWED_ORIGINS", ""))
        outputs, environments = deploy_into_moto(ENV, STACK, {"AllowedOrigins": ",".join(origins)} if origins else {})
        api = f"http://127.0.0.1:{self.port}"
        for name in MESSAGE_SENDERS:  # their links lead to this gateway, not to the stage URL the stack names
            environments[name] = {**environments[name], "MANAGE_BASE_URL": api}
        sqs, reminders, events = subscribe_inboxes(outputs["NotificationTopicArn"], outputs["AppointmentEventBusName"])
        notification_dlq = sqs.get_queue_attributes(QueueUrl=outputs["NotificationDeadLetterQueueUrl"],
                                                    AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        notifier_queue = lambda_target_queue(sqs, environments["Notifier"]["FUNCTION_NAME"], notification_dlq)
        self.pool = InstancePool(self.workers, environments["ConflictDetector"])
        self.streams = Supervised("stream process", _stream_instance,
                                  (environments, outputs["ReminderDeadLetterQueueUrl"],
                                   outputs["AppointmentEventDeadLetterQueueUrl"], self.tick, notifier_queue))
        for inbox, show in ((reminders, show_reminder), (events, show_event)):
            threading.Thread(target=print_inbox, args=(sqs, inbox, show, self.stopping), daemon=True).start()
        threading.Thread(target=print_outbox, args=(self.outbox, self.stopping), daemon=True).start()
        routes = routes_from_template(conditions={"HasAllowedOrigins": bool(origins)})  # preflights only with CORS on
        self.server = serve(wsgi_app(routes, self.pool.invoke, log, origins), self.port)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        print(f"\nAppointment API ready on {api}  (stage {outputs['ApiEndpoint'].rsplit('/', 1)[1]}, "
              f"{self.workers} function instances; local mode does not check SigV4)\n"
              f"Processes: moto server pid {self.moto.pid}, function instances pid "
              f"{', '.join(str(p.pid) for p in self.pool.started)}, stream process pid {self.streams.process.pid}"
              f"\n\n{curl_examples(api)}\n\nReminders, appointment events, e-mails and SMS print here as they "
              f"arrive (e-mail from {LOCAL_PARAMETERS['SenderEmail']}, as {LOCAL_PARAMETERS['BusinessName']}), "
              f"each with its manage link ({api}/manage/...): open it in a browser to cancel or move the "
              "appointment. Ctrl-C stops everything.\n",
              flush=True)

    def watch(self) -> None:
        """Until asked to stop: restart what died, or raise StackStopped."""
        while not self.stopping.wait(0.5):
            if self.moto.poll() is not None:
                raise StackStopped("the moto server stopped unexpectedly, and the stack's state with it")
            self.streams.check()

    def stop(self) -> None:
        """In order: no new connection; requests being served finish (or get 503); the stream process
        (the firer with it); moto last, so that nothing calls it once it is gone."""
        self.stopping.set()
        if self.server:
            self.server.shutdown()
        if self.pool:
            self.pool.close(grace=DRAIN_GRACE)
        if self.server:
            self.server.server_close()
        if self.streams:
            self.streams.stop()
        if self.moto:
            self.moto.terminate()
            try:
                self.moto.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.moto.kill()
        shutil.rmtree(self.outbox.parent, ignore_errors=True)


def main() -> int:
    port, moto_port = int(os.environ.get("PORT", "3000")), int(os.environ.get("MOTO_PORT", "5000"))
    workers, tick = int(os.environ.get("WORKERS", "2")), float(os.environ.get("TICK", "1"))
    moto_latency_ms = float(os.environ.get("MOTO_LATENCY_MS", "0"))
    for name, value in (("PORT", port), ("MOTO_PORT", moto_port)):
        if not port_is_free(value):
            print(f"run: port {value} is taken; set {name} to a free port, e.g. {name}={value + 1} make run",
                  file=sys.stderr)
            return 1
    stack = LocalStack(port, moto_port, workers, tick, moto_latency_ms)
    signal.signal(signal.SIGTERM, lambda *_: stack.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stack.stopping.set())
    try:
        stack.start()
        stack.watch()
        log("stopping ...")
        return 0
    except StackStopped as error:
        print(f"run: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
