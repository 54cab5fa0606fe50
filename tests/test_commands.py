"""The k2 command line: readable errors, status, locks and health."""
import json

import pytest
from django.core.management import CommandError, call_command

from locks import exclusive
from trophies.services import builds
from trophies.models import Trophy
from trophies.services.demo import create_demo_catalog


@pytest.fixture
def catalog(db):
    create_demo_catalog()


def test_build_of_unknown_trophy_is_one_readable_line(catalog):
    with pytest.raises(CommandError, match=r"no trophy 'nope' \(known: classic, starter\)"):
        call_command("k2", "build", "nope")


def test_second_build_points_at_the_running_one(catalog):
    first = builds.start_build(Trophy.objects.get(slug="starter"))
    with pytest.raises(CommandError, match=f"build {first.pk} of starter is already queued; watch it with: k2 status {first.pk}"):
        call_command("k2", "build", "starter")


def test_status_json_has_the_contract_fields(catalog, capsys):
    build = builds.start_build(Trophy.objects.get(slug="starter"))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        call_command("k2", "status", str(build.pk), "--json")
    assert exit_info.value.code == 0
    status = json.loads(capsys.readouterr().out)
    assert set(status) == {"id", "trophy", "state", "total", "done", "rendered", "skipped", "failed", "remaining",
                           "percent", "elapsed_s", "rate_per_s", "eta_s", "started_at", "finished_at"}
    assert (status["state"], status["total"], status["done"], status["remaining"]) == ("queued", 12, 0, 12)
    with pytest.raises(CommandError, match="no build 999"):
        call_command("k2", "status", "999")


def test_locks_command_shows_a_held_lock(db, capsys):
    with exclusive("build:classic", timeout=0, owner="test holder"):
        call_command("k2", "locks")
    out = capsys.readouterr().out
    assert "build:classic" in out and "test holder" in out


def test_health_fails_without_workers_and_says_why(db, capsys):
    with pytest.raises(SystemExit) as exit_info:
        call_command("k2", "health")
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "ok   database" in out and "ok   redis" in out
    assert "FAIL workers: no worker listens on queue 'render'" in out


@pytest.mark.slow
def test_health_is_ok_with_a_worker(render_workers, capsys):
    from tests.conftest import wait_until
    from trophies.services.health import check_health

    render_workers.start(1)
    wait_until(lambda: check_health()["workers"][0], timeout=60, message="the worker to register")
    call_command("k2", "health")
    assert "ok   workers: 1 workers on queue 'render'" in capsys.readouterr().out
