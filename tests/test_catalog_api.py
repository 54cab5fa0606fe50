import pytest

from trophies.models import Trophy
from trophies.services.demo import create_demo_catalog


@pytest.fixture
def catalog(db):
    create_demo_catalog()


def test_trophy_list_for_staff(admin_client, catalog):
    response = admin_client.get("/api/trophies/")
    assert response.status_code == 200
    assert response.json() == [
        {"slug": "classic", "name": "Classic", "combinations": 128_250, "published": True},
        {"slug": "starter", "name": "Starter", "combinations": 12, "published": True},
    ]


def test_staff_see_drafts_marked_unpublished(admin_client, catalog):
    Trophy.objects.create(slug="draft", name="Draft")
    listed = {t["slug"]: t["published"] for t in admin_client.get("/api/trophies/").json()}
    assert listed == {"classic": True, "draft": False, "starter": True}
    assert admin_client.get("/api/trophies/draft/").json()["published"] is False


def test_trophy_detail_lists_slots_in_compositing_order(admin_client, catalog):
    data = admin_client.get("/api/trophies/starter/").json()
    assert {k: data[k] for k in ("slug", "combinations", "width", "height", "format")} == {
        "slug": "starter", "combinations": 12, "width": 400, "height": 500, "format": "JPEG"}
    assert data["slots"] == [
        {"key": "base", "component": "base", "options": ["00", "01"]},
        {"key": "figure", "component": "figure", "options": ["00", "01", "02"]},
        {"key": "plate", "component": "plate", "options": ["00", "01"]},
    ]


def test_unknown_trophy_is_404(admin_client, catalog):
    assert admin_client.get("/api/trophies/nope/").status_code == 404


@pytest.mark.parametrize("url", ["/api/trophies/", "/api/trophies/starter/"])
def test_catalog_api_refuses_anonymous_and_non_staff(client, django_user_model, catalog, url):
    response = client.get(url)
    assert response.status_code == 403 and response.json() == {"error": "staff login required"}
    client.force_login(django_user_model.objects.create_user("shopper", password="x"))
    assert client.get(url).status_code == 403
