"""Messages to people (issue 20), on the in-process stack: the AWS calls and DynamoDB units of each message
sent, and whether the booking handler's import loads what only messages need.

A user with a contact (e-mail and SMS) books through the API. The booking's stream record goes through the
real event publisher to the event bus, whose notification rule hands the event to the notifier (the moto
layer queues a rule's Lambda target events, as in `make run`). Measured, each on its own:

* the booking (a contact changes nothing on its path);
* the notifier on that event, a confirmation by e-mail and by SMS; and on the same event again (a
  duplicate delivery, which sends nothing);
* the sender on the booking's 1-hour reminder, to the topic, by e-mail and by SMS; and on the same
  schedule again.

Units are computed from the items read and written, as for every other row (``capacity.capacity_units``).
The notifier's and the sender's cold imports are timed with the other handlers' (``measurements``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile

from bench.capacity import capacity_units
from bench.recording import AwsRecorder
from bench.stack import Harness
from proxy_events import LambdaContext

USER = "notified"
CONTACT = {"name": "Alice", "email": "alice@example.com", "phone": "+4915112345678", "locale": "de",
           "channels": ["email", "sms"]}
BOOKING = {"userId": USER, "startTime": "2027-01-05T09:00:00Z", "endTime": "2027-01-05T10:00:00Z",
           "reminders": [60], "details": {"title": "Check-up", "location": "Room 4"}}
# Loaded only to compose messages (Babel, and the module with the texts' templates) or to validate a
# contact's addresses; never by a booking. Packages by their top-level name, modules by their full name.
MESSAGE_ONLY = ("babel", "email_validator", "phonenumbers", "dns", "idna", "appointments.messages")


def measure_messages(harness: Harness, recorder: AwsRecorder) -> list[dict]:
    """Calls and units of a booking by a user with a contact, of the messages it makes, and of their
    duplicate deliveries; each row names what was measured."""
    import boto3

    import event_publisher
    import notifier
    import reminder_sender
    from appointments.adapters import ReminderRequest
    from local_aws import QueuedInvocations, StreamPump, lambda_target_queue

    # The bench's own plumbing (clients not recorded): the notifier's queue, and the stream from now on.
    sqs = boto3.client("sqs")
    dead = sqs.get_queue_attributes(QueueUrl=harness.outputs["NotificationDeadLetterQueueUrl"],
                                    AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queued = QueuedInvocations(sqs, lambda_target_queue(sqs, harness.functions["Notifier"]["FUNCTION_NAME"], dead))
    stream = StreamPump(boto3.client("dynamodbstreams"), harness.pump.stream_arn, starting_position="LATEST")
    stream.poll()
    status, answer = harness.http("PUT", f"/calendars/{USER}/contact", CONTACT)
    assert status < 300, answer
    rows = []

    def run(case: str, action, sends: tuple[str, ...] = ()):
        with recorder.measuring() as measured:
            outcome = action()
        missing = [call for call in sends if call not in measured["calls"]]
        assert not missing, f"{case}: {missing} not called, so nothing was sent"
        reads, writes = capacity_units(measured["exchanges"], {harness.tables.table})
        rows.append({"case": case, "calls": measured["calls"], "reads": reads, "writes": writes})
        return outcome

    status, booked = run("book (the user has a contact)", lambda: harness.http("POST", "/appointments", BOOKING))
    assert status == 201, booked
    published = event_publisher.handler({"Records": stream.poll()}, LambdaContext("EventPublisher-bench"))
    assert not published["batchItemFailures"], published
    events: list[dict] = []
    while queued.deliver(lambda event, _: events.append(event)):
        pass
    [event] = [e for e in events if e["detail"]["appointment"]["appointmentId"] == booked["appointmentId"]]
    context = LambdaContext("Notifier-bench")
    sent = ("sesv2:SendEmail", "sns:Publish")
    run("confirmation by e-mail and SMS (notifier, 1 event)", lambda: notifier.handler(event, context), sent)
    run("the same event again (sends nothing)", lambda: notifier.handler(event, context))
    request = ReminderRequest(booked["appointmentId"], 60, booked["startTime"]).to_input(USER)
    context = LambdaContext("ReminderSender-bench")
    run("reminder to the topic, by e-mail and SMS (sender, 1 schedule)",
        lambda: reminder_sender.handler(request, context), sent)
    run("the same schedule again (sends nothing)", lambda: reminder_sender.handler(request, context))
    return rows


def booking_handler_loads(zip_package) -> list[str]:
    """Which of ``MESSAGE_ONLY`` importing the booking handler from the Lambda zip loads (none, on target)."""
    probe = (f"import json, sys, conflict_detector; print(json.dumps(sorted(({{m.split('.')[0] for m in sys.modules}}"
             f" | set(sys.modules)) & {set(MESSAGE_ONLY)!r})))")
    with tempfile.TemporaryDirectory() as task:
        zipfile.ZipFile(zip_package.path).extractall(task)
        env = {**os.environ, "PYTHONPATH": task, "PYTHONDONTWRITEBYTECODE": "1"}
        output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return json.loads(output.stdout)
