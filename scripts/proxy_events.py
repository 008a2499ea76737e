"""API Gateway REST proxy events, built from template.json's own routes.

Used by the local gateway (``make run``) and by the tests, so both hand the real handler the event
shape API Gateway sends: resource and path, path and query parameters (single and multi-value),
headers, ``requestContext`` with a request ID and stage, and a Lambda context object.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote

TEMPLATE = Path(__file__).resolve().parent.parent / "template.json"
STAGE = "prod"


@dataclass(frozen=True)
class Route:
    method: str
    resource: str  # e.g. /appointments/{appointmentId}
    authorization: str
    integration: str = "AWS_PROXY"  # or MOCK: API Gateway answers itself (CORS preflights)

    def match(self, path: str) -> dict[str, str] | None:
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.resource))
        found = re.fullmatch(pattern, path)
        return found.groupdict() if found else None


def routes_from_template(template: dict | None = None, conditions: Mapping[str, bool] | None = None) -> list[Route]:
    """Every AWS::ApiGateway::Method of the template, with its full resource path; a method with a
    ``Condition`` only when ``conditions`` says that condition holds (CORS preflights: HasAllowedOrigins)."""
    template = template or json.loads(TEMPLATE.read_text())
    resources = template["Resources"]
    conditions = conditions or {}

    def path_of(reference: dict) -> str:
        if "Fn::GetAtt" in reference:  # the RestApi's root resource
            return ""
        resource = resources[reference["Ref"]]["Properties"]
        return f"{path_of(resource['ParentId'])}/{resource['PathPart']}"

    return [Route(p["HttpMethod"], path_of(p["ResourceId"]) or "/", p["AuthorizationType"], p["Integration"]["Type"])
            for r in resources.values() if r["Type"] == "AWS::ApiGateway::Method"
            and conditions.get(r.get("Condition"), "Condition" not in r)
            for p in [r["Properties"]]]


def _template(template: dict | None) -> dict:
    return template or json.loads(TEMPLATE.read_text())


def gateway_error_codes(template: dict | None = None) -> dict[str, str]:
    """The ``error`` code of each AWS::ApiGateway::GatewayResponse, by type (MISSING_AUTHENTICATION_TOKEN...)."""
    codes = {}
    for resource in _template(template)["Resources"].values():
        if resource["Type"] == "AWS::ApiGateway::GatewayResponse":
            body = resource["Properties"]["ResponseTemplates"]["application/json"]
            codes[resource["Properties"]["ResponseType"]] = re.search(r'"error": "(\w+)"', body).group(1)
    return codes


def cors_lists(template: dict | None = None) -> tuple[str, str]:
    """(the request headers the template's preflights allow, the response headers its gateway responses expose)."""
    resources = _template(template)["Resources"].values()
    preflight = next(r for r in resources if r["Type"] == "AWS::ApiGateway::Method"
                     and r["Properties"]["HttpMethod"] == "OPTIONS")
    script = preflight["Properties"]["Integration"]["IntegrationResponses"][0]["ResponseTemplates"]["application/json"]
    allowed = re.search(r'Access-Control-Allow-Headers = "([^"]+)"', script["Fn::Sub"]).group(1)
    exposed = next(r["Properties"]["ResponseParameters"]["Fn::If"][1]
                   for r in resources if r["Type"] == "AWS::ApiGateway::GatewayResponse")
    exposed = exposed["gatewayresponse.header.Access-Control-Expose-Headers"]
    return allowed, exposed.strip("'")


ALLOWED_HEADERS, EXPOSED_HEADERS = cors_lists()


def find_route(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route of a request and its path parameters. ``path`` is as the client sent it (percent-encoded,
    as API Gateway passes a REST API's ``path``); each parameter is decoded once, as in ``pathParameters``."""
    for route in routes:
        params = route.match(path)
        if route.method == method and params is not None:
            return route, {name: unquote(value) for name, value in params.items()}
    return None


def proxy_event(route: Route, path: str, path_params: dict[str, str], *, query: str = "",
                headers: dict[str, str] | None = None, body: bytes | str | None = None,
                claims: dict | None = None, request_id: str | None = None, source_ip: str = "127.0.0.1") -> dict:
    headers = dict(headers or {})
    multi_query = parse_qs(query, keep_blank_values=True)
    is_base64 = False
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            body, is_base64 = base64.b64encode(body).decode(), True
    now = time.time()
    request_id = request_id or str(uuid.uuid4())
    return {
        "resource": route.resource,
        "path": path,
        "httpMethod": route.method,
        "headers": headers or None,
        "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_params or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": route.resource,
            "httpMethod": route.method,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "path": f"/{STAGE}{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": STAGE,
            "domainPrefix": "local",
            "domainName": "127.0.0.1",
            "apiId": "local",
            "requestId": request_id,
            "extendedRequestId": request_id,
            "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent", ""), "caller": None,
                         "user": None, "userArn": None, "accountId": None, "accessKey": None},
            "authorizer": {"claims": claims} if claims else None,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


class LambdaContext:
    """The parts of the Lambda context object handlers and Powertools use."""

    def __init__(self, function_name: str, timeout_seconds: int = 30, memory_mb: int = 256):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
