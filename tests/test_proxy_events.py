"""The event builder that the tests and the local gateway share, against a recorded API Gateway event."""

import json

from conftest import ROOT, TEMPLATE
from proxy_events import LambdaContext, find_route, proxy_event, routes_from_template

RECORDED = json.loads((ROOT / "tests" / "events" / "api_proxy_event.json").read_text())
ROUTES = routes_from_template(TEMPLATE)


def test_built_events_have_every_field_api_gateway_sends():
    route, params = find_route(ROUTES, "POST", "/appointments")
    built = proxy_event(route, "/appointments", params, body="{}", headers={"Content-Type": "application/json"})
    assert set(RECORDED) <= set(built)
    assert set(RECORDED["requestContext"]) - {"identity"} <= set(built["requestContext"])
    assert (built["requestContext"]["stage"], built["requestContext"]["path"]) == ("prod", "/prod/appointments")


def test_path_and_query_parameters_are_extracted_like_api_gateway():
    route, params = find_route(ROUTES, "GET", "/users/alice/busy")
    event = proxy_event(route, "/users/alice/busy", params, query="from=a&to=b&to=c")
    assert event["resource"] == "/users/{userId}/busy"
    assert event["pathParameters"] == {"userId": "alice"}
    assert event["queryStringParameters"] == {"from": "a", "to": "c"}
    assert event["multiValueQueryStringParameters"] == {"from": ["a"], "to": ["b", "c"]}


def test_unknown_paths_and_methods_have_no_route():
    assert find_route(ROUTES, "GET", "/appointments/a/b") is None
    assert find_route(ROUTES, "PUT", "/appointments") is None


def test_binary_bodies_are_base64_encoded():
    route, params = find_route(ROUTES, "POST", "/appointments")
    event = proxy_event(route, "/appointments", params, body=b"\xff\xfe")
    assert (event["body"], event["isBase64Encoded"]) == ("//4=", True)


def test_the_context_counts_down():
    context = LambdaContext("f", timeout_seconds=3)
    assert 0 < context.get_remaining_time_in_millis() <= 3000


def test_the_openapi_document_lists_exactly_the_templates_routes():
    import yaml

    document = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    documented = {(method.upper(), path) for path, item in document["paths"].items()
                  for method in item if method in ("get", "post", "patch", "delete", "put")}
    assert documented == {(r.method, r.resource) for r in ROUTES}
