"""The local API Gateway over real HTTP (werkzeug), with a recording function behind it.

Each case is a request a hand-rolled server got wrong: it hung, dropped the connection, read a
chunked body as empty, or served ``//appointments`` as ``/appointments``.
"""

from __future__ import annotations

import json
import re
import socket
import threading

import pytest
from werkzeug.test import Client

from conftest import TEMPLATE, free_port
from gateway import LOGGED_TARGET, MAX_BODY, dispatch, serve, wsgi_app
from proxy_events import routes_from_template

pytestmark = pytest.mark.slow  # every test here starts a subprocess or a server


class Recorder:
    def __init__(self):
        self.events: list[dict] = []

    def __call__(self, event: dict) -> dict:
        self.events.append(event)
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"path": event["path"], "body": event["body"]})}


@pytest.fixture(scope="module")
def gateway():
    recorder = Recorder()
    port = free_port()
    server = serve(wsgi_app(routes_from_template(TEMPLATE), recorder), port)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    yield port, recorder
    server.shutdown()
    server.server_close()


def exchange(port: int, request: bytes, timeout: float = 5) -> tuple[int, dict]:
    """Send raw bytes; return the status and JSON body of the response. A hang fails the test.

    Like a real client, it stops at the end of the response (its Content-Length), without waiting
    for the server to finish discarding a body it refused."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += connection.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        while len(body) < length:
            body += connection.recv(65536)
    answer = json.loads(body)
    if "requestId" in answer:  # each gateway error has its own
        assert answer.pop("requestId")
    return int(head.split()[1]), answer


def post(path: str, headers: str, body: bytes = b"") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: local\r\n{headers}\r\n".encode() + body


@pytest.mark.parametrize("length", ["9" * 5000, "0" * 30 + "10485761"])
def test_a_content_length_of_thousands_of_digits_is_413_at_once_not_a_500(gateway, length):
    port, recorder = gateway
    before = len(recorder.events)
    assert exchange(port, post("/appointments", f"Content-Length: {length}\r\n", b"{}")) == (
        413, {"error": "RequestTooLarge", "message": "Request Too Long"})
    assert len(recorder.events) == before


@pytest.mark.parametrize("length", ["-1", "abc", "1e3", "+5"])
def test_a_content_length_that_is_not_a_number_is_400_at_once(gateway, length):
    port, recorder = gateway
    before = len(recorder.events)
    assert exchange(port, post("/appointments", f"Content-Length: {length}\r\n", b"{}")) == (
        400, {"error": "BadRequest", "message": "Bad Request"})
    assert len(recorder.events) == before  # no function ran


def test_a_chunked_body_reaches_the_function_whole(gateway):
    port, _ = gateway
    chunks = b"5\r\n{\"a\":\r\n3\r\n 1}\r\n0\r\n\r\n"
    status, body = exchange(port, post("/appointments", "Transfer-Encoding: chunked\r\n", chunks))
    assert (status, body["body"]) == (200, '{"a": 1}')


def test_a_double_slash_path_matches_no_route(gateway):
    port, recorder = gateway
    before = len(recorder.events)
    request = b"GET //appointments?userId=alice HTTP/1.1\r\nHost: local\r\n\r\n"
    assert exchange(port, request) == (403, {"error": "MissingAuthenticationToken",
                                             "message": "Missing Authentication Token"})
    assert len(recorder.events) == before


def test_a_body_over_10_mb_is_413_without_being_read(gateway):
    port, recorder = gateway
    before = len(recorder.events)
    status, body = exchange(port, post("/appointments", f"Content-Length: {MAX_BODY + 1}\r\n"))
    assert (status, body) == (413, {"error": "RequestTooLarge", "message": "Request Too Long"})
    assert len(recorder.events) == before


def test_a_chunked_body_over_10_mb_is_413(gateway):
    port, _ = gateway
    piece = b"x" * (1024 * 1024)
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    request = post("/appointments", "Transfer-Encoding: chunked\r\n", chunk * 11 + b"0\r\n\r\n")
    assert exchange(port, request, timeout=30)[0] == 413


def test_the_path_stays_percent_encoded_and_path_parameters_are_decoded_once_as_api_gateway_does(gateway):
    port, recorder = gateway
    status, body = exchange(port, b"GET /appointments/a%20b%2540 HTTP/1.1\r\nHost: local\r\n\r\n")
    assert (status, body["path"]) == (200, "/appointments/a%20b%2540")
    assert recorder.events[-1]["pathParameters"] == {"appointmentId": "a b%40"}


def test_the_access_log_cuts_a_long_request_target_to_one_line():
    lines: list[str] = []
    client = Client(wsgi_app(routes_from_template(TEMPLATE), Recorder(), lines.append))
    client.get("/appointments?userId=alice&x=" + "y" * 500)
    client.get("/appointments?userId=bob")
    cut, short = lines
    assert cut.startswith("GET /appointments?userId=alice&x=yyy")
    assert cut.endswith("… -> 200")
    assert len(cut) == len("GET  -> 200") + LOGGED_TARGET
    assert short == "GET /appointments?userId=bob -> 200"


def test_the_gateway_answers_503_while_the_stack_stops_and_its_own_bodies_end_with_a_newline():
    routes = routes_from_template(TEMPLATE)
    stopping = dispatch(routes, lambda event: {"unavailable": "stopping"}, "GET", "/appointments", "userId=a", {},
                        None)
    assert stopping.status == 503
    assert stopping.body.endswith(b"}\n")
    assert (json.loads(stopping.body)["error"], json.loads(stopping.body)["message"]) == ("ServiceUnavailable",
                                                                                        "Service Unavailable")
    unknown = dispatch(routes, Recorder(), "GET", "/nowhere", "", {}, None)
    assert unknown.body.endswith(b"}\n")
