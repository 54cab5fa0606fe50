"""Staff build pages: list and start form, the build page, its JSON
(throughput, activity) and the gallery; access and CSRF rules."""
import os

import pytest
from django.test import Client
from django.utils import timezone

from trophies.models import Build, Chunk, Trophy
from trophies.services import plans, progress, storefront
from trophies.services.gallery import gallery_page
from trophies.services.throughput import parse_samples, series
from trophies.services.demo import create_demo_catalog


@pytest.fixture
def catalog(db):
    create_demo_catalog()
    return {t.slug: t for t in Trophy.objects.all()}


@pytest.fixture
def failed_build(catalog):
    build = Build.objects.create(trophy=catalog["starter"], total=12, chunk_size=6, state=Build.FAILED,
                                 started_at=timezone.now(), finished_at=timezone.now())
    Chunk.objects.create(build=build, number=0, start=0, stop=6, state=Chunk.DONE, worker="w1")
    Chunk.objects.create(build=build, number=1, start=6, stop=12, state=Chunk.FAILED, attempts=4,
                         error="Traceback (most recent call last):\nOSError: disk full")
    return build


@pytest.fixture
def csrf_client(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    return client


def test_build_list_has_a_start_form_per_trophy(admin_client, catalog):
    html = admin_client.get("/studio/builds/").content.decode()
    for slug in ("classic", "starter"):
        assert f'action="/studio/builds/start/{slug}/"' in html
    assert "csrfmiddlewaretoken" in html


def test_start_form_needs_the_csrf_token_then_opens_the_build(csrf_client, catalog):
    assert csrf_client.post("/studio/builds/start/starter/").status_code == 403
    assert not Build.objects.exists()
    page = csrf_client.get("/studio/builds/")
    token = page.cookies["csrftoken"].value
    response = csrf_client.post("/studio/builds/start/starter/", {"csrfmiddlewaretoken": token})
    build = Build.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/studio/builds/{build.pk}/"
    # A second start shows the running build instead.
    again = csrf_client.post("/studio/builds/start/starter/", {"csrfmiddlewaretoken": token})
    assert again["Location"] == f"/studio/builds/{build.pk}/"
    assert Build.objects.count() == 1


def test_json_posts_need_the_csrf_header(csrf_client, catalog):
    build = Build.objects.create(trophy=catalog["starter"], total=12, chunk_size=200)
    token = csrf_client.get(f"/studio/builds/{build.pk}/").cookies["csrftoken"].value
    assert csrf_client.post(f"/api/builds/{build.pk}/cancel/").status_code == 403
    response = csrf_client.post(f"/api/builds/{build.pk}/cancel/", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and response.json()["state"] == "cancelled"


def test_build_page_shows_progress_failed_chunks_and_buttons(admin_client, failed_build):
    html = admin_client.get(f"/studio/builds/{failed_build.pk}/").content.decode()
    assert 'role="progressbar"' in html and 'aria-valuenow="0.0"' in html
    assert "OSError: disk full" in html
    assert 'id="k2-retry" class="k2-button" >' in html or 'id="k2-retry" class="k2-button">' in html  # shown
    assert 'id="k2-cancel" class="k2-button k2-button-danger" hidden' in html
    assert f'data-status-url="/api/builds/{failed_build.pk}/"' in html


def test_activity_json(admin_client, failed_build):
    data = admin_client.get(f"/api/builds/{failed_build.pk}/activity/").json()
    assert data["chunks"] == {"queued": 0, "running": 0, "done": 1, "failed": 1, "cancelled": 0}
    [failed] = data["failed_chunks"]
    assert (failed["number"], failed["start"], failed["stop"], failed["attempts"]) == (1, 6, 12, 4)
    assert failed["error"].endswith("OSError: disk full")
    assert data["can_retry"] is True and data["can_cancel"] is False
    assert data["workers"] == []


def test_activity_lists_the_workers_running_chunks(admin_client, catalog):
    build = Build.objects.create(trophy=catalog["starter"], total=12, chunk_size=6, state=Build.RUNNING)
    Chunk.objects.create(build=build, number=0, start=0, stop=6, state=Chunk.RUNNING, worker="render-w7",
                         attempts=1, started_at=timezone.now())
    data = admin_client.get(f"/api/builds/{build.pk}/activity/").json()
    [worker] = data["workers"]
    assert worker["name"] == "render-w7" and worker["state"] == "unknown"  # not registered in RQ
    assert worker["chunks"][0]["number"] == 0 and data["can_cancel"] is True


def test_throughput_keeps_the_latest_count_per_chunk():
    samples = parse_samples([b"0:100.0:10", b"1:100.5:5", b"0:101.0:30", b"1:102.0:0", b"1:103.0:20"])
    result = series(samples, start=100.0, end=104.0, points=4)
    # Buckets end at 101, 102, 103, 104; chunk 1 started over (0) at 102.
    assert [p["done"] for p in result["points"]] == [35, 30, 50, 50]
    assert [p["rate"] for p in result["points"]] == [35.0, 0.0, 20.0, 0.0]
    assert result["peak_rate"] == 35.0 and result["duration_s"] == 4.0
    assert series([])["points"] == []


def test_throughput_json_from_recorded_progress(admin_client, catalog):
    build = Build.objects.create(trophy=catalog["starter"], total=12, chunk_size=6, state=Build.RUNNING,
                                 started_at=timezone.now())
    progress.record(build.pk, 0, {"rendered": 3, "skipped": 0, "failed": 0})
    progress.record(build.pk, 1, {"rendered": 6, "skipped": 1, "failed": 0})
    data = admin_client.get(f"/api/builds/{build.pk}/throughput/").json()
    assert data["id"] == build.pk and len(data["points"]) == 1  # buckets are at least 1 s
    assert data["points"][-1]["done"] == 10
    assert set(data["points"][0]) == {"t", "done", "rate"}


def test_gallery_pages_and_filters_without_listing_directories(admin_client, catalog, monkeypatch, settings):
    classic = plans.capture(catalog["classic"])
    renders = str(settings.K2_RENDER_DIR)
    storefront.ensure_image(classic, {"base": "00", "figure": "00", "color": "00", "plate": "00", "engraving": "01"})

    def refuse_renders(real):
        def listing(path=".", *args, **kwargs):
            if str(path).startswith(renders):
                raise AssertionError("the gallery must not list the render directories")
            return real(path, *args, **kwargs)
        return listing

    monkeypatch.setattr(os, "listdir", refuse_renders(os.listdir))
    monkeypatch.setattr(os, "scandir", refuse_renders(os.scandir))
    page = gallery_page(classic, {}, page=1, per_page=24)
    assert page.count == 128_250 and page.pages == 5344 and len(page.items) == 24
    assert [item["index"] for item in page.items] == list(range(24))
    assert [item["exists"] for item in page.items[:3]] == [False, True, False]
    filtered = gallery_page(classic, {"figure": "02", "engraving": "18", "nope": "x"}, page=2, per_page=10)
    assert filtered.count == 3 * 5 * 15 and filtered.pages == 23 and filtered.filters == {"figure": "02", "engraving": "18"}
    for item in filtered.items:
        choices = classic.choices(classic.digits_of(item["index"]))
        assert choices[1][1].key == "02" and choices[4][1].key == "18"
    assert gallery_page(classic, {}, page=99_999).page == 5344

    build = Build.objects.create(trophy=catalog["classic"], total=128_250, chunk_size=4008, state=Build.DONE,
                                 plan=classic.to_json())
    html = admin_client.get(f"/studio/builds/{build.pk}/?f-figure=00&f-engraving=01&page=1").content.decode()
    assert "225 combinations match" in html
    assert html.count('loading="lazy"') == 1 and html.count(">not built<") == 23
    assert "page=2" in html and "f-figure=00" in html


def test_staff_only(client, catalog):
    build = Build.objects.create(trophy=catalog["starter"], total=12, chunk_size=200)
    for url in ("/studio/builds/", f"/studio/builds/{build.pk}/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    for url in (f"/api/builds/{build.pk}/throughput/", f"/api/builds/{build.pk}/activity/"):
        assert client.get(url).status_code == 403
    assert client.post("/studio/builds/start/starter/").status_code in (302, 403)
    assert not Build.objects.exclude(pk=build.pk).exists()
