"""Fencing tokens at work: a holder that lost its lock without knowing (a
long pause, a dropped PostgreSQL session) cannot write after the next
holder, at a build start and at an on-demand render, on both backends.

Losing a lock while alive is the fault simulated here: on flock the
holder's own descriptor is unlocked behind its back (the kernel never does
that by itself), on PostgreSQL its lock session is terminated by the server
(what a network partition does). Everything else is real.
"""
import fcntl
import os
import threading
from pathlib import Path

import pytest
from django.db import connection, transaction

from locks import LockLost, exclusive, shared
from locks.paths import lock_path
from tests.conftest import wait_until
from tests.test_locks_backends import backend  # noqa: F401 (the same flock/postgres fixture)
from trophies.models import Build, Trophy
from trophies.services import builds, plans, storefront
from trophies.services.demo import create_demo_catalog
from trophies.services.renderer import load_renderer

# Transactional: PostgreSQL's FOR SHARE must end with each check's own
# transaction, not with the test's.
pytestmark = pytest.mark.django_db(transaction=True)


def lose_lock(backend, name):
    """The lock goes; its holder does not know and goes on."""
    if backend == "flock":
        target = str(lock_path(name))
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}") == target:
                    fcntl.flock(int(fd), fcntl.LOCK_UN)
            except OSError:
                pass  # the descriptor listdir itself used
        return
    from locks.backends.postgres import key_for

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                       "AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = %s", [key_for(name)])
        assert cursor.fetchall() == [(True,)]


def test_the_newest_holder_passes_its_check_and_tokens_grow(backend):
    with exclusive("fence:a") as first:
        first.ensure_newest()
    with exclusive("fence:a") as second:
        second.ensure_newest()
    assert second.token > first.token


def test_a_holder_that_lost_its_lock_fails_its_check(backend):
    with exclusive("fence:b") as paused:
        lose_lock(backend, "fence:b")
        with exclusive("fence:b", timeout=0) as next_holder:
            assert next_holder.token > paused.token
            next_holder.ensure_newest()
            with pytest.raises(LockLost, match=f"token {paused.token}, the newest is {next_holder.token}"):
                paused.ensure_newest()


def test_shared_holders_have_no_token_to_check(backend):
    with shared("fence:c") as held:
        with pytest.raises(ValueError, match="only exclusive holders have tokens"):
            held.ensure_newest()


def test_a_start_overtaken_while_planning_leaves_the_next_holders_build_alone(backend, monkeypatch):
    create_demo_catalog()
    trophy = Trophy.objects.get(slug="starter")
    capture = plans.capture
    overtaking = []

    def paused_capture(trophy_to_plan):
        # The first start pauses here, loses its lock, and someone else starts.
        monkeypatch.setattr(plans, "capture", capture)
        lose_lock(backend, "build:starter")
        overtaking.append(builds.start_build(trophy, requested_by="second"))
        return capture(trophy_to_plan)

    monkeypatch.setattr(plans, "capture", paused_capture)
    with pytest.raises(builds.BuildError, match="overtaken by another"):
        builds.start_build(trophy, requested_by="first")
    assert list(Build.objects.values_list("requested_by", flat=True)) == ["second"]
    assert Build.objects.get().chunks.count() == overtaking[0].chunks.count() > 0


def test_an_on_demand_render_overtaken_drops_its_file_and_serves_the_next_holders(backend, monkeypatch):
    create_demo_catalog()
    plan = plans.capture(Trophy.objects.get(slug="starter"))
    choice = {slot.key: option.key for slot, option in plan.choices(plan.digits_of(5))}
    index, digits, layout = storefront.locate(plan, choice)
    real_loader = storefront.load_renderer
    next_holder = []

    class PausedRenderer:
        """Renders wrong bytes, pausing past the loss of its lock."""

        def render_one(self, digits):
            lose_lock(backend, storefront.render_lock_name(plan, index))
            monkeypatch.setattr(storefront, "load_renderer", real_loader)
            next_holder.append(storefront.ensure_image(plan, choice))
            return b"a stale picture"

    monkeypatch.setattr(storefront, "load_renderer", lambda *args, **kwargs: (PausedRenderer(), None))
    path, url, rendered = storefront.ensure_image(plan, choice)
    assert next_holder[0][2] is True and rendered is False and path == layout.path(digits)
    assert Path(path).read_bytes() == load_renderer(plan)[0].render_one(digits)
    # The overtaken holder's scratch went with its file; the next holder's too.
    assert list(Path(layout.root, ".tmp").iterdir()) == []


def test_scratch_of_superseded_holders_is_removed_by_the_next_render(backend, settings):
    create_demo_catalog()
    plan = plans.capture(Trophy.objects.get(slug="starter"))
    index, digits, layout = storefront.locate(plan, {s.key: o.key for s, o in plan.choices(plan.digits_of(3))})
    stripe = f"on-demand-{index % storefront.RENDER_LOCK_STRIPES}"
    crashed = Path(layout.root, ".tmp", f"{stripe}.1")
    crashed.mkdir(parents=True)
    (crashed / "half-written.jpg").write_bytes(b"\xff\xd8")
    other_stripe = Path(layout.root, ".tmp", f"on-demand-{(index + 1) % storefront.RENDER_LOCK_STRIPES}.1")
    other_stripe.mkdir()
    storefront.ensure_image(plan, {s.key: o.key for s, o in plan.choices(digits)})
    assert not crashed.exists()
    assert other_stripe.exists()  # another stripe's holder may still be writing


def test_on_postgres_a_checked_transaction_holds_the_next_holder_until_it_commits(backend):
    if backend != "postgres":
        pytest.skip("flock tokens live in the lock file: there is no transaction to order")
    taken = []
    with exclusive("fence:d") as paused:
        with transaction.atomic():
            paused.ensure_newest()
            lose_lock(backend, "fence:d")
            thread = threading.Thread(target=lambda: taken.append(_take_exclusive("fence:d")))
            thread.start()
            wait_until(_a_lock_session_waits_on_a_row, message="the next holder waiting for our transaction",
                       on_timeout=lambda: f"taken: {taken}")
            assert taken == []
        thread.join(10)
    assert taken and isinstance(taken[0], int) and taken[0] > paused.token, taken


def _take_exclusive(name):
    try:
        with exclusive(name, timeout=10) as held:
            return held.token
    except Exception as error:  # shown by the test's failure
        return repr(error)


def _a_lock_session_waits_on_a_row():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # a transaction sees one snapshot of the stats otherwise
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'k2 locks pid %%' "
                       "AND wait_event_type = 'Lock'")
        return cursor.fetchone()[0] > 0

