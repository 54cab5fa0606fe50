"""Uploads kept for a form that failed validation are swept once older than
a day (the session that kept them may never come back): on each new upload
and by `k2 prune`. A younger file, or one its form still shows, stays."""
import io
import os
import re
import time

import pytest
from django.core.management import call_command

from tests.conftest import logged_in_staff, studio_group
from tests.forms_support import option_controls, png_bytes, post_controls
from trophies.forms import tmpstore
from trophies.models import Component

DAY = 24 * 3600


@pytest.fixture
def uploads(settings, data_dir):
    settings.K2_DATA_DIR = data_dir
    return tmpstore.upload_dir()


def kept(directory, name, age_s):
    path = directory / name
    path.write_bytes(b"abandoned")
    when = time.time() - age_s
    os.utime(path, (when, when))
    return path


def fail_a_form_with_an_upload(client):
    response = post_controls(client, "/studio/parts/figure/options/new/",
                             option_controls(label="", upload=("kept.png", png_bytes(), "image/png")), "multipart")
    assert response.status_code == 200 and "Required" in response.content.decode()
    return re.search(r'name="uid" value="([A-Z0-9]+)"', response.content.decode()).group(1)


def test_sweep_removes_only_old_upload_files(uploads):
    old = kept(uploads, "a" * 32 + ".upload", DAY + 60)
    young = kept(uploads, "b" * 32 + ".upload", DAY - 60)
    other = kept(uploads, "notes.txt", 10 * DAY)  # not ours
    (uploads / "folder.upload").mkdir()
    os.symlink(other, uploads / ("c" * 32 + ".upload"))
    assert tmpstore.sweep(dry_run=True) == [old.name] and old.exists()
    assert tmpstore.sweep() == [old.name]
    assert not old.exists() and young.exists() and other.exists() and (uploads / "folder.upload").is_dir()
    assert os.path.islink(uploads / ("c" * 32 + ".upload"))


def test_a_new_upload_sweeps_abandoned_ones(uploads, staff_client, db):
    Component.objects.create(key="figure", name="Figure")
    abandoned = kept(uploads, "d" * 32 + ".upload", DAY + 60)
    fail_a_form_with_an_upload(staff_client)
    assert not abandoned.exists()
    assert len(list(uploads.glob("*.upload"))) == 1  # the new one


def test_an_upload_younger_than_a_day_survives_others_sweeps(uploads, staff_client, db, django_user_model):
    Component.objects.create(key="figure", name="Figure")
    uid = fail_a_form_with_an_upload(staff_client)
    (path,) = uploads.glob("*.upload")
    almost = time.time() - DAY + 120
    os.utime(path, (almost, almost))
    other = logged_in_staff(django_user_model, "other", groups=[studio_group()])
    fail_a_form_with_an_upload(other)  # sweeps
    assert path.exists()
    # the first form, sent again right, still has its file
    response = post_controls(staff_client, "/studio/parts/figure/options/new/", option_controls(uid=uid), "multipart")
    assert response.status_code == 302


def test_k2_prune_sweeps_abandoned_uploads(uploads, db):
    old = kept(uploads, "e" * 32 + ".upload", DAY + 60)
    young = kept(uploads, "f" * 32 + ".upload", 60)
    out = io.StringIO()
    call_command("k2", "prune", "--dry-run", stdout=out)
    assert "would remove 1 upload(s)" in out.getvalue() and old.exists()
    call_command("k2", "prune", stdout=out)
    assert "removed 1 upload(s)" in out.getvalue()
    assert not old.exists() and young.exists()
