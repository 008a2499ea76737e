"""``make run``: the whole system on one machine, on moto, reachable with curl.

1. A moto server on 127.0.0.1:MOTO_PORT (DynamoDB serialised by a lock, see scripts/motoserver.py).
2. template.json deployed into it by scripts/deploy.py; the schedule group moto skips is created.
3. The API on http://127.0.0.1:PORT: routes come from the template, each request becomes a REST
   proxy event for the real handler. WORKERS processes each serve one request at a time, as Lambda
   instances do. Unknown routes get API Gateway's 403 answer; a crashed handler gets 502.
4. One process that pumps the table stream into the scheduling consumer and fires due schedules
   into reminder_sender, with the environment each function has in the deployed stack.
5. An SQS inbox subscribed to the notification topic; each reminder is printed as it arrives.

Environment: PORT (3000), MOTO_PORT (5000), WORKERS (2), TICK seconds (1), LOG_LEVEL (WARNING).
Ctrl-C or SIGTERM stops everything.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "src")]

from gateway import MAX_BODY, dispatch, gateway_error  # noqa: E402
from local_aws import ScheduleFirer, StreamPump, deploy_into_moto  # noqa: E402
from proxy_events import LambdaContext, routes_from_template  # noqa: E402

STACK = "appointment-scheduler-local"
ENV = "local"


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def port_is_free(port: int) -> bool:
    try:
        socket.create_server(("127.0.0.1", port)).close()
        return True
    except OSError:
        return False


# -- Lambda instances in their own processes -----------------------------------------------------

def _api_instance(connection, environment: dict) -> None:
    os.environ.update(environment)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    import conflict_detector

    while True:
        try:
            event = connection.recv()
        except EOFError:
            return
        if event is None:
            return
        try:
            result = conflict_detector.handler(event, LambdaContext(environment["FUNCTION_NAME"], 10, 512))
        except Exception as error:  # the Lambda runtime would report this; API Gateway answers 502
            log(f"{environment['FUNCTION_NAME']} crashed: {type(error).__name__}: {error}")
            result = {"crash": f"{type(error).__name__}: {error}"}
        connection.send(result)


def _reminder_instance(environments: dict[str, dict], tick: float, stop) -> None:
    """The stream-to-consumer mapping and Scheduler, for the two reminder functions."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import boto3

    scheduler_env, sender_env = environments["ReminderScheduler"], environments["ReminderSender"]
    os.environ.update({**scheduler_env, **sender_env})
    import reminder_scheduler
    import reminder_sender

    stream_arn = boto3.client("dynamodb").describe_table(TableName=sender_env["TABLE_NAME"])["Table"]["LatestStreamArn"]
    sqs = boto3.client("sqs")
    dlq_url = sqs.get_queue_url(QueueName=scheduler_env["DEAD_LETTER_QUEUE_ARN"].rsplit(":", 1)[1])["QueueUrl"]

    def dead_letter(records):
        sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps({"records": records}, default=str))
        log(f"stream records sent to the dead-letter queue after retries: {len(records)}")

    def invoke(arn: str, payload: dict):
        if arn != scheduler_env["REMINDER_FUNCTION_ARN"]:
            raise RuntimeError(f"no local function for {arn}")
        return reminder_sender.handler(payload, LambdaContext(sender_env["FUNCTION_NAME"]))

    pump = StreamPump(boto3.client("dynamodbstreams"), stream_arn, on_failure=dead_letter)
    firer = ScheduleFirer(boto3.client("scheduler"), scheduler_env["SCHEDULE_GROUP"], invoke,
                          on_failure=lambda schedule, payload: sqs.send_message(
                              QueueUrl=dlq_url, MessageBody=json.dumps(payload)))
    while not stop.is_set():
        try:
            pump.deliver(reminder_scheduler.handler, LambdaContext(scheduler_env["FUNCTION_NAME"], 60))
            firer.fire_due(datetime.now(UTC))
        except Exception as error:  # keep the loop alive; the next tick retries
            log(f"reminder loop: {type(error).__name__}: {error}")
        stop.wait(tick)


