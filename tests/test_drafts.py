"""Drafts stay private: an unpublished (or deleted) trophy is absent from
the home page, and its configurator, on-demand images and rendered files
answer 404 to anyone but staff, who preview them uncached. Publishing
needs publish_trophy, and a confirmation for a trophy never built."""
import io

import pytest
from django.core.management import call_command

from tests.conftest import logged_in_staff
from trophies.models import Build, Trophy
from trophies.services import publishing
from trophies.services.demo import create_demo_catalog


@pytest.fixture
def draft(db):
    """The demo catalog, with starter a draft again (as if just made)."""
    create_demo_catalog()
    Trophy.objects.filter(slug="starter").update(published=False)
    trophy = Trophy.objects.get(slug="starter")
    trophy.save()  # signals bump the catalog revision, as a studio save does
    return trophy


def rendered_url(client, slug="starter"):
    """Render one picture on demand (as staff may) and return its file URL."""
    response = client.get(f"/t/{slug}/image", {"base": "00", "figure": "00", "plate": "00"})
    assert response.status_code == 302
    return response["Location"]


def test_a_new_trophy_is_a_draft_even_with_no_slots(client, db):
    """The issue's case: a trophy with no slots answered anonymous users at once."""
    Trophy.objects.create(slug="probe", name="Probe")
    assert "Probe" not in client.get("/").content.decode()
    assert client.get("/t/probe/").status_code == 404
    assert client.get("/t/probe/image").status_code == 404


def test_the_home_page_lists_published_trophies_only(client, staff_client, draft):
    for viewer in (client, staff_client):
        home = viewer.get("/").content.decode()
        assert "/t/classic/" in home and "/t/starter/" not in home


def test_anonymous_users_get_404_for_every_shop_face_of_a_draft(client, staff_client, draft):
    url = rendered_url(staff_client)
    assert url.startswith("/renders/starter/")
    assert client.get("/t/starter/").status_code == 404
    assert client.get("/t/starter/image", {"base": "00", "figure": "00", "plate": "00"}).status_code == 404
    assert client.get(url).status_code == 404
    # ... exactly as for a trophy that does not exist: nothing tells them apart.
    assert client.get("/t/starter/").content == client.get("/t/no-such-trophy/").content


def test_staff_preview_drafts_uncached_and_marked(staff_client, draft):
    page = staff_client.get("/t/starter/")
    assert page.status_code == 200 and page["Cache-Control"] == "private, no-store"
    assert "Draft preview" in page.content.decode()
    image = staff_client.get("/t/starter/image", {"base": "00", "figure": "00", "plate": "00"})
    assert image.status_code == 302 and image["Cache-Control"] == "private, no-store"
    picture = staff_client.get(image["Location"])
    assert picture.status_code == 200 and picture["Cache-Control"] == "private, no-store"


def test_published_trophies_keep_their_public_caching(client, draft):
    assert "Draft preview" not in client.get("/t/classic/").content.decode()
    image = client.get("/t/classic/image", {key: "00" for key in ("base", "figure", "color", "plate", "engraving")})
    assert image.status_code == 302 and image["Cache-Control"] == "public, max-age=60"
    picture = client.get(image["Location"])
    assert picture.status_code == 200 and picture["Cache-Control"] == "public, max-age=31536000, immutable"


def test_renders_of_a_deleted_trophy_are_gone_for_shoppers(client, staff_client, draft):
    publishing.set_published(draft, True, confirm_unbuilt=True)
    url = rendered_url(client)
    assert client.get(url).status_code == 200
    draft.delete()  # the files stay on disk until pruned
    assert client.get(url).status_code == 404
    assert client.get("/").content.decode().count("/t/starter/") == 0


def test_unpublishing_hides_at_once(client, staff_client, draft):
    publishing.set_published(draft, True, confirm_unbuilt=True)
    url = rendered_url(client)
    assert client.get("/t/starter/").status_code == 200
    response = staff_client.post("/studio/trophies/starter/publish/", {"published": "0"})
    assert response.status_code == 302
    assert client.get("/t/starter/").status_code == 404 and client.get(url).status_code == 404


