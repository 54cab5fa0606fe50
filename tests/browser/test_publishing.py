"""Publishing a draft from the studio's trophy list, in Chromium: refused
without the confirmation while it was never built, then public."""
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from trophies.models import Trophy
from trophies.services.demo import create_demo_catalog


def anonymous_status(url):
    try:
        with urllib.request.urlopen(url) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def draft(db):
    create_demo_catalog()
    trophy = Trophy.objects.get(slug="starter")
    trophy.published = False
    trophy.save()
    return trophy


def test_staff_publish_a_never_built_draft_only_when_they_confirm(staff_page, live_server, draft):
    page = staff_page
    configurator = f"{live_server.url}/t/starter/"
    assert anonymous_status(configurator) == 404
    page.goto(configurator)
    expect(page.get_by_text("Draft preview")).to_be_visible()

    page.goto(live_server.url + "/studio/trophies/")
    row = page.locator("tr[data-slug=starter]")
    expect(row.locator("[data-field=published]")).to_have_text("draft")
    row.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("has never finished a build")).to_be_visible()
    assert anonymous_status(configurator) == 404

    row = page.locator("tr[data-slug=starter]")
    row.get_by_label("without a finished build").check()
    row.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("is now published")).to_be_visible()
    expect(page.locator("tr[data-slug=starter] [data-field=published]")).to_have_text("published")
    assert anonymous_status(configurator) == 200
