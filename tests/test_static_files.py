"""CSS and JS under content-hashed names with a year's immutable cache, from
collectstatic's manifest; plain names without it."""
import re

import pytest
from django.core.management import call_command


@pytest.fixture
def collected(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("collectstatic", "--noinput", verbosity=0)
    return settings.STATIC_ROOT


def test_pages_name_hashed_files_served_immutable_for_a_year(client, db, collected):
    from trophies.services.demo import create_demo_catalog

    create_demo_catalog()
    html = client.get("/t/starter/").content.decode()
    script = re.search(r'src="(/static/k2/configurator\.([0-9a-f]{12})\.js)"', html)
    css = re.search(r'href="(/static/k2/site\.[0-9a-f]{12}\.css)"', html)
    assert script and css, html[:1500]
    response = client.get(script[1])
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    body = b"".join(response.streaming_content)
    assert body == (collected / "k2" / "configurator.js").read_bytes()
    # A changed file gets a new name: the old URL can never serve new content.
    import hashlib
    assert script[2] == hashlib.md5(body).hexdigest()[:12]


def test_without_collectstatic_names_stay_plain_with_a_short_cache(client, db, settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "empty"
    html = client.get("/").content.decode()
    assert 'href="/static/k2/site.css"' in html
    response = client.get("/static/k2/site.css")
    assert response.status_code == 200 and "immutable" not in response["Cache-Control"]
