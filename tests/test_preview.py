import pytest

from trophies.models import Trophy
from trophies.services import plans
from trophies.services.demo import create_demo_catalog
from trophies.services.preview import preview


@pytest.fixture
def starter(db):
    create_demo_catalog()
    return plans.capture(Trophy.objects.get(slug="starter"))


def test_preview_renders_a_repeatable_random_sample(starter):
    first = preview(starter, count=5, seed=42)
    assert len(first) == 5 and len({s["index"] for s in first}) == 5
    assert all(s["data_uri"].startswith("data:image/jpeg;base64,/9j/") for s in first)
    assert [s["index"] for s in preview(starter, count=5, seed=42)] == [s["index"] for s in first]
    assert [key for key, _ in first[0]["choices"]] == ["base", "figure", "plate"]
    assert len(preview(starter, count=100, seed=1)) == 12  # never more than there are


def test_preview_page_for_staff(admin_client, starter):
    response = admin_client.get("/studio/trophies/starter/preview/?n=3&seed=7")
    assert response.status_code == 200
    assert response.content.count(b'src="data:image/jpeg;base64,') == 3
    assert b"2 x 3 x 2 = 12 combinations" in response.content
    assert admin_client.get("/studio/trophies/starter/preview/?n=lots").status_code == 200


def test_preview_page_needs_staff(client, starter):
    response = client.get("/studio/trophies/starter/preview/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
