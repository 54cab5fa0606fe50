"""The OpenAPI document at /api/schema/, checked by schemathesis against the
live site (the ASGI application `k2 serve` runs, so the event stream too):
no 5xx, and every answer's status, content type, headers and body match the
document."""
import pytest
import schemathesis
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.sse_support import InProcessServer
from trophies import openapi
from trophies.models import Build, Trophy
from trophies.services.demo import create_demo_catalog

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
CSRF_SECRET = "k2SchemathesisCsrfSecret00000000"  # a 32-character CSRF secret, sent as cookie and header


@pytest.fixture
def staff_session(transactional_db, django_user_model):
    """Cookies and headers of a signed-in superuser (every permission)."""
    user = django_user_model.objects.create_superuser("schemathesis", "s@example.com", "pw-Schema-7x!")
    client = Client()
    client.force_login(user)
    return {"Cookie": f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF_SECRET}",
            "X-CSRFToken": CSRF_SECRET}


def _documented_with_examples():
    """The document, with real objects (made by ``catalog``) as examples for
    the generated cases to find besides random ones."""
    document = openapi.document()
    for path_item in document["paths"].values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []):
                example = {"slug": "starter", "build_id": 1}.get(parameter["name"])
                if example is not None:
                    parameter["example"] = example
    return document


schema = schemathesis.openapi.from_dict(_documented_with_examples())


@pytest.fixture
def site(transactional_db):
    server = InProcessServer()
    yield server
    server.stop()


@pytest.fixture
def catalog(render_workers):
    """The demo catalog, a failed build to find, and a worker (so health is
    not CRITICAL and the builds schemathesis starts really run)."""
    render_workers.start(1)
    create_demo_catalog()
    starter = Trophy.objects.get(slug="starter")
    return Build.objects.create(trophy=starter, total=12, chunk_size=12, state=Build.FAILED, rendered=11,
                                skipped=0, failed=1)


@schema.parametrize()
@hypothesis_settings(max_examples=25, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                            HealthCheck.filter_too_much])
def test_the_live_site_answers_as_its_schema_says(case, site, catalog, staff_session):
    case.call_and_validate(base_url=site.base, headers=staff_session, checks=CHECKS,
                           allow_redirects=False, timeout=30)


def test_the_schema_is_served_as_openapi(client, db):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.oai.openapi+json"
    assert response.json() == openapi.document()
    assert response.json()["openapi"] == "3.1.0"


def _routes(resolver, prefix=""):
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route


def test_every_json_api_route_is_documented():
    documented = {path.replace("{slug}", "<slug:slug>").replace("{build_id}", "<int:build_id>")
                  for path in openapi.document()["paths"]}
    api_routes = {"/" + route for route in _routes(get_resolver()) if route.startswith("api/")}
    assert api_routes - {"/api/schema/"} <= documented, api_routes - documented


def test_api_404s_are_json_with_the_reason(staff_client):
    missing = staff_client.get("/api/trophies/no-such-trophy/")
    assert (missing.status_code, missing["Content-Type"]) == (404, "application/json")
    assert missing.json() == {"error": "no such trophy"}
    unknown = staff_client.get("/api/no-such-endpoint/")
    assert unknown.status_code == 404 and unknown.json() == {"error": "not found"}
    page = staff_client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
