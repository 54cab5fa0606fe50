"""The studio's Export and Import pages, and the disk check before a build."""
import html
import io
import json
import zipfile

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from tests.conftest import studio_group
from tests.test_archive import catalog_state, media_files, small_trophy, wipe_catalog
from trophies.models import Build, Component, Trophy
from trophies.services import archive, builds, disk_space, pending_imports, plans


@pytest.fixture
def site(db, settings, data_dir):
    settings.K2_DATA_DIR = data_dir
    return small_trophy()


def text_of(response):
    return html.unescape(response.content.decode())


def upload(client, data, name="catalog.zip"):
    return client.post("/studio/import/", {"archive": _file(data, name)})


def _file(data, name):
    from django.core.files.uploadedfile import SimpleUploadedFile
    return SimpleUploadedFile(name, data, content_type="application/zip")


def manifest_of(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zipped:
        return json.loads(zipped.read("manifest.json"))


def test_export_downloads_everything_one_trophy_or_one_part(staff_client, site):
    response = staff_client.get("/studio/export/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert 'filename="k2-catalog.zip"' in response["Content-Disposition"]
    assert [t["slug"] for t in manifest_of(response.content)["trophies"]] == ["cup"]
    part = manifest_of(staff_client.get("/studio/export/?part=figure").content)
    assert [c["key"] for c in part["components"]] == ["figure"] and part["trophies"] == []
    assert staff_client.get("/studio/export/?trophy=nope").status_code == 404
    assert "/studio/export/?trophy=cup" in text_of(staff_client.get("/studio/trophies/"))
    assert "/studio/export/?part=figure" in text_of(staff_client.get("/studio/parts/figure/"))


def test_import_shows_the_dry_run_then_imports_on_confirm(staff_client, site):
    data = archive.export_bytes()
    wipe_catalog()
    response = upload(staff_client, data)
    assert response.status_code == 200
    page = text_of(response)
    assert "would create 4" in page and "trophy cup" in page and "Import it" in page
    assert not Component.objects.exists() and media_files() == []  # nothing yet
    assert pending_imports.pending(staff_client.session) is not None

    response = staff_client.post("/studio/import/", {"confirm": "1"})
    assert response.status_code == 302 and response["Location"] == "/studio/trophies/"
    assert Trophy.objects.filter(slug="cup").exists() and Component.objects.count() == 3
    assert pending_imports.pending(staff_client.session) is None
    assert not list(pending_imports.pending_dir().iterdir())  # the kept upload is gone
    assert "Imported catalog.zip: created 4" in text_of(staff_client.get("/studio/trophies/"))


def test_a_bad_archive_re_renders_the_page_with_its_message(staff_client, site):
    state, files = catalog_state(), media_files()
    response = upload(staff_client, b"not a zip at all")
    assert response.status_code == 400
    assert "not a zip file. Nothing was imported." in text_of(response)
    assert catalog_state() == state and media_files() == files
    assert pending_imports.pending(staff_client.session) is None
    response = staff_client.post("/studio/import/", {"confirm": "1"})
    assert response.status_code == 400 and "upload it again" in text_of(response)


def test_pending_archives_are_swept_by_age(site):
    stale = pending_imports.pending_dir() / "old.zip"
    stale.write_bytes(b"x")
    pending_imports.sweep(now=stale.stat().st_mtime + pending_imports.MAX_AGE_S + 1)
    assert not stale.exists()


def test_import_and_export_are_staff_only_and_csrf_protected(client, site, django_user_model):
    for url in ("/studio/export/", "/studio/import/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    user = django_user_model.objects.create_user("s2", "s2@example.com", "pw", is_staff=True)
    user.groups.add(studio_group())  # refused for the missing token, not for a missing permission
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post("/studio/import/", {"archive": _file(b"x", "x.zip")}).status_code == 403


# -- disk space before a build ----------------------------------------------------------


def test_a_build_that_would_not_fit_is_refused_with_both_figures(site, monkeypatch, staff_client):
    monkeypatch.setattr(disk_space, "free_bytes", lambda: 1000)
    with pytest.raises(builds.BuildWouldNotFit) as refused:
        builds.start_build(site)
    message = str(refused.value)
    assert "needs about" in message and "only 1 KB are free" in message
    assert not Build.objects.exists()

    response = staff_client.post("/api/trophies/cup/builds/", {}, content_type="application/json")
    assert response.status_code == 507 and "needs about" in response.json()["error"]
    with pytest.raises(CommandError, match="k2 build --force"):
        call_command("k2", "build", "cup")
    assert not Build.objects.exists()

    response = staff_client.post("/api/trophies/cup/builds/", {"confirm_disk": True},
                                 content_type="application/json")
    assert response.status_code == 202
    assert Build.objects.count() == 1


def test_a_build_that_fits_starts(site, monkeypatch):
    monkeypatch.setattr(disk_space, "free_bytes", lambda: 10**12)
    needed = disk_space.expected_bytes(plans.capture(site))
    assert needed > 0
    assert builds.start_build(site).total == 24


def test_the_studio_start_form_confirms_with_its_checkbox(site, monkeypatch, staff_client):
    monkeypatch.setattr(disk_space, "free_bytes", lambda: 1000)
    response = staff_client.post("/studio/builds/start/cup/")
    assert response.status_code == 302 and not Build.objects.exists()
    assert "needs about" in text_of(staff_client.get(response["Location"]))
    response = staff_client.post("/studio/builds/start/cup/", {"confirm_disk": "1"})
    assert Build.objects.count() == 1


def test_the_estimate_neither_waits_for_a_layer_replacement_nor_misses_much(site):
    import time

    from locks import exclusive
    from tests.builds_support import expected_files
    from trophies.services.layers import asset_lock_name

    plan = plans.capture(site)
    actual = sum(len(data) for data in expected_files(plan).values())
    began = time.monotonic()
    with exclusive(asset_lock_name("figure"), timeout=0, owner="test: a long layer replacement"):
        estimate = disk_space.expected_bytes(plan)
    assert time.monotonic() - began < 5
    assert actual * 0.5 < estimate < actual * 2
