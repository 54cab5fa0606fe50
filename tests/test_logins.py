"""Failed logins are counted per user name and per client address
(django-axes): past the limit the login is refused, even with the right
password, with a page that says so (429, never a 500); `k2 admin` lets
admin back in. `k2 admin` passwords go through the password validators."""
import os
import subprocess
import sys

import pytest
from asgiref.sync import async_to_sync
from django.core.management import CommandError, call_command
from django.http import HttpRequest
from django.test import AsyncClient, Client

from tests.conftest import ROOT

pytestmark = pytest.mark.django_db

RIGHT = "Trophy-Case-2026!"


@pytest.fixture(autouse=True)
def quick_hashes(settings):
    """Dozens of logins: a cheap hasher (the limits are what is tested)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin(django_user_model):
    return django_user_model.objects.create_user("admin", "a@example.com", RIGHT, is_staff=True, is_superuser=True)


def log_in(client, username, password, **meta):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password}, **meta)


def logged_in(client):
    return "_auth_user_id" in client.session


def test_forty_wrong_passwords_then_the_right_one_is_refused(admin, settings):
    client = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(40):
        assert log_in(client, "admin", "wrong-guess").status_code in (200, 429)
    response = log_in(client, "admin", RIGHT)
    assert response.status_code == 429 and not logged_in(client)
    page = response.content.decode()
    assert "Too many failed logins" in page and f"After {settings.AXES_FAILURE_LIMIT} failed attempts" in page
    assert "k2 admin" in page


def test_a_user_is_locked_out_from_every_address(admin, settings):
    for number in range(settings.AXES_FAILURE_LIMIT):
        log_in(Client(REMOTE_ADDR=f"198.51.100.{number + 1}"), "admin", "wrong-guess")
    fresh = Client(REMOTE_ADDR="203.0.113.200")
    assert log_in(fresh, "admin", RIGHT).status_code == 429 and not logged_in(fresh)


def test_an_address_is_locked_out_for_every_user(admin, django_user_model, settings):
    django_user_model.objects.create_user("clerk", password=RIGHT + "x", is_staff=True)
    guesser = Client(REMOTE_ADDR="198.51.100.9")
    for number in range(settings.AXES_FAILURE_LIMIT):
        log_in(guesser, f"user{number}", "wrong-guess")
    assert log_in(guesser, "clerk", RIGHT + "x").status_code == 429 and not logged_in(guesser)
    # the same users from elsewhere are not affected
    elsewhere = Client(REMOTE_ADDR="198.51.100.10")
    assert log_in(elsewhere, "clerk", RIGHT + "x").status_code == 302 and logged_in(elsewhere)


def test_behind_the_proxy_addresses_come_from_its_header(admin, django_user_model, settings):
    """Every request comes from nginx at 127.0.0.1: the client is X-Real-IP."""
    settings.K2_PROXY_HEADER = "X-Real-IP"
    django_user_model.objects.create_user("clerk", password=RIGHT + "x", is_staff=True)
    for number in range(settings.AXES_FAILURE_LIMIT):
        log_in(Client(REMOTE_ADDR="127.0.0.1"), f"user{number}", "wrong", HTTP_X_REAL_IP="198.51.100.9")
    locked = Client(REMOTE_ADDR="127.0.0.1")
    assert log_in(locked, "clerk", RIGHT + "x", HTTP_X_REAL_IP="198.51.100.9").status_code == 429
    other = Client(REMOTE_ADDR="127.0.0.1")
    assert log_in(other, "clerk", RIGHT + "x", HTTP_X_REAL_IP="198.51.100.10").status_code == 302


def test_a_success_before_the_limit_starts_the_count_again(admin, settings):
    client = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "admin", "wrong-guess")
    assert log_in(client, "admin", RIGHT).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "admin", "wrong-guess")
    assert log_in(client, "admin", RIGHT).status_code == 302 and logged_in(client)


def test_the_lockout_page_under_asgi_is_a_page_not_an_error(admin, settings):
    """k2 serve runs the ASGI handler, where axes' middleware takes its async path."""
    async def attempts():
        client = AsyncClient(REMOTE_ADDR="198.51.100.7")
        for _ in range(settings.AXES_FAILURE_LIMIT):
            await client.post("/admin/login/", {"username": "admin", "password": "wrong"})
        return await client.post("/admin/login/", {"username": "admin", "password": RIGHT})

    response = async_to_sync(attempts)()
    assert response.status_code == 429 and b"Too many failed logins" in response.content


def test_k2_admin_lets_admin_back_in(admin, settings, monkeypatch):
    client = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "admin", "wrong-guess")
    assert log_in(client, "admin", RIGHT).status_code == 429
    monkeypatch.delenv("K2_ADMIN_PASSWORD", raising=False)
    call_command("k2", "admin")
    # the address's failures were cleared with the user's (they were admin's)
    assert log_in(Client(REMOTE_ADDR="203.0.113.5"), "admin", RIGHT).status_code == 302
    assert log_in(client, "admin", RIGHT).status_code == 302 and logged_in(client)


def test_test_client_login_needs_the_request_with_axes(admin):
    client = Client()
    assert client.login(request=HttpRequest(), username="admin", password=RIGHT)


@pytest.mark.parametrize("weak, reason", [
    ("password123", "too common"),
    ("20261206123", "entirely numeric"),
    ("short-1", "too short"),
    ("admin@example", "too similar"),
])
def test_k2_admin_refuses_a_weak_password_from_the_environment(db, monkeypatch, weak, reason):
    monkeypatch.setenv("K2_ADMIN_PASSWORD", weak)
    with pytest.raises(CommandError, match=f"K2_ADMIN_PASSWORD refused, nothing changed: .*{reason}") as error:
        call_command("k2", "admin")
    assert "\n" not in str(error.value)
    from django.contrib.auth import get_user_model
    assert not get_user_model().objects.filter(username="admin").exists()


def test_k2_admin_with_a_generated_or_a_strong_password(db, monkeypatch, capsys):
    from django.contrib.auth import get_user_model

    monkeypatch.delenv("K2_ADMIN_PASSWORD", raising=False)
    call_command("k2", "admin")
    shown = capsys.readouterr().out.split("password: ")[1].split()[0]
    assert get_user_model().objects.get(username="admin").check_password(shown)
    monkeypatch.setenv("K2_ADMIN_PASSWORD", RIGHT)
    call_command("k2", "admin")
    assert get_user_model().objects.get(username="admin").check_password(RIGHT)


def test_a_weak_password_fails_the_command_line_with_one_line(tmp_path):
    environment = dict(os.environ, K2_DATA_DIR=str(tmp_path / "var"), K2_ADMIN_PASSWORD="password123")
    for name in ("DATABASE_URL", "K2_LOCK_DIR"):
        environment.pop(name, None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=environment, check=True)
    result = subprocess.run([sys.executable, "manage.py", "k2", "admin"], cwd=ROOT, env=environment,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "CommandError: K2_ADMIN_PASSWORD refused, nothing changed: This password is too common."]
