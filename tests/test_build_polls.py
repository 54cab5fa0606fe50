"""GET /api/builds/N/ answered from the build feed under the ASGI server
(trophies.views.build_polls): the same answer as Django's view, or none."""
import asyncio
import json

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.test import Client

from tests.conftest import run_in_own_loop
from tests.sse_support import session_cookie
from trophies.models import Trophy
from trophies.services import builds, progress
from trophies.services.demo import create_demo_catalog
from trophies.views import build_events, build_polls

pytestmark = pytest.mark.django_db(transaction=True)  # the loop's threads read what the test wrote


@pytest.fixture(autouse=True)
def no_remembered_staff_checks():
    build_events._staff_checks.clear()
    yield
    build_events._staff_checks.clear()


@pytest.fixture
def build():
    create_demo_catalog()
    return builds.start_build(Trophy.objects.get(slug="starter"), requested_by="test")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff", "s@example.com", "pw-staff-1", is_staff=True)


async def serve(path, cookies=None, method="GET", headers=(), scheme="http"):
    """(answered, status, headers, body) of build_polls.serve on one request."""
    cookie = "; ".join(f"{name}={value}" for name, value in (cookies or {}).items())
    scope = {"type": "http", "method": method, "path": path, "scheme": scheme, "query_string": b"",
             "headers": [(b"cookie", cookie.encode()), *((k.encode(), v.encode()) for k, v in headers)]}
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    if not await build_polls.serve(scope, receive, send):
        assert sent == []  # nothing went out: Django's view answers the request whole
        return False, None, None, None
    start, body = sent
    return True, start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body["body"]


def poll(*args, **kwargs):
    return run_in_own_loop(serve(*args, **kwargs))


def django_answer(path, user, **extra):
    client = Client()
    client.force_login(user)
    return client.get(path, **extra)


def comparable(headers):
    # Expires is the time of the answer; the rest must be equal.
    return {name.lower(): value for name, value in headers.items() if name.lower() not in ("expires", "date", "server")}


def test_a_staff_poll_gets_djangos_json_and_headers_from_the_feed(build, staff):
    path = f"/api/builds/{build.pk}/"
    answered, status, headers, body = poll(path, session_cookie(staff))
    assert answered and status == 200
    expected = django_answer(path, staff)
    assert json.loads(body) == expected.json()
    assert comparable(headers) == comparable(expected.headers)
    assert "expires" in headers


def test_behind_tls_the_answer_carries_djangos_hsts_header(build, staff, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    path = f"/api/builds/{build.pk}/"
    answered, _, headers, _ = poll(path, session_cookie(staff), headers=[("x-forwarded-proto", "https")])
    expected = django_answer(path, staff, HTTP_X_FORWARDED_PROTO="https")
    assert answered and headers["strict-transport-security"] == "max-age=3600"
    assert comparable(headers) == comparable(expected.headers)
    assert "strict-transport-security" not in poll(path, session_cookie(staff))[2]


def test_everything_but_a_staff_get_of_an_existing_build_goes_on_to_django(build, staff, django_user_model):
    shopper = django_user_model.objects.create_user("shopper", "c@example.com", "pw-shop-1")
    path = f"/api/builds/{build.pk}/"
    assert not poll(path)[0]                                   # no session
    assert not poll(path, {"sessionid": "forged"})[0]
    assert not poll(path, session_cookie(shopper))[0]          # not staff
    assert not poll(path, session_cookie(staff), method="POST")[0]
    assert not poll(path, session_cookie(staff), method="HEAD")[0]
    assert not poll(f"/api/builds/{build.pk + 1000}/", session_cookie(staff))[0]  # Django's 404
    assert not poll(f"/api/builds/{build.pk}", session_cookie(staff))[0]          # Django's slash redirect
    assert not poll(f"/api/builds/{build.pk}/events", session_cookie(staff))[0]


def test_a_poll_sees_new_progress(build, staff):
    cookies = session_cookie(staff)
    path = f"/api/builds/{build.pk}/"

    async def done():
        answered, _, _, body = await serve(path, cookies)
        assert answered
        return json.loads(body)["done"]

    async def before_and_after_progress():
        before = await done()
        progress.record(build.pk, 0, {"rendered": 5, "skipped": 0, "failed": 0})
        deadline = asyncio.get_running_loop().time() + 5
        while (after := await done()) != 5 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        return before, after

    assert run_in_own_loop(before_and_after_progress()) == (0, 5)


def log_out_everyone():
    Session.objects.all().delete()
    cache.clear()  # cached_db sessions live there too


def test_a_logout_ends_fast_answers_within_a_second(build, staff, monkeypatch):
    monkeypatch.setattr(build_events, "STAFF_CHECK_TTL_S", 0.2)
    cookies = session_cookie(staff)
    path = f"/api/builds/{build.pk}/"

    async def answers_after_logout():
        assert (await serve(path, cookies))[0]
        await asyncio.get_running_loop().run_in_executor(None, log_out_everyone)
        await asyncio.sleep(0.3)
        # The check is due: the answer still comes from memory while a new check runs.
        assert (await serve(path, cookies))[0]
        deadline = asyncio.get_running_loop().time() + 5
        while (await serve(path, cookies))[0]:
            assert asyncio.get_running_loop().time() < deadline, "the logout never took effect"
            await asyncio.sleep(0.02)
        return build_events._staff_checks

    checks = run_in_own_loop(answers_after_logout())
    assert not any(staff for staff, _ in checks.values())


def test_a_session_not_checked_for_long_is_checked_before_the_answer(build, staff, monkeypatch):
    cookies = session_cookie(staff)
    path = f"/api/builds/{build.pk}/"

    async def answer_after_logout_and_a_long_pause():
        assert (await serve(path, cookies))[0]
        await asyncio.get_running_loop().run_in_executor(None, log_out_everyone)
        monkeypatch.setattr(build_events, "STAFF_CHECK_STALE_S", 0.0)
        return (await serve(path, cookies))[0]

    assert not run_in_own_loop(answer_after_logout_and_a_long_pause())


def test_a_staff_check_that_fails_leaves_the_answer_to_django(build, staff, monkeypatch):
    def database_away(session_key):
        raise OSError("database unavailable")

    monkeypatch.setattr(build_events, "is_staff", database_away)
    assert not poll(f"/api/builds/{build.pk}/", session_cookie(staff))[0]
