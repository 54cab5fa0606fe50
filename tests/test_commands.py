"""The k2 command line: readable errors, status, locks and health."""
import json

import pytest
from django.core.management import CommandError, call_command

from locks import exclusive
from trophies.services import builds
from trophies.models import Trophy
from trophies.services.demo import create_demo_catalog


# The fields of GET /api/builds/N/ as ARCHITECTURE.md's contract names them.
CONTRACT_STATUS_FIELDS = {"id", "trophy", "state", "total", "done", "rendered", "skipped", "failed", "remaining",
                          "percent", "elapsed_s", "rate_per_s", "eta_s", "started_at", "finished_at",
                          "stalled_since", "past"}


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
    assert set(status) == CONTRACT_STATUS_FIELDS
    assert (status["state"], status["total"], status["done"], status["remaining"]) == ("queued", 12, 0, 12)
    with pytest.raises(CommandError, match="no build 999"):
        call_command("k2", "status", "999")


def test_locks_command_shows_a_held_lock(db, capsys):
    with exclusive("build:classic", timeout=0, owner="test holder"):
        call_command("k2", "locks")
    out = capsys.readouterr().out
    assert "build:classic" in out and "test holder" in out
