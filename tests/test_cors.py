"""Browsers (API.md, "Browsers (CORS)"): the AllowedOrigins parameter, preflights, and CORS headers.

Off by default: no route answers OPTIONS and no answer carries a CORS header. With origins, every
resource answers preflights without authorization (a MOCK integration), the function adds the
headers for an allowed Origin only, and API Gateway's own errors come in the API's error shape.
"""

from __future__ import annotations

import pytest
from werkzeug.test import Client

import conflict_detector
from appointments.representations import EXPOSED_HEADERS
from appointments.settings import ApiSettings
from conftest import TEMPLATE, booking
from gateway import wsgi_app
from lambdas import invoke_api
from proxy_events import ALLOWED_HEADERS, routes_from_template
from proxy_events import EXPOSED_HEADERS as TEMPLATE_EXPOSED

RESOURCES = TEMPLATE["Resources"]
METHODS = {n: r["Properties"] for n, r in RESOURCES.items() if r["Type"] == "AWS::ApiGateway::Method"}
PREFLIGHTS = {p["ResourceId"]["Ref"]: (n, p) for n, p in METHODS.items() if p["HttpMethod"] == "OPTIONS"}
DESK, OTHER = "https://desk.example.com", "https://evil.example.net"
API_MD_REQUEST_HEADERS = {"Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key",
                          "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256"}


# -- the template ----------------------------------------------------------------------------------------

def test_every_resource_with_methods_has_a_preflight_that_only_exists_with_origins():
    with_methods = {p["ResourceId"]["Ref"] for p in METHODS.values() if p["HttpMethod"] != "OPTIONS"}
    assert set(PREFLIGHTS) == with_methods
    for resource, (name, method) in PREFLIGHTS.items():
        assert RESOURCES[name]["Condition"] == "HasAllowedOrigins"
        assert (method["AuthorizationType"], method["Integration"]["Type"]) == ("NONE", "MOCK")
        script = method["Integration"]["IntegrationResponses"][0]["ResponseTemplates"]["application/json"]["Fn::Sub"]
        own = sorted(p["HttpMethod"] for p in METHODS.values() if p["ResourceId"]["Ref"] == resource)
        allowed = script.split('Access-Control-Allow-Methods = "')[1].split('"')[0].split(",")
        assert sorted(allowed) == own, resource
        assert '",${AllowedOrigins},".contains(",$origin,")' in script  # the header only for a listed origin


def test_preflights_allow_the_request_headers_api_md_lists_and_expose_what_the_function_exposes():
    assert set(ALLOWED_HEADERS.split(",")) == API_MD_REQUEST_HEADERS
    assert TEMPLATE_EXPOSED.split(",") == list(EXPOSED_HEADERS)
    assert set(EXPOSED_HEADERS) == {"ETag", "Location", "Link", "Retry-After", "Idempotent-Replayed"}


def test_the_deployment_snapshots_the_preflights_when_they_exist():
    description = RESOURCES["ApiDeployment"]["Properties"]["Description"]["Fn::If"]
    assert description[0] == "HasAllowedOrigins"
    assert {r["Ref"] for r in description[1]["Fn::Join"][1][1:]} == {n for n, _ in PREFLIGHTS.values()}


API_MD_GATEWAY_CODES = {"MissingAuthenticationToken", "Unauthorized", "AccessDenied", "RequestTooLarge", "Throttled",
                        "BadGateway", "GatewayTimeout"}


def test_gateway_responses_answer_in_the_api_error_shape_with_cors_headers_when_on():
    responses = {r["Properties"]["ResponseType"]: r["Properties"] for r in RESOURCES.values()
                 if r["Type"] == "AWS::ApiGateway::GatewayResponse"}
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "MISSING_AUTHENTICATION_TOKEN", "UNAUTHORIZED", "ACCESS_DENIED",
            "REQUEST_TOO_LARGE", "THROTTLED", "INTEGRATION_TIMEOUT"} <= set(responses)
    codes = set()
    for kind, response in responses.items():
        body = response["ResponseTemplates"]["application/json"]
        assert '"message": $context.error.messageString' in body, kind
        codes.add(body.split('"error": "')[1].split('"')[0])
        on, headers, off = response["ResponseParameters"]["Fn::If"]
        assert (on, off) == ("HasAllowedOrigins", {"Ref": "AWS::NoValue"})
        assert set(headers) == {"gatewayresponse.header.Access-Control-Allow-Origin",
                                "gatewayresponse.header.Access-Control-Expose-Headers", "gatewayresponse.header.Vary"}
    assert codes >= API_MD_GATEWAY_CODES