class InstancePool:
    """WORKERS API instances; each request borrows one, so an instance serves one request at a time."""

    def __init__(self, size: int, environment: dict):
        self.context = multiprocessing.get_context("spawn")
        self.environment = environment
        self.idle: queue.Queue = queue.Queue()
        self.processes = []
        for _ in range(size):
            self.idle.put(self._start())

    def _start(self):
        parent, child = self.context.Pipe()
        process = self.context.Process(target=_api_instance, args=(child, self.environment), daemon=True)
        process.start()
        self.processes.append(process)
        return parent, process

    def invoke(self, event: dict) -> dict:
        connection, process = self.idle.get()
        try:
            connection.send(event)
            result = connection.recv()
        except (EOFError, OSError, BrokenPipeError):
            process.kill()
            self.idle.put(self._start())
            return {"crash": "the function instance died"}
        self.idle.put((connection, process))
        return result

    def close(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join(timeout=5)


# -- the HTTP front door -------------------------------------------------------------------------------

def make_gateway(routes, pool: InstancePool):
    class Gateway(BaseHTTPRequestHandler):
        server_version = "local-apigateway"
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # one line per request is printed below instead
            pass

        def _handle(self) -> None:
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:  # refused unread, as API Gateway does
                response = gateway_error(413, "Request Too Long")
                self.close_connection = True
            else:
                response = dispatch(routes, pool.invoke, self.command, path, query, dict(self.headers.items()),
                                    self.rfile.read(length) if length else None, self.client_address[0])
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
            log(f"{self.command} {self.path} -> {response.status}")

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_OPTIONS = _handle

    return Gateway


# -- the inbox ---------------------------------------------------------------------------------------------

def print_reminders(sqs, queue_url: str, stop: threading.Event) -> None:
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
            envelope = json.loads(message["Body"])
            attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
            text = envelope["Message"].replace("\n", "\n           ")
            log(f"REMINDER for {attributes.get('userId')} ({attributes.get('appointmentId')})\n"
                f"           {envelope.get('Subject')}\n           {text}")
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


# -- putting it together -------------------------------------------------------------------------------------
def curl_examples(api: str) -> str:
    start = (datetime.now(UTC) + timedelta(minutes=2)).replace(microsecond=0)
    end = start + timedelta(minutes=30)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    return "\n".join([
        "Book (a reminder 1 minute before, so it arrives within about a minute):",
        f"  curl -s -X POST {api}/appointments -H 'Content-Type: application/json' \\",
        f"    -d '{{\"userId\": \"alice\", \"startTime\": \"{start:{iso}}\", \"endTime\": \"{end:{iso}}\", "
        "\"reminders\": [1], \"details\": {\"location\": \"Room 4\"}}'",
        "List:",
        f"  curl -s '{api}/appointments?userId=alice'",
        "Cancel (use the appointmentId from the booking):",
        f"  curl -s -X DELETE {api}/appointments/APPOINTMENT_ID",
    ])


def main() -> int:
    port, moto_port = int(os.environ.get("PORT", "3000")), int(os.environ.get("MOTO_PORT", "5000"))
    workers, tick = int(os.environ.get("WORKERS", "2")), float(os.environ.get("TICK", "1"))
    for name, value in (("PORT", port), ("MOTO_PORT", moto_port)):
        if not port_is_free(value):
            print(f"run: port {value} is taken; set {name} to a free port, e.g. {name}={value + 1} make run",
                  file=sys.stderr)
            return 1
    moto_url = f"http://127.0.0.1:{moto_port}"
    os.environ.update({"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                       "POWERTOOLS_LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
                       "POWERTOOLS_METRICS_DISABLED": os.environ.get("METRICS_DISABLED", "true")})
    for variable in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(variable, None)

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    moto = subprocess.Popen([sys.executable, str(HERE / "motoserver.py"), "--port", str(moto_port)],
                            stdout=subprocess.PIPE, text=True)
    pool = server = reminders = None
    try:
        ready = moto.stdout.readline()
        if not ready.startswith("READY"):
            print(f"run: the moto server did not start ({ready.strip() or 'no output'})", file=sys.stderr)
            return 1
        log(f"moto server on {moto_url}; deploying template.json as stack {STACK} ...")
        outputs, environments = deploy_into_moto(ENV, STACK)

        import boto3
        sqs = boto3.client("sqs")
        inbox = sqs.create_queue(QueueName="local-reminder-inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        boto3.client("sns").subscribe(TopicArn=outputs["NotificationTopicArn"], Protocol="sqs", Endpoint=inbox_arn)

        context = multiprocessing.get_context("spawn")
        pool = InstancePool(workers, environments["ConflictDetector"])
        reminder_stop = context.Event()
        reminders = context.Process(target=_reminder_instance, args=(environments, tick, reminder_stop), daemon=True)
        reminders.start()
        threading.Thread(target=print_reminders, args=(sqs, inbox, stopping), daemon=True).start()

        ThreadingHTTPServer.request_queue_size = 128  # socketserver's default backlog of 5 resets bursts
        server = ThreadingHTTPServer(("127.0.0.1", port), make_gateway(routes_from_template(), pool))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        api = f"http://127.0.0.1:{port}"
        print(f"\nAppointment API ready on {api}  (stage {outputs['ApiEndpoint'].rsplit('/', 1)[1]}, "
              f"{workers} function instances; local mode does not check SigV4)\n\n{curl_examples(api)}\n\n"
              "Reminders print here as they arrive. Ctrl-C stops everything.\n", flush=True)
        while not stopping.wait(0.5):
            if moto.poll() is not None:
                print("run: the moto server stopped unexpectedly", file=sys.stderr)
                return 1
        log("stopping ...")
        return 0
    finally:
        stopping.set()
        if server:
            server.shutdown()
            server.server_close()
        if reminders:
            reminder_stop.set()
            reminders.join(timeout=5)
            if reminders.is_alive():
                reminders.kill()
        if pool:
            pool.close()
        moto.terminate()
        try:
            moto.wait(timeout=10)
        except subprocess.TimeoutExpired:
            moto.kill()


if __name__ == "__main__":
    sys.exit(main())
