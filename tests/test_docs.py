"""The user-facing docs stay true: docs/API.md, docs/openapi.yaml and the template name the same routes."""

from __future__ import annotations

import re

import yaml

from appointments import errors
from conftest import ROOT, TEMPLATE
from proxy_events import routes_from_template

API_DOC = (ROOT / "docs" / "API.md").read_text()
OPENAPI = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
README = (ROOT / "README.md").read_text()


def template_routes() -> set[tuple[str, str]]:
    return {(route.method, route.resource) for route in routes_from_template(TEMPLATE)}


def openapi_routes() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in OPENAPI["paths"].items() for method in item
            if method in ("get", "post", "put", "patch", "delete")}


def documented_routes() -> set[tuple[str, str]]:
    rows = re.findall(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`?]*)", API_DOC, flags=re.MULTILINE)
    return set(rows)


def test_the_openapi_document_has_exactly_the_templates_routes():
    assert openapi_routes() == template_routes()


def test_the_api_reference_has_exactly_the_templates_routes():
    assert documented_routes() == template_routes()


def test_every_error_code_the_service_answers_is_documented():
    codes = {cls.code for cls in vars(errors).values()
             if isinstance(cls, type) and issubclass(cls, errors.AppointmentError)}
    for code in codes:
        assert f"`{code}`" in API_DOC, code


def test_the_readme_links_only_to_files_a_clone_has():
    for target in re.findall(r"\]\(([^)#]+)", README):
        if target.startswith(("http://", "https://")):
            continue
        assert (ROOT / target).exists(), f"README links to {target}, which a clone does not have"
    assert "../shared" not in README
    assert "(docs/API.md)" in README