def test_the_function_is_told_the_origins_only_when_there_are_some():
    variables = RESOURCES["ConflictDetectorFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["ALLOWED_ORIGINS"] == {"Fn::If": ["HasAllowedOrigins", {"Ref": "AllowedOrigins"},
                                                       {"Ref": "AWS::NoValue"}]}
    assert ApiSettings.from_environment({"TABLE_NAME": "t", "CALENDAR_TABLE_NAME": "c",
                                         "SIGNING_KEY_ARN": "s"}).origins == ()
    settings = ApiSettings.from_environment({"TABLE_NAME": "t", "CALENDAR_TABLE_NAME": "c", "SIGNING_KEY_ARN": "s",
                                             "ALLOWED_ORIGINS": f"{DESK},https://b.example,{DESK}"})
    assert settings.origins == (DESK, "https://b.example")


@pytest.mark.parametrize(("value", "valid"), [("", True), (DESK, True), (f"{DESK},http://127.0.0.1:8080", True),
                                               ("*", False), (f"{DESK}, https://b.example", False),
                                               (f"{DESK}/", False), ("desk.example.com", False), (",", False),
                                               ("https://a.example'", False)])
def test_the_parameter_takes_a_list_of_origins_and_nothing_else(value, valid):
    import re

    pattern = TEMPLATE["Parameters"]["AllowedOrigins"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) == valid


# -- the function ----------------------------------------------------------------------------------------

@pytest.fixture
def browser_api(api, services):
    conflict_detector.use(services, [DESK])
    return api


def test_an_allowed_origin_gets_its_cors_headers_on_every_answer(browser_api):
    created = browser_api.post(body=booking(), headers={"Origin": DESK})
    assert created.headers["Access-Control-Allow-Origin"] == DESK
    assert created.headers["Access-Control-Expose-Headers"].split(",") == list(EXPOSED_HEADERS)
    assert created.headers["Vary"] == "Origin"
    refused = browser_api.post(body=booking(), headers={"Origin": DESK})
    assert (refused.status, refused.headers["Access-Control-Allow-Origin"]) == (409, DESK)
    negotiated = browser_api.get(f"/appointments/{created.body['appointmentId']}", headers={"Origin": DESK})
    assert negotiated.headers["Vary"] == "Accept, Origin"


@pytest.mark.parametrize("origin", [OTHER, "null", DESK + ":443", DESK.upper()])
def test_an_origin_not_in_the_list_gets_no_cors_header(browser_api, origin):
    response = browser_api.post(body=booking(), headers={"Origin": origin})
    assert response.status == 201
    assert not {h for h in response.headers if h.lower().startswith("access-control-")}
    assert "Vary" not in response.headers


def test_without_origins_no_answer_carries_a_cors_header(api):
    response = api.post(body=booking(), headers={"Origin": DESK})
    assert not {h for h in response.headers if h.lower().startswith("access-control-")}


# -- the local gateway, as make run serves it ---------------------------------------------------------------

def gateway(origins=()):
    routes = routes_from_template(TEMPLATE, {"HasAllowedOrigins": bool(origins)})
    return Client(wsgi_app(routes, lambda event: invoke_api(event), origins=origins))


def test_with_origins_every_resource_answers_a_preflight_without_authorization(browser_api):
    client = gateway((DESK,))
    for path, methods in [("/appointments", "POST,GET,OPTIONS"), ("/appointments/x", "GET,PATCH,DELETE,OPTIONS"),
                          ("/calendars/dr-smith/availability", "PUT,GET,DELETE,OPTIONS")]:
        answer = client.options(path, headers={"Origin": DESK, "Access-Control-Request-Method": "PUT"})
        assert answer.status_code == 204
        assert answer.headers["Access-Control-Allow-Origin"] == DESK
        assert answer.headers["Access-Control-Allow-Methods"] == methods
        assert set(answer.headers["Access-Control-Allow-Headers"].split(",")) == API_MD_REQUEST_HEADERS
    stranger = client.options("/appointments", headers={"Origin": OTHER})
    assert stranger.status_code == 204
    assert "Access-Control-Allow-Origin" not in stranger.headers


def test_without_origins_options_is_no_route_and_nothing_carries_cors(api):
    client = gateway()
    answer = client.options("/appointments", headers={"Origin": DESK})
    assert (answer.status_code, answer.json["error"]) == (403, "MissingAuthenticationToken")
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_the_gateways_own_errors_come_in_the_api_shape_with_the_first_origin(api, services):
    conflict_detector.use(services, [DESK, "https://b.example"])
    client = gateway((DESK, "https://b.example"))
    unknown = client.get("/nowhere", headers={"Origin": DESK})
    assert unknown.status_code == 403
    assert set(unknown.json) == {"error", "message", "requestId"}
    assert (unknown.json["error"], unknown.json["message"]) == ("MissingAuthenticationToken",
                                                                "Missing Authentication Token")
    assert unknown.headers["Access-Control-Allow-Origin"] == DESK
    too_large = client.post("/appointments", data=b"x" * (10 * 1024 * 1024 + 1))
    assert (too_large.status_code, too_large.json["error"]) == (413, "RequestTooLarge")
    routed = client.post("/appointments", json=booking(), headers={"Origin": "https://b.example"})
    assert (routed.status_code, routed.headers["Access-Control-Allow-Origin"]) == (201, "https://b.example")
