"""A local stand-in for API Gateway's REST front door: request in, proxy event to the function, response out.

``dispatch`` is the routing behaviour; ``wsgi_app`` adds the HTTP framing (body length, chunked
bodies, the raw path) and ``serve`` runs it on werkzeug's threaded server for ``make run``. The same
WSGI app serves in-process tools (the schemathesis fuzz test).
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wsgi import get_input_stream

from proxy_events import Route, find_route, proxy_event

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
LOGGED_TARGET = 120  # characters of a request target that the access log shows
# A proxy event in, the function's result out; {"crash": ...} if it died, {"unavailable": ...} if the
# stack is stopping and no function will take the request.
Invoke = Callable[[dict], dict]


@dataclass
class GatewayResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def gateway_error(status: int, message: str) -> GatewayResponse:
    """API Gateway's own answer, before any function runs."""
    return GatewayResponse(status, {"Content-Type": "application/json", "x-amzn-ErrorType": "GatewayError"},
                           json.dumps({"message": message}).encode() + b"\n")  # ends with a line, as the API's do


def dispatch(routes: list[Route], invoke: Invoke, method: str, path: str, query: str, headers: dict[str, str],
             body: bytes | None, source_ip: str = "127.0.0.1") -> GatewayResponse:
    if body and len(body) > MAX_BODY:
        return gateway_error(413, "Request Too Long")
    found = find_route(routes, method, path)
    if found is None:  # a REST API answers unknown paths and unknown methods alike, before any Lambda runs
        return gateway_error(403, "Missing Authentication Token")
    route, params = found
    event = proxy_event(route, path, params, query=query, body=body, headers=headers, source_ip=source_ip)
    result = invoke(event)
    if "unavailable" in result:
        return gateway_error(503, "Service Unavailable")
    if "crash" in result or "statusCode" not in result:
        return gateway_error(502, "Internal server error")
    response_headers = {k: v[-1] for k, v in (result.get("multiValueHeaders") or {}).items()}
    response_headers.update(result.get("headers") or {})
    payload = result.get("body") or ""
    data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
    return GatewayResponse(int(result["statusCode"]), response_headers, data)


def raw_path(environ: dict) -> str:
    """The path as the client sent it, percent-decoded. PATH_INFO is not that: a server reads
    ``//appointments`` as a host name plus ``/appointments``, where API Gateway matches no route."""
    uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not uri:
        return environ.get("PATH_INFO") or "/"
    path = uri.encode("latin-1").decode("utf-8", "replace").split("?", 1)[0]  # undo WSGI's latin-1 transport
    if "://" in path:  # an absolute-form request target
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    return unquote(path)


def read_request(environ: dict) -> bytes | GatewayResponse:
    """The body, whatever its framing; or API Gateway's answer to a body it would not take."""
    declared = environ.get("CONTENT_LENGTH") or ""
    if declared and not (declared.isascii() and declared.isdigit()):
        return gateway_error(400, "Bad Request")
    too_long = gateway_error(413, "Request Too Long")
    if declared and int(declared) > MAX_BODY:  # refused without reading, as API Gateway does
        return too_long
    try:  # a chunked body declares no length: read one byte past the limit to know it is over
        body = get_input_stream(environ, max_content_length=MAX_BODY + 1).read()
    except RequestEntityTooLarge:
        return too_long
    return too_long if len(body) > MAX_BODY else body


def loggable(target: str) -> str:
    """A request target for the access log: one terminal line, however long the query."""
    return target if len(target) <= LOGGED_TARGET else f"{target[:LOGGED_TARGET - 1]}…"


def wsgi_app(routes: list[Route], invoke: Invoke, log: Callable[[str], None] | None = None):
    def app(environ, start_response):
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").title()] = environ[key]
        method, path = environ["REQUEST_METHOD"], raw_path(environ)
        body = read_request(environ)
        response = body if isinstance(body, GatewayResponse) else dispatch(
            routes, invoke, method, path, environ.get("QUERY_STRING", ""), headers, body or None,
            environ.get("REMOTE_ADDR", "127.0.0.1"))
        start_response(f"{response.status} {HTTPStatus(response.status).phrase}",
                       [*response.headers.items(), ("Content-Length", str(len(response.body)))])
        if log:
            log(f"{method} {loggable(environ.get('RAW_URI') or path)} -> {response.status}")
        return [response.body]

    return app


class GatewayRequestHandler(WSGIRequestHandler):
    """werkzeug's handler (which closes every connection after its response, so an unread body never
    becomes the next request), with the request target as sent and no line of its own per request."""

    def make_environ(self):
        environ = super().make_environ()
        # http.server rewrites a path that starts with // before anyone sees it; the request line has it.
        environ["RAW_URI"] = environ["REQUEST_URI"] = self.requestline.split(" ")[1]
        return environ

    def log_request(self, *args) -> None:
        pass


def serve(app, port: int, host: str = "127.0.0.1") -> BaseWSGIServer:
    """A threaded werkzeug server for ``app`` on loopback; the caller runs ``serve_forever`` and ``shutdown``."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    return make_server(host, port, app, threaded=True, request_handler=GatewayRequestHandler)  # backlog 128
