"""GET /api/builds/N/events served as `k2 serve` serves it, read by a real
SSE client: status pushed through Redis, resume, the final event."""
import json
import os

import pytest

from tests.sse_support import EventStream, WebServer, session_cookie
from trophies.models import Build, Chunk, Trophy
from trophies.services import builds, progress
from trophies.services.build_status import status_of
from trophies.services.demo import create_demo_catalog


@pytest.fixture
def web(transactional_db, data_dir, tmp_path):
    server = WebServer(data_dir, tmp_path / "web.log")
    yield server
    server.stop()


@pytest.fixture
def staff_cookie(django_user_model):
    user = django_user_model.objects.create_user("staff", "s@example.com", "pw-staff-1", is_staff=True)
    return session_cookie(user)


@pytest.fixture
def queued_build(transactional_db):
    create_demo_catalog()
    return builds.start_build(Trophy.objects.get(slug="starter"), requested_by="test")


def counts(rendered, skipped=0):
    return {"rendered": rendered, "skipped": skipped, "failed": 0}


def finish(build):
    """What the last chunk does: chunks done, the build settled."""
    for chunk in build.chunks.all():
        progress.record(build.pk, chunk.number, counts(chunk.stop - chunk.start))
    build.chunks.update(state=Chunk.DONE)
    builds.finish_if_complete(build.pk)


@pytest.mark.slow
def test_the_stream_pushes_each_change_and_ends_with_the_final_event(web, staff_cookie, queued_build):
    stream = EventStream(web.base, queued_build.pk, staff_cookie)
    assert stream.response.headers["content-type"].startswith("text/event-stream")
    first = stream.next()
    assert first.event == "message" and first.id
    assert json.loads(first.data) == json.loads(json.dumps(status_of(Build.objects.get(pk=queued_build.pk))))

    progress.record(queued_build.pk, 0, counts(5))
    moved = stream.next()
    assert int(moved.id) > int(first.id)
    assert json.loads(moved.data)["done"] == 5

    finish(queued_build)
    events = [stream.next()]
    while events[-1].event != "final":  # a progress event may come before it
        events.append(stream.next())
    final = json.loads(events[-1].data)
    assert final["state"] == "done" and final["done"] == 12
    with pytest.raises(StopIteration):  # the server ended the stream
        stream.next()


@pytest.mark.slow
def test_a_resume_with_the_latest_id_gets_the_next_change_not_a_repeat(web, staff_cookie, queued_build):
    progress.record(queued_build.pk, 0, counts(3))
    latest = progress.version(queued_build.pk)
    assert latest > 0
    stream = EventStream(web.base, queued_build.pk, staff_cookie, last_event_id=latest)
    progress.record(queued_build.pk, 0, counts(4))
    event = stream.next()
    assert int(event.id) > latest
    assert json.loads(event.data)["done"] == 4


@pytest.mark.slow
def test_a_resume_with_an_old_id_gets_the_current_status_at_once(web, staff_cookie, queued_build):
    progress.record(queued_build.pk, 0, counts(3))
    progress.record(queued_build.pk, 0, counts(7))
    stream = EventStream(web.base, queued_build.pk, staff_cookie, last_event_id=1)
    event = stream.next()
    assert int(event.id) == progress.version(queued_build.pk)
    assert json.loads(event.data)["done"] == 7


@pytest.mark.slow
def test_a_settled_build_gets_its_final_event_and_the_stream_ends(web, staff_cookie, queued_build):
    finish(queued_build)
    stream = EventStream(web.base, queued_build.pk, staff_cookie)
    event = stream.next()
    assert event.event == "final" and json.loads(event.data)["state"] == "done"
    with pytest.raises(StopIteration):
        stream.next()


@pytest.mark.slow
def test_only_staff_sessions_may_watch(web, queued_build, django_user_model):
    import requests

    shopper = django_user_model.objects.create_user("shopper", "c@example.com", "pw-shop-1")
    url = f"{web.base}/api/builds/{queued_build.pk}/events"
    assert requests.get(url, timeout=10).status_code == 403
    assert requests.get(url, cookies=session_cookie(shopper), timeout=10).status_code == 403


def database_files_open(server):
    """Open file descriptors of the web server's processes on the test database."""
    from django.db import connection

    name = str(connection.settings_dict["NAME"])
    pids = [server.process.pid] + [int(p) for p in open(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read().split()]
    count = 0
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    count += os.readlink(f"/proc/{pid}/fd/{fd}") == name
                except OSError:
                    pass
        except FileNotFoundError:
            pass
    return count


@pytest.mark.slow
def test_the_rest_of_the_site_works_under_it_and_leaks_no_database_connection(web, staff_cookie, queued_build):
    import requests

    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("counts open files of the SQLite database")
    def load(times):
        with requests.Session() as session:
            session.cookies.update(staff_cookie)
            for _ in range(times):
                assert session.get(f"{web.base}/api/builds/{queued_build.pk}/", timeout=10).json()["id"] == queued_build.pk
                assert session.get(f"{web.base}/studio/builds/", timeout=10).status_code == 200
        for _ in range(times // 2):
            stream = EventStream(web.base, queued_build.pk, staff_cookie)
            stream.next()
            stream.close()
        return database_files_open(web)

    after_some = load(20)
    after_many = load(60)
    # Each request's thread closed its connection: what stays open is the
    # thread pools' few, and it does not grow with the requests served.
    assert after_many <= after_some + 2, (after_some, after_many)
