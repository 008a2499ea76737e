"""A local stand-in for API Gateway's REST front door: request in, proxy event to the function, response out.

``dispatch`` is the whole behaviour; ``run_local.py`` serves it over HTTP and ``wsgi_app`` wraps it
for in-process tools (the schemathesis fuzz test).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

from proxy_events import Route, find_route, proxy_event

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
Invoke = Callable[[dict], dict]  # a proxy event in, the function's result out; {"crash": ...} if it died


@dataclass
class GatewayResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def gateway_error(status: int, message: str) -> GatewayResponse:
    return GatewayResponse(status, {"Content-Type": "application/json", "x-amzn-ErrorType": "GatewayError"},
                           json.dumps({"message": message}).encode())


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
    if "crash" in result or "statusCode" not in result:
        return gateway_error(502, "Internal server error")
    response_headers = {k: v[-1] for k, v in (result.get("multiValueHeaders") or {}).items()}
    response_headers.update(result.get("headers") or {})
    payload = result.get("body") or ""
    data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
    return GatewayResponse(int(result["statusCode"]), response_headers, data)


def wsgi_app(routes: list[Route], invoke: Invoke):
    def app(environ, start_response):
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").title()] = environ[key]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else None
        response = dispatch(routes, invoke, environ["REQUEST_METHOD"], environ.get("PATH_INFO") or "/",
                            environ.get("QUERY_STRING", ""), headers, body, environ.get("REMOTE_ADDR", "127.0.0.1"))
        start_response(f"{response.status} {HTTPStatus(response.status).phrase}",
                       [*response.headers.items(), ("Content-Length", str(len(response.body)))])
        return [response.body]

    return app