# -- publishing ---------------------------------------------------------------------------


def test_a_never_built_trophy_is_published_only_when_confirmed(staff_client, draft):
    refused = staff_client.post("/studio/trophies/starter/publish/", {"published": "1"}, follow=True)
    assert "has never finished a build" in refused.content.decode()
    assert Trophy.objects.get(slug="starter").published is False
    confirmed = staff_client.post("/studio/trophies/starter/publish/", {"published": "1", "confirm_unbuilt": "1"},
                                  follow=True)
    assert "is now published" in confirmed.content.decode()
    assert Trophy.objects.get(slug="starter").published is True


def test_a_trophy_with_a_finished_build_is_published_without_confirming(draft):
    Build.objects.create(trophy=draft, total=12, chunk_size=12, state=Build.FAILED)
    with pytest.raises(publishing.NeverBuilt):
        publishing.set_published(draft, True)
    Build.objects.create(trophy=draft, total=12, chunk_size=12, state=Build.DONE)
    assert publishing.set_published(draft, True) is True
    assert Trophy.objects.get(slug="starter").published is True


def test_the_trophy_list_offers_the_confirmation_only_where_it_is_needed(staff_client, draft):
    page = staff_client.get("/studio/trophies/").content.decode()
    starter_row = page.split('data-slug="starter"')[1].split("</tr>")[0]
    classic_row = page.split('data-slug="classic"')[1].split("</tr>")[0]
    assert "draft" in starter_row and 'name="confirm_unbuilt"' in starter_row
    assert "published" in classic_row and "Unpublish" in classic_row


def test_a_publish_request_that_says_neither_changes_nothing(staff_client, draft):
    Trophy.objects.filter(slug="classic").update(published=True)
    answer = staff_client.post("/studio/trophies/classic/publish/", {"published": "yes"}, follow=True)
    assert "Nothing changed" in answer.content.decode()
    assert Trophy.objects.get(slug="classic").published is True


def test_publishing_needs_publish_trophy(bare_staff_client, django_user_model, draft):
    refused = bare_staff_client.post("/studio/trophies/starter/publish/", {"published": "1", "confirm_unbuilt": "1"})
    assert refused.status_code == 403 and "publish or unpublish trophies" in refused.content.decode()
    assert Trophy.objects.get(slug="starter").published is False
    publisher = logged_in_staff(django_user_model, "publisher", permissions=["trophies.publish_trophy"])
    assert publisher.post("/studio/trophies/starter/publish/",
                          {"published": "1", "confirm_unbuilt": "1"}).status_code == 302
    assert Trophy.objects.get(slug="starter").published is True
    assert publisher.get("/studio/trophies/starter/edit/").status_code == 403  # publishing is not editing


def test_the_admin_shows_published_but_does_not_change_it(admin_client, draft):
    page = admin_client.get(f"/admin/trophies/trophy/{draft.pk}/change/").content.decode()
    assert 'name="published"' not in page


# -- the demo ---------------------------------------------------------------------------


def test_the_demo_creates_published_trophies_and_never_republishes_one(client, db):
    create_demo_catalog()
    assert set(Trophy.objects.filter(published=True).values_list("slug", flat=True)) == {"classic", "starter"}
    starter = Trophy.objects.get(slug="starter")
    publishing.set_published(starter, False)
    call_command("k2", "demo", stdout=io.StringIO())
    assert Trophy.objects.get(slug="starter").published is False
    assert client.get("/t/starter/").status_code == 404


def test_the_edit_page_says_whether_the_trophy_is_a_draft(staff_client, draft):
    assert "draft: only staff see it" in staff_client.get("/studio/trophies/starter/edit/").content.decode()
    assert "draft: only staff see it" not in staff_client.get("/studio/trophies/classic/edit/").content.decode()
