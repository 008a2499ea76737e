"""schemathesis fuzzes docs/openapi.yaml against the local gateway (WSGI) over the real handler and moto.

Fixed seed, bounded examples. Every response must be a non-5xx, documented status with a body
matching the schema, and no stack trace may reach a client; schema-violating requests must be
refused. Authorization (SigV4 or Cognito) happens in API Gateway before the function runs and the
local gateway does not emulate it, so the document is served here without its security section.
Two checks are excluded, each for a reason outside the handler:
- positive_data_acceptance: the schema cannot say "startTime in the future" or "endTime after
  startTime", so some schema-valid bodies are rightly refused with 400;
- unsupported_method: it wants 405 for an undeclared method, but a REST API answers 403 "Missing
  Authentication Token" before any function runs, and the local gateway answers as AWS does.
"""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance, unsupported_method

import conflict_detector
from conftest import ROOT, TEMPLATE, module_moto_store
from gateway import wsgi_app
from lambdas import invoke_api
from proxy_events import routes_from_template

SPEC = ROOT / "docs" / "openapi.yaml"
LEAKS = ("Traceback (most recent call last)", "botocore.exceptions", 'File "/', "ClientError", "Exception:")


def app_with_spec():
    gateway = wsgi_app(routes_from_template(TEMPLATE), invoke_api)
    document = yaml.safe_load(SPEC.read_text())
    document.pop("security")
    served = json.dumps(document).encode()

    def app(environ, start_response):
        if environ.get("PATH_INFO") == "/openapi.json":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [served]
        return gateway(environ, start_response)

    return app


APP = app_with_spec()
schema = schemathesis.openapi.from_wsgi("/openapi.json", APP, config=SchemathesisConfig(seed=20261125))


@schemathesis.check
def no_stack_trace_leaks(ctx, response, case):
    """Nothing that reads like a trace or an AWS error may reach a client, unless the client sent it."""
    text = response.text or ""
    sent = unquote(json.dumps([case.path_parameters, case.query, case.headers, case.body], default=str))
    for leak in LEAKS:
        if leak in text and leak not in sent:
            raise AssertionError(f"the response leaks {leak!r}: {text[:200]}")


@pytest.fixture(scope="module")
def moto_store():
    with module_moto_store() as store:
        yield store


@pytest.fixture
def moto_tables(moto_store):
    conflict_detector.use(moto_store)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
def test_the_api_conforms_to_its_openapi_document(case, moto_tables):
    case.call_and_validate(excluded_checks=[positive_data_acceptance, unsupported_method])
