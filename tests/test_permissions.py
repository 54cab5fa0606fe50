"""Staff may look; doing needs the permission for it. Each face (studio
pages, JSON API, django-rq) with a staff user holding no permission, one
holding exactly one (start_build), the K2 studio group and a superuser."""
import os

import pytest
from django.core.management import call_command
from django.http import HttpRequest

from tests.conftest import logged_in_staff
from trophies.models import Build, Component, Trophy
from trophies.services.demo import create_demo_catalog

VIEW_PAGES = ["/studio/", "/studio/parts/", "/studio/trophies/", "/studio/builds/", "/studio/queues/",
              "/studio/trophies/starter/preview/", "/locks/", "/studio/export/?trophy=starter"]
EDIT_PAGES = {
    "/studio/parts/new/": "add parts",
    "/studio/parts/base/": "change parts",
    "/studio/parts/base/options/new/": "add options",
    "/studio/parts/base/options/00/": "change options",
    "/studio/trophies/new/": "add trophies",
    "/studio/trophies/starter/edit/": "change trophies",
    "/studio/import/": "add parts",
}


@pytest.fixture
def catalog(db):
    create_demo_catalog()


@pytest.fixture
def builder_client(db, django_user_model):
    """A staff user with exactly one permission: start_build."""
    return logged_in_staff(django_user_model, "builder", permissions=["trophies.start_build"])


def page_text(response):
    return response.content.decode()


# -- studio pages ---------------------------------------------------------------------


@pytest.mark.parametrize("url", VIEW_PAGES)
def test_staff_without_permissions_may_look_at_every_studio_page(bare_staff_client, catalog, url):
    assert bare_staff_client.get(url).status_code == 200


@pytest.mark.parametrize("url, action", EDIT_PAGES.items())
def test_edit_pages_answer_403_with_what_is_missing(bare_staff_client, catalog, url, action):
    for response in (bare_staff_client.get(url), bare_staff_client.post(url, {})):
        assert response.status_code == 403
        assert response["Content-Type"].startswith("text/html")
        assert f"Your account may not {action}" in page_text(response)
        assert "K2 studio" in page_text(response)


def test_a_refused_post_changes_nothing(bare_staff_client, catalog):
    before = list(Component.objects.values_list("key", "name"))
    response = bare_staff_client.post("/studio/parts/new/", {"name": "Wing", "key": "wing"})
    assert response.status_code == 403
    assert list(Component.objects.values_list("key", "name")) == before


def test_pages_offer_only_what_the_user_may_do(bare_staff_client, staff_client, catalog):
    looks = page_text(bare_staff_client.get("/studio/trophies/"))
    assert "/studio/trophies/new/" not in looks and "/studio/import/" not in looks
    assert "/studio/trophies/starter/edit/" not in looks and "/publish/" not in looks
    assert "/studio/parts/new/" not in page_text(bare_staff_client.get("/studio/parts/"))
    assert "/studio/builds/start/" not in page_text(bare_staff_client.get("/studio/builds/"))
    studio = page_text(staff_client.get("/studio/trophies/"))
    assert "/studio/trophies/new/" in studio and "/studio/trophies/starter/publish/" in studio
    assert "/studio/builds/start/starter/" in page_text(staff_client.get("/studio/builds/"))


def test_start_build_alone_starts_builds_in_the_studio_but_edits_nothing(builder_client, catalog):
    response = builder_client.post("/studio/builds/start/starter/")
    build = Build.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/studio/builds/{build.pk}/"
    assert builder_client.get("/studio/trophies/starter/edit/").status_code == 403
    assert builder_client.post("/studio/trophies/starter/publish/", {"published": "0"}).status_code == 403
    assert Trophy.objects.get(slug="starter").published is True


