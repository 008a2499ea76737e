"""A local stand-in for API Gateway's REST front door: request in, proxy event to the function, response out.

``dispatch`` is the routing behaviour; ``wsgi_app`` adds the HTTP framing (body length, chunked
bodies, the raw path) and ``serve`` runs it on werkzeug's threaded server for ``make run``. The same
WSGI app serves in-process tools (the schemathesis fuzz test).
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wsgi import get_input_stream

from proxy_events import ALLOWED_HEADERS, EXPOSED_HEADERS, Route, find_route, gateway_error_codes, proxy_event

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


GATEWAY_ERRORS = gateway_error_codes()  # the error codes of the template's gateway responses, by type


def gateway_error(status: int, kind: str, message: str, origins: Sequence[str] = (), code: str = "") -> GatewayResponse:
    """API Gateway's own answer, before any function runs, as the template's gateway response of that
    type shapes it: the API's error body, and with CORS on, the first allowed origin (a gateway response
    can only name a fixed one). ``code`` names an answer only the local stack gives."""
    code = code or GATEWAY_ERRORS.get(kind) or GATEWAY_ERRORS["DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX"]
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": "GatewayError"}
    if origins:
        headers |= {"Access-Control-Allow-Origin": origins[0], "Access-Control-Expose-Headers": EXPOSED_HEADERS,
                    "Vary": "Origin"}
    body = {"error": code, "message": message, "requestId": str(uuid.uuid4())}
    return GatewayResponse(status, headers, json.dumps(body).encode() + b"\n")  # ends with a line, as the API's do


def preflight(routes: list[Route], route: Route, headers: dict[str, str], origins: Sequence[str]) -> GatewayResponse:
    """What the template's MOCK OPTIONS method answers: 204, with the CORS headers only for an allowed origin."""
    origin = next((v for k, v in headers.items() if k.lower() == "origin"), "")
    if origin not in origins:
        return GatewayResponse(204, {}, b"")
    methods = ",".join([*(r.method for r in routes if r.resource == route.resource and r.method != "OPTIONS"),
                        "OPTIONS"])
    return GatewayResponse(204, {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": methods,
                                 "Access-Control-Allow-Headers": ALLOWED_HEADERS, "Access-Control-Max-Age": "600",
                                 "Vary": "Origin"}, b"")


def dispatch(routes: list[Route], invoke: Invoke, method: str, path: str, query: str, headers: dict[str, str],
             body: bytes | None, source_ip: str = "127.0.0.1", origins: Sequence[str] = ()) -> GatewayResponse:
    if body and len(body) > MAX_BODY:
        return gateway_error(413, "REQUEST_TOO_LARGE", "Request Too Long", origins)
    found = find_route(routes, method, path)
    if found is None:  # a REST API answers unknown paths and unknown methods alike, before any Lambda runs
        return gateway_error(403, "MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token", origins)
    route, params = found
    if route.integration == "MOCK":
        return preflight(routes, route, headers, origins)
    event = proxy_event(route, path, params, query=query, body=body, headers=headers, source_ip=source_ip)
    result = invoke(event)
    if "unavailable" in result:
        return gateway_error(503, "DEFAULT_5XX", "Service Unavailable", origins, code="ServiceUnavailable")
    if "crash" in result or "statusCode" not in result:
        return gateway_error(502, "DEFAULT_5XX", "Internal server error", origins)
    response_headers = {k: v[-1] for k, v in (result.get("multiValueHeaders") or {}).items()}
    response_headers.update(result.get("headers") or {})
    payload = result.get("body") or ""
    data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
    return GatewayResponse(int(result["statusCode"]), response_headers, data)


def raw_path(environ: dict) -> str:
    """The path as the client sent it, still percent-encoded, as API Gateway passes a REST API's ``path``.
    PATH_INFO is not that: it is decoded, and a server reads ``//appointments`` as a host name plus
    ``/appointments``, where API Gateway matches no route."""
    uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not uri:
        return environ.get("PATH_INFO") or "/"
    path = uri.encode("latin-1").decode("utf-8", "replace").split("?", 1)[0]  # undo WSGI's latin-1 transport
    if "://" in path:  # an absolute-form request target
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    return path


def read_request(environ: dict, origins: Sequence[str] = ()) -> bytes | GatewayResponse:
    """The body, whatever its framing; or API Gateway's answer to a body it would not take."""
    declared = environ.get("CONTENT_LENGTH") or ""
    if declared and not (declared.isascii() and declared.isdigit()):
        return gateway_error(400, "DEFAULT_4XX", "Bad Request", origins)
    too_long = gateway_error(413, "REQUEST_TOO_LARGE", "Request Too Long", origins)
    digits = declared.lstrip("0")
    if len(digits) > len(str(MAX_BODY)) or (digits and int(digits) > MAX_BODY):  # refused unread, as API Gateway does
        return too_long
    try:  # a chunked body declares no length: read one byte past the limit to know it is over
        body = get_input_stream(environ, max_content_length=MAX_BODY + 1).read()
    except RequestEntityTooLarge:
        return too_long
    return too_long if len(body) > MAX_BODY else body


def loggable(target: str) -> str:
    """A request target for the access log: one terminal line, however long the query."""
    return target if len(target) <= LOGGED_TARGET else f"{target[:LOGGED_TARGET - 1]}…"


def wsgi_app(routes: list[Route], invoke: Invoke, log: Callable[[str], None] | None = None,
             origins: Sequence[str] = ()):
    """The gateway as a WSGI app; ``origins`` are the CORS origins (the AllowedOrigins parameter), whose
    preflight routes ``routes`` should then hold (``routes_from_template(conditions=...)``)."""
    def app(environ, start_response):
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").title()] = environ[key]
        method, path = environ["REQUEST_METHOD"], raw_path(environ)
        body = read_request(environ, origins)
        response = body if isinstance(body, GatewayResponse) else dispatch(
            routes, invoke, method, path, environ.get("QUERY_STRING", ""), headers, body or None,
            environ.get("REMOTE_ADDR", "127.0.0.1"), origins)
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
