"""Texts the studio forms refuse with a message (status 200, nothing saved)
instead of a 500: NUL and other control characters in any name, label or
key (PostgreSQL refuses NUL in text, so run this under K2_TEST_POSTGRES=1
too), and upload uids no browser sends back."""
import html

import pytest

from tests.forms_support import make_catalog, option_controls, png_bytes, post_controls, slot, trophy_controls
from trophies.models import Component, Option, Slot, Tier, Trophy

CONTROLS = ["\x00", "\x07", "\n", "\x7f"]


@pytest.fixture
def client(staff_client):
    return staff_client


@pytest.fixture
def parts(db):
    return make_catalog((("base", 2), ("figure", 2)))


def text_of(response):
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


def refused(response, character):
    page = text_of(response)
    assert "Control characters are not allowed (U+%04X" % ord(character) in page, page[:3000]
    return page


@pytest.mark.parametrize("character", CONTROLS)
@pytest.mark.parametrize("field", ["name", "key"])
def test_component_form(client, db, field, character):
    values = {"name": "Figure", "key": "figure"}
    values[field] = values[field][:3] + character + values[field][3:]
    response = post_controls(client, "/studio/parts/new/", [*values.items(), ("save", "save")], "multipart")
    refused(response, character)
    assert not Component.objects.exists()


@pytest.mark.parametrize("character", CONTROLS)
@pytest.mark.parametrize("field", ["label", "key"])
def test_option_form(client, parts, field, character):
    values = {"label": "Gold", "key": "gold"}
    values[field] = values[field][:2] + character + values[field][2:]  # a trailing one would be stripped
    controls = option_controls(**values, upload=("a.png", png_bytes(), "image/png"))
    response = post_controls(client, "/studio/parts/base/options/new/", controls, "multipart")
    refused(response, character)
    assert not Option.objects.filter(key__startswith="gold").exists()


TROPHY_FIELDS = {
    "trophy name": lambda c, parts: trophy_controls(name=f"Cu{c}p", tiers=[[slot("base", parts["base"])]]),
    "trophy slug": lambda c, parts: trophy_controls(slug=f"cu{c}p", tiers=[[slot("base", parts["base"])]]),
    "tier name": lambda c, parts: trophy_controls(tiers=[(f"Bott{c}om", [slot("base", parts["base"])])]),
    "slot key": lambda c, parts: trophy_controls(tiers=[[slot("base", parts["base"], key=f"b{c}b")]]),
}


@pytest.mark.parametrize("character", CONTROLS)
@pytest.mark.parametrize("field", sorted(TROPHY_FIELDS))
@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_trophy_form(client, parts, field, character, encoding):
    response = post_controls(client, "/studio/trophies/new/", TROPHY_FIELDS[field](character, parts), encoding)
    refused(response, character)
    assert (Trophy.objects.count(), Tier.objects.count(), Slot.objects.count()) == (0, 0, 0)


def test_a_nul_in_an_edited_trophys_slug_is_refused(client, parts):
    """The slug's uniqueness check queries the database: never with a NUL."""
    assert post_controls(client, "/studio/trophies/new/",
                         trophy_controls(tiers=[[slot("base", parts["base"])]])).status_code == 302
    response = post_controls(client, "/studio/trophies/cup/edit/",
                             trophy_controls(slug="c\x00up", tiers=[[slot("base", parts["base"])]]))
    refused(response, "\x00")
    assert list(Trophy.objects.values_list("slug", flat=True)) == ["cup"]


@pytest.mark.parametrize("uid", ["", "a/b", "../x", "A" * 65, "AB\x00"])
def test_an_upload_uid_no_browser_sends_is_refused(client, parts, uid):
    controls = option_controls(upload=("a.png", png_bytes(), "image/png"))
    controls.insert(controls.index(("__end__", "layer:mapping")), ("uid", uid))
    response = post_controls(client, "/studio/parts/base/options/new/", controls, "multipart")
    page = text_of(response)
    assert "The submission is malformed: wrong kind of value for layer" in page
    assert not Option.objects.filter(key="gold").exists()