def test_the_build_page_hides_cancel_from_who_may_not_cancel(builder_client, staff_client, catalog):
    build_id = builder_client.post("/api/trophies/starter/builds/").json()["id"]
    page = page_text(builder_client.get(f"/studio/builds/{build_id}/"))
    assert 'id="k2-cancel" class="k2-button k2-button-danger" hidden' in page
    assert builder_client.get(f"/api/builds/{build_id}/activity/").json()["can_cancel"] is False
    assert staff_client.get(f"/api/builds/{build_id}/activity/").json()["can_cancel"] is True


# -- JSON API -------------------------------------------------------------------------


def test_api_refuses_builds_to_staff_without_permissions_in_json(bare_staff_client, catalog):
    response = bare_staff_client.post("/api/trophies/starter/builds/")
    assert (response.status_code, response["Content-Type"]) == (403, "application/json")
    assert "may not start builds" in response.json()["error"]
    assert "trophies.start_build" in response.json()["error"]
    assert not Build.objects.exists()
    # Reading stays open to staff.
    assert bare_staff_client.get("/api/trophies/").status_code == 200


def test_start_build_alone_may_start_but_not_cancel_or_retry(builder_client, catalog):
    started = builder_client.post("/api/trophies/starter/builds/")
    assert started.status_code == 202
    build_id = started.json()["id"]
    for action, what in (("cancel", "cancel builds"), ("retry", "retry builds")):
        response = builder_client.post(f"/api/builds/{build_id}/{action}/")
        assert response.status_code == 403 and what in response.json()["error"]
    assert Build.objects.get(pk=build_id).state == Build.QUEUED


def test_the_studio_group_may_start_and_cancel(staff_client, catalog):
    build_id = staff_client.post("/api/trophies/starter/builds/").json()["id"]
    assert staff_client.post(f"/api/builds/{build_id}/cancel/").json()["state"] == "cancelled"


# -- django-rq ------------------------------------------------------------------------


RQ_URLS = ["/django-rq/", "/django-rq/queues/0/", "/django-rq/stats.json", "/admin/django_rq/dashboard/",
           "/admin/django_rq/dashboard/queues/0/"]


@pytest.mark.parametrize("url", RQ_URLS)
def test_the_queue_admin_is_for_superusers_only(staff_client, admin_client, url):
    refused = staff_client.get(url)
    assert refused.status_code == 403 and "superusers only" in page_text(refused)
    assert admin_client.get(url).status_code == 200


def test_staff_cannot_clear_a_queue_or_delete_failed_jobs(staff_client):
    import django_rq
    from rq import Queue

    # Straight to Redis: django_rq's own enqueue waits for the test's transaction to commit.
    queue = Queue("render", connection=django_rq.get_connection("render"))
    queue.enqueue("trophies.jobs.no_such_job")
    assert queue.count == 1
    for url in ("/django-rq/queues/0/empty/", "/admin/django_rq/dashboard/queues/0/empty/",
                "/django-rq/queues/0/failed/clear/", "/django-rq/queues/actions/0/"):
        assert staff_client.post(url, {"action": "delete", "job_ids": [queue.job_ids[0]]}).status_code == 403
    assert queue.count == 1


def test_the_admin_index_lists_django_rq_to_superusers_only(staff_client, admin_client):
    assert "/admin/django_rq/" not in page_text(staff_client.get("/admin/"))
    assert "/admin/django_rq/" in page_text(admin_client.get("/admin/"))


def test_k2_admin_makes_a_superuser_who_may_do_everything(db, client, monkeypatch):
    create_demo_catalog()
    monkeypatch.setitem(os.environ, "K2_ADMIN_PASSWORD", "pw-Admin-42!")
    call_command("k2", "admin")
    assert client.login(request=HttpRequest(), username="admin", password="pw-Admin-42!")  # axes needs a request
    assert client.get("/django-rq/").status_code == 200
    assert client.get("/studio/trophies/starter/edit/").status_code == 200
    assert client.post("/api/trophies/starter/builds/").status_code == 202
