"""The migrations that bring drafts and permissions: existing trophies stay
published, new ones are drafts, and the "K2 studio" group holds every
permission the studio checks, without touching a group staff made."""
import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from trophies.models import Trophy

BEFORE = [("trophies", "0005_build_run_figures")]
LATEST = [("trophies", "0008_k2_studio_group")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_trophies_that_existed_stay_published_and_new_ones_are_drafts():
    old_apps = migrate(BEFORE)
    old_apps.get_model("trophies", "Trophy").objects.create(slug="shown", name="Shown")
    migrate(LATEST)
    assert Trophy.objects.get(slug="shown").published is True
    assert Trophy.objects.create(slug="new", name="New").published is False


@pytest.mark.django_db
def test_the_studio_group_holds_the_catalog_build_and_publish_permissions():
    codenames = set(Group.objects.get(name="K2 studio").permissions.values_list("codename", flat=True))
    assert {"add_component", "change_option", "delete_trophy", "change_slot", "publish_trophy",
            "start_build", "cancel_build", "retry_build"} <= codenames


@pytest.mark.django_db(transaction=True)
def test_a_studio_group_staff_made_is_left_as_it_is():
    migrate([("trophies", "0007_existing_trophies_published")])
    Group.objects.filter(name="K2 studio").delete()
    Group.objects.create(name="K2 studio")  # staff's own, with no permissions
    migrate(LATEST)
    assert not Group.objects.get(name="K2 studio").permissions.exists()
