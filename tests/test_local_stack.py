"""End to end: `make run`'s local stack as a subprocess, driven over real HTTP on free ports."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import ROOT, free_port

pytestmark = pytest.mark.slow
ISO = "%Y-%m-%dT%H:%M:%SZ"


class LocalStack:
    def __init__(self, own_process_group: bool = False, **settings: str):
        self.port, self.moto_port = free_port(), free_port()
        env = {**os.environ, "PORT": str(self.port), "MOTO_PORT": str(self.moto_port), "WORKERS": "2", "TICK": "0.5",
               **settings}
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            env.pop(name, None)
        self.process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "run_local.py")], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        process_group=0 if own_process_group else None)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for("ready on", timeout=120)

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float) -> str:
        return self.wait_for_lines(text, 1, timeout)[0]

    def wait_for_lines(self, text: str, count: int, timeout: float) -> list[str]:
        """The first `count` printed lines holding `text`, once that many have been printed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in list(self.lines) if text in line]
            if len(found) >= count:
                return found[:count]
            if self.process.poll() is not None:
                raise AssertionError(f"local stack exited early:\n{''.join(self.lines)}")
            time.sleep(0.2)
        raise AssertionError(f"'{text}' did not appear {count} times within {timeout}s:\n{''.join(self.lines)}")

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (our loopback URL)
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def descendants(self) -> set[int]:
        children, frontier = set(), {self.process.pid}
        while frontier:
            parent = frontier.pop()
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    fields = stat.read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == parent:
                    pid = int(stat.parent.name)
                    children.add(pid)
                    frontier.add(pid)
        return children


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return f"pid {pid}"


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime(ISO)


DESK = "https://desk.example.com"


def cors_exchange(port: int, method: str, path: str, origin: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (our loopback URL)
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def test_the_local_stack_books_reminds_cancels_and_shuts_down_cleanly():
    stack = LocalStack(ALLOWED_ORIGINS=DESK)
    try:
        # ALLOWED_ORIGINS as the AllowedOrigins parameter: preflights for that origin, none for others
        status, headers = cors_exchange(stack.port, "OPTIONS", "/appointments", DESK)
        assert (status, headers.get("Access-Control-Allow-Origin")) == (204, DESK)
        assert "POST" in headers["Access-Control-Allow-Methods"].split(",")
        assert "Access-Control-Allow-Origin" not in cors_exchange(stack.port, "OPTIONS", "/appointments",
                                                                  "https://other.example")[1]
        status, headers = cors_exchange(stack.port, "GET", "/appointments?userId=e2e", DESK)
        assert (status, headers.get("Access-Control-Allow-Origin")) == (200, DESK)

        near = {"userId": "e2e", "startTime": at(65), "endTime": at(600), "reminders": [1],
                "details": {"location": "Room 4"}}
        status, booked = stack.request("POST", "/appointments", near)
        assert status == 201, booked

        status, clash = stack.request("POST", "/appointments", {**near, "reminders": []})
        assert (status, clash["error"]) == (409, "Conflict")
        assert clash["conflicts"][0]["appointmentId"] == booked["appointmentId"]

        status, doomed = stack.request("POST", "/appointments", {**near, "userId": "e2e-cancel", "startTime": at(66)})
        assert status == 201
        status, cancelled = stack.request("DELETE", f"/appointments/{doomed['appointmentId']}")
        assert (status, cancelled["status"]) == (200, "cancelled")

        later = {"userId": "e2e", "startTime": at(86400), "endTime": at(86400 + 1800)}
        status, second = stack.request("POST", "/appointments", later)
        assert status == 201
        status, moved = stack.request("PATCH", f"/appointments/{second['appointmentId']}",
                                      {"startTime": at(2 * 86400), "endTime": at(2 * 86400 + 1800)})
        assert (status, moved["version"]) == (200, 2)

        status, listed = stack.request("GET", "/appointments?userId=e2e")
        assert status == 200
        assert [a["appointmentId"] for a in listed["appointments"]] == [booked["appointmentId"],
                                                                      second["appointmentId"]]

        status, unknown = stack.request("GET", "/nowhere")
        assert (status, unknown["error"], unknown["message"]) == (403, "MissingAuthenticationToken",
                                                                  "Missing Authentication Token")

        for event in (f"AppointmentBooked {booked['appointmentId']}:1",
                      f"AppointmentCancelled {doomed['appointmentId']}:2",
                      f"AppointmentRescheduled {second['appointmentId']}:2"):
            assert stack.wait_for(f"EVENT {event}", timeout=30)
        reminder = stack.wait_for(f"REMINDER for e2e ({booked['appointmentId']})", timeout=60)
        assert reminder
        assert any("Appointment Reminder - 1 Minute" in line for line in stack.lines)
        # The cancelled appointment's reminder was due a second later; give the loops a few ticks.
        time.sleep(3)
        assert not any(doomed["appointmentId"] in line and "REMINDER" in line for line in stack.lines)
        # All four functions ran and emitted metrics; local mode keeps their EMF blobs off the terminal.
        assert not [line for line in stack.lines if '"_aws"' in line]
    finally:
        stop_and_check_nothing_is_left(stack, signal.SIGTERM)


def test_after_a_race_for_one_provider_every_booking_and_only_bookings_get_events_and_reminders():
    """8 customers race for one provider at once: 1 wins and 7 get 409, through cancelled transactions.
    The winner gets exactly one event, no loser gets any, and the stream keeps flowing afterwards."""
    racers = 8
    stack = LocalStack(WORKERS=str(racers), MOTO_LATENCY_MS="50")  # the latency makes the 8 overlap
    try:
        for _ in range(racers):  # each instance builds its clients once; warm, the 8 bookings really overlap
            assert stack.request("GET", "/appointments?userId=nobody")[0] == 200
        barrier = threading.Barrier(racers, timeout=30)
        start, end = at(7200), at(7200 + 1800)
        answers: list[tuple[int, dict]] = []

        def book(customer: int) -> None:
            body = {"userId": f"racer-{customer}", "participants": ["dr-race"], "startTime": start, "endTime": end}
            barrier.wait()
            answers.append(stack.request("POST", "/appointments", body))

        threads = [threading.Thread(target=book, args=(n,)) for n in range(racers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(status for status, _ in answers) == [201] + [409] * (racers - 1), answers
        [winner] = [body["appointmentId"] for status, body in answers if status == 201]

        status, after = stack.request("POST", "/appointments", {"userId": "after-race", "startTime": at(65),
                                                               "endTime": at(600), "reminders": [1]})
        assert status == 201, after
        stack.wait_for(f"EVENT AppointmentBooked {after['appointmentId']}:1", timeout=30)
        stack.wait_for(f"REMINDER for after-race ({after['appointmentId']})", timeout=60)
        events = [line for line in stack.lines if "EVENT " in line]
        booked = re.findall(r"EVENT AppointmentBooked ([^:\s]+):1", "".join(events))
        assert sorted(booked) == sorted([winner, after["appointmentId"]]), events
        assert len(events) == 2, events
    finally:
        stop_and_check_nothing_is_left(stack, signal.SIGTERM)


def stop_and_check_nothing_is_left(stack: LocalStack, signum: int, within: float = 30) -> float:
    """Send ``signum``; the stack must exit 0 within ``within`` seconds, leaving no port or process."""
    children = {pid: command_line(pid) for pid in stack.descendants()}
    started = time.monotonic()
    stack.process.send_signal(signum)
    assert stack.process.wait(timeout=within) == 0, "".join(stack.lines[-20:])
    elapsed = time.monotonic() - started
    assert not listening(stack.port)
    assert not listening(stack.moto_port)
    assert children
    deadline = time.monotonic() + 10  # helpers such as multiprocessing's tracker exit once they notice
    while (alive := [children[pid] for pid in children if Path(f"/proc/{pid}").exists()]) and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive, f"orphaned processes: {alive}"
    return elapsed


def wait_until_dead(pid: int, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return
        except OSError:
            return
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} is still running")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def process_ids(stack: LocalStack) -> dict[str, list[int]]:
    line = stack.wait_for("Processes:", timeout=5)
    found = re.search(r"moto server pid (\d+), function instances pid ([\d, ]+), stream process pid (\d+)", line)
    return {"moto": [int(found.group(1))], "functions": [int(p) for p in found.group(2).split(",")],
            "streams": [int(found.group(3))]}


def test_killed_children_are_replaced_reminders_keep_coming_and_sigint_stops_everything_in_10_seconds():
    stack = LocalStack()
    try:
        pids = process_ids(stack)
        os.kill(pids["streams"][0], signal.SIGKILL)
        stack.wait_for("the stream process exited (exit code -9); started it again", timeout=10)
        os.kill(pids["functions"][0], signal.SIGKILL)
        wait_until_dead(pids["functions"][0])  # an instance killed during a request costs that request a 502
        for _ in range(2 * len(pids["functions"])):  # every instance is used at least once
            status, _ = stack.request("GET", "/appointments?userId=nobody")
            assert status == 200
        stack.wait_for(f"function instance {pids['functions'][0]} had died (exit code -9)", timeout=5)

        status, booked = stack.request("POST", "/appointments", {"userId": "survivor", "startTime": at(70),
                                                                 "endTime": at(600), "reminders": [1]})
        assert status == 201, booked
        stack.wait_for(f"REMINDER for survivor ({booked['appointmentId']})", timeout=90)
    finally:
        elapsed = stop_and_check_nothing_is_left(stack, signal.SIGINT, within=10)
    assert elapsed < 10


def test_ctrl_c_lets_requests_in_flight_finish_or_answers_503_and_stops_moto_last():
    """As a terminal's Ctrl-C does, SIGINT goes to every process of the stack at once."""
    stack = LocalStack(own_process_group=True, MOTO_LATENCY_MS="400")  # a booking takes about a second
    statuses: list[int] = []
    try:
        pids = process_ids(stack)
        for _ in range(2):
            assert stack.request("GET", "/appointments?userId=nobody")[0] == 200

        def book(n: int) -> None:
            try:
                statuses.append(stack.request("POST", "/appointments", {
                    "userId": f"late-{n}", "startTime": at(7200), "endTime": at(9000)})[0])
            except OSError as error:  # no answer at all
                statuses.append(type(error).__name__)

        threads = [threading.Thread(target=book, args=(n,)) for n in range(6)]  # 2 served, 4 waiting
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        stopping = len(stack.lines)
        os.killpg(stack.process.pid, signal.SIGINT)
        gone: dict[str, float] = {}
        deadline = time.monotonic() + 20
        while len(gone) < 2 and time.monotonic() < deadline:
            for name in ("moto", "streams"):
                if name not in gone and not alive(pids[name][0]):
                    gone[name] = time.monotonic()
            time.sleep(0.02)
        for thread in threads:
            thread.join(timeout=30)
        assert stack.process.wait(timeout=20) == 0
    finally:
        if stack.process.poll() is None:
            os.killpg(stack.process.pid, signal.SIGKILL)
    output = "".join(stack.lines[stopping:])
    assert len(statuses) == 6
    assert set(statuses) <= {201, 503}, (statuses, output)
    assert 201 in statuses, statuses  # the two being served finish
    assert gone["streams"] <= gone["moto"], output
    assert "started pid" not in output, output  # no function instance was started during the stop
    assert "Error" not in output, output


def json_documents(text: str) -> list[dict]:
    decoder, documents, position = json.JSONDecoder(), [], 0
    while (position := text.find("{", position)) >= 0:
        document, position = decoder.raw_decode(text, position)
        documents.append(document)
    return documents


def test_the_readme_walkthrough_runs_as_written_against_the_local_stack():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### A walkthrough with `make run`", 1)[1].split("\n## ", 1)[0]
    parts = [part.split("```", 1) for part in section.split("```sh\n")[1:]]
    assert len(parts) == 2  # steps 1-5, then, once the reminder has come, the cancel
    assert "Wait for the `REMINDER` line" in parts[0][1]  # said between the two blocks
    walkthrough = "".join(block for block, _ in parts)
    assert walkthrough.startswith("API=http://127.0.0.1:3000\n")
    stack = LocalStack()
    try:
        script = walkthrough.replace("API=http://127.0.0.1:3000", f"API=http://127.0.0.1:{stack.port}", 1)
        result = subprocess.run(["bash", "-euc", script], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        outputs = json_documents(result.stdout)
        assert result.stdout.endswith("}\n")  # a body ends with a newline, so no output runs into the next
        contact, booked, clash, changed, listed, cancelled = outputs
        assert (contact["channels"], contact["version"]) == (["email", "sms"], 1)
        assert booked["status"] == "scheduled"
        assert clash["error"] == "Conflict"
        assert clash["conflicts"][0]["appointmentId"] == booked["appointmentId"]
        assert f"UID:{booked['appointmentId']}@appointments\n" in result.stdout  # the calendar file (CRLF read as \n)
        assert 'ETag: "2"' in result.stdout
        assert (changed["version"], changed["details"]) == (2, {"location": "Room 5"})
        assert [a["appointmentId"] for a in listed["appointments"]] == [booked["appointmentId"]]
        assert (cancelled["appointmentId"], cancelled["status"]) == (booked["appointmentId"], "cancelled")
        # The contact's confirmation and cancellation, by e-mail and SMS, in German, printed as sent.
        # Each channel's messages are sent apart, so wait for both of each.
        confirmed, cancelled_mail = stack.wait_for_lines("EMAIL to alice@example.com: Example Clinic: Termin am", 2,
                                                         timeout=30)
        assert "bestätigt" in confirmed
        assert "abgesagt" in cancelled_mail
        stack.wait_for_lines("SMS to +4915112345678", 2, timeout=30)
    finally:
        stop_and_check_nothing_is_left(stack, signal.SIGINT, within=10)


def test_a_taken_port_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, str(ROOT / "scripts" / "run_local.py")], capture_output=True,
                                text=True, timeout=60, env={**os.environ, "PORT": str(port)})
    assert result.returncode == 1
    assert f"port {port} is taken" in result.stderr
